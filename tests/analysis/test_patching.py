"""Activation patching: the identities (everything patched = clean, nothing = corrupted) and
a hand-run patched forward."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.analysis import activation_patching, patched_metric
from workbench.analysis.patching import patch_pair
from workbench.errors import PromptSetError
from workbench.figures import render
from workbench.models.interventions import Patch

CLEAN, CORRUPT = "the capital of France is", "the capital of London is"


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


def test_full_patch_is_clean_and_empty_patch_is_corrupted(hm):
    pair = patch_pair(hm, CLEAN, CORRUPT, "Paris", "London")
    n = len(pair.clean_ids)
    every = {f"blocks.{L}.hook_{c}": list(range(n)) for L in range(hm.n_layers)
             for c in ("resid_pre", "attn_out", "mlp_out")}  # fmt: skip
    got, clean = patched_metric(hm, pair, [{}, every, {"blocks.0.hook_resid_pre": list(range(n))}])
    with torch.no_grad():
        lg_clean = hm.model(pair.clean_ids[None]).logits[0, -1]
        lg_corr = hm.model(pair.corrupted_ids[None]).logits[0, -1]
    ref_clean = float(lg_clean[pair.target_id] - lg_clean[pair.foil_id])
    ref_corr = float(lg_corr[pair.target_id] - lg_corr[pair.foil_id])
    assert clean == pytest.approx(ref_clean, abs=1e-5)
    assert float(got[0]) == pytest.approx(ref_corr, abs=1e-5)
    assert float(got[1]) == pytest.approx(ref_clean, abs=1e-5)
    assert float(got[2]) == pytest.approx(ref_clean, abs=1e-5)


def test_map_cells_match_one_patched_forward_each(hm):
    res = activation_patching(hm, CLEAN, CORRUPT, "Paris", "London", max_rows=5)
    n = len(res.clean_tokens)
    assert len(res.values) == hm.n_layers and len(res.values[0]) == n
    # the one differing position, patched at the block-0 input, restores the clean run
    diff = [
        i
        for i, (a, b) in enumerate(zip(res.clean_tokens, res.corrupted_tokens, strict=True))
        if a != b
    ]
    assert diff == [3]
    assert res.values[0][3] == pytest.approx(res.clean_metric, abs=1e-5)
    assert res.normalized[0][3] == pytest.approx(1.0, abs=1e-4)
    # positions before the change: same tokens, nothing to patch
    assert res.values[1][0] == pytest.approx(res.corrupted_metric, abs=1e-5)
    # a cell against a hand-run patched forward (the engine's plain Patch on one position)
    pair = patch_pair(hm, CLEAN, CORRUPT, "Paris", "London")
    _, cache = hm.run_with_cache(CLEAN, ["blocks.2.hook_resid_pre"])
    src = hm.run_with_cache(CORRUPT, ["blocks.2.hook_resid_pre"])[1]["blocks.2.hook_resid_pre"]
    src[:, 4] = cache["blocks.2.hook_resid_pre"][:, 4]
    with torch.no_grad(), hm.intervene(Patch("blocks.2.hook_resid_pre", source=src)):
        lg = hm.model(pair.corrupted_ids[None]).logits[0, -1]
    assert res.values[2][4] == pytest.approx(float(lg[pair.target_id] - lg[pair.foil_id]), abs=1e-5)


@pytest.mark.parametrize("component", ["attn_out", "mlp_out"])
def test_components_and_prob_metric(hm, component):
    res = activation_patching(hm, CLEAN, CORRUPT, "Paris", component=component, metric="prob")
    assert res.sites[0] == f"blocks.0.hook_{component}" and 0 <= res.clean_metric <= 1
    # the last block's output at the last position: every later computation is the clean one
    if component == "mlp_out":
        assert (
            res.values[-1][-1] != res.corrupted_metric or res.clean_metric == res.corrupted_metric
        )
    spec = res.figure_spec()
    assert render(spec, "png").startswith(b"\x89PNG")
    assert res.to_dict()["settings"]["component"] == component


def test_clear_messages(hm):
    with pytest.raises(PromptSetError, match="same number of tokens"):
        activation_patching(hm, CLEAN, "the capital of the France is", "Paris", "London")
    with pytest.raises(PromptSetError, match="foil"):
        activation_patching(hm, CLEAN, CORRUPT, "Paris")
    with pytest.raises(PromptSetError, match="same token"):
        activation_patching(hm, CLEAN, CORRUPT, "Paris", "Paris")
