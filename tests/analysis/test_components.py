"""Per-layer direct logit attribution (heads and MLPs) and one head's OV view."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.analysis.components import head_ov, layer_attribution
from workbench.errors import PromptSetError
from workbench.figures import render


def test_layer_attribution_sums_to_the_models_logit_difference():
    hm = tiny_hooked("llama")
    prompt = "the capital of France is"
    a = layer_attribution(hm, [prompt], "Paris", "London")
    parts = sum(map(sum, a.heads)) + sum(a.mlp) + sum(a.attn_bias) + a.embed + a.norm_bias
    assert parts + a.unembed_bias == pytest.approx(a.total, abs=1e-4)
    ids = hm.tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        lg = hm.model(ids).logits[0, -1]
    tok = hm.tokenizer
    t, f = tok(" Paris", add_special_tokens=False)["input_ids"][0], tok(" London", add_special_tokens=False)["input_ids"][0]  # fmt: skip
    assert a.total == pytest.approx(float(lg[t] - lg[f]), abs=1e-4)
    spec = a.figure_spec()
    assert spec["cols"][-1] == "MLP" and len(spec["values"][0]) == hm.n_heads + 1
    assert [row[-1] for row in spec["values"]] == pytest.approx(a.mlp, abs=1e-5)
    assert render(spec, "png").startswith(b"\x89PNG")


def test_head_ov_matches_the_successor_module_and_skips_multi_token_words():
    from workbench.heads._model import effective_embeddings
    from workbench.heads.successor import head_ov_logits

    hm = tiny_hooked("llama")
    ov = head_ov(hm, 1, 2, ["one", "two", "Monday", "notaword"], k=4)
    assert ov.skipped == ["notaword"] and len(ov.tokens) == 3
    ids = torch.tensor([hm.tokenizer(w, add_special_tokens=False)["input_ids"][0]
                        for w in ("one", "two", "Monday")])  # fmt: skip
    ref = head_ov_logits(hm, effective_embeddings(hm, ids), 1, 2, None)
    assert ov.top_tokens[0] == [hm.tokenizer.decode([i]) for i in ref[0].topk(4).indices]
    assert all(r >= 1 for r in ov.copy_rank)
    assert render(ov.figure_spec(), "svg").startswith(b"<?xml")
    with pytest.raises(PromptSetError):
        head_ov(hm, 9, 0, ["one"])


def test_head_ov_layer_zero_reads_the_plain_embedding_and_gemma2_is_refused():
    from workbench.errors import UnsupportedModelError
    from workbench.heads.successor import head_ov_logits

    hm = tiny_hooked("llama")
    ov = head_ov(hm, 0, 1, ["one", "two", "Monday"], k=4)
    ids = torch.tensor([hm.tokenizer(w, add_special_tokens=False)["input_ids"][0]
                        for w in ("one", "two", "Monday")])  # fmt: skip
    ref = head_ov_logits(hm, hm.adapter.embed()(ids), 0, 1, None)
    assert ov.top_tokens[1] == [hm.tokenizer.decode([i]) for i in ref[1].topk(4).indices]
    with pytest.raises(UnsupportedModelError, match="normalises the attention output"):
        head_ov(tiny_hooked("gemma2"), 1, 0, ["one"])
