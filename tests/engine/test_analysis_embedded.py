"""The prompt analyses on the embedded SmolLM2-135M (one shared load): the logit lens's last
row is the model's own output, the patching identities hold, and the factual-recall picture the
README reports (bounds, not exact figures)."""

from __future__ import annotations

import pytest
import torch

from workbench.analysis import activation_patching, logit_lens
from workbench.analysis.components import layer_attribution
from workbench.analysis.patching import patch_pair, patched_metric
from workbench.analysis.subspace import subspace_patching

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

CLEAN, CORRUPT = "The capital of France is", "The capital of Italy is"


def test_logit_lens_last_row_is_the_models_logits(embedded_model):
    hm = embedded_model
    lens = logit_lens(hm, CLEAN, target=" Paris", k=5)
    ids = hm.tokenizer(CLEAN, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = hm.model(input_ids=ids).logits[0].float()
    probs = torch.softmax(ref, -1)
    assert lens.top_ids[-1] == probs.topk(5, -1).indices.tolist()
    assert torch.allclose(torch.tensor(lens.target_prob[-1]), probs[:, lens.target_id], atol=1e-5)
    # ' Paris' is the answer at the output and forms late (README: rank 1 only at the end)
    assert lens.target_rank[-1][-1] == 1 and lens.target_prob[-1][-1] > 0.5
    assert lens.target_rank[12][-1] > 100


def test_patching_identities_and_the_layer_23_mover(embedded_model):
    hm = embedded_model
    pair = patch_pair(hm, CLEAN, CORRUPT, " Paris", " Rome")
    n = len(pair.clean_ids)
    everything = {f"blocks.{L}.hook_resid_pre": list(range(n)) for L in range(hm.n_layers)}
    got, clean = patched_metric(hm, pair, [{}, everything])
    with torch.no_grad():
        lg = hm.model(input_ids=pair.corrupted_ids[None]).logits[0, -1].float()
    assert float(got[0]) == pytest.approx(float(lg[pair.target_id] - lg[pair.foil_id]), abs=1e-3)
    assert float(got[1]) == pytest.approx(clean, abs=1e-3)
    assert clean > 5 and float(got[0]) < -3
    attn = activation_patching(hm, CLEAN, CORRUPT, " Paris", " Rome", component="attn_out")
    assert attn.normalized[23][-1] > 0.9


def test_subspace_null_part_does_nothing_and_dla_adds_up(embedded_model):
    hm = embedded_model
    r = subspace_patching(hm, CLEAN, CORRUPT, " Paris", " Rome", layer=0, site="mlp_post",
                          direction_pair=("The language of France is",
                                          "The language of Italy is"))  # fmt: skip
    assert r.metrics["along v_null"] == pytest.approx(r.metrics["corrupted"], abs=1e-3)
    assert r.reader_rank == 576 and r.reader_dim == 1536
    a = layer_attribution(hm, [CLEAN], " Paris", " Rome")
    assert abs(a.residual) < 1e-3 and a.total == pytest.approx(r.clean_metric, abs=1e-3)
