"""Subspace patching: the identities of the row-space / nullspace split (Makelov et al.)."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.analysis.subspace import reader_weights, row_space_split, subspace_patching
from workbench.errors import PromptSetError
from workbench.figures import render

CLEAN, CORRUPT = "the capital of France is", "the capital of London is"
OTHER = ("the capital of king is", "the capital of queen is")


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_mlp_post_nullspace_patch_changes_nothing_and_own_difference_is_the_full_patch(family):
    hm = tiny_hooked(family)
    own = subspace_patching(hm, CLEAN, CORRUPT, "Paris", "London", layer=1, site="mlp_post")
    m = own.metrics
    # v = this pair's own difference: patching along it is the full patch, and all of its
    # effect goes through the row space (W_out never reads the nullspace part)
    assert m["along v"] == pytest.approx(m["full patch"], abs=1e-5)
    assert m["along v_row"] == pytest.approx(m["full patch"], abs=1e-5)
    assert m["along v_null"] == pytest.approx(m["corrupted"], abs=1e-6)
    assert own.reader_rank == hm.d_model < own.reader_dim
    other = subspace_patching(hm, CLEAN, CORRUPT, "Paris", "London", layer=1, site="mlp_post",
                              direction_pair=OTHER)  # fmt: skip
    assert other.metrics["along v_null"] == pytest.approx(other.metrics["corrupted"], abs=1e-6)
    assert 0 < other.row_fraction < 1
    assert render(other.figure_spec(), "png").startswith(b"\x89PNG")


def test_resid_post_matches_the_layer_position_map_and_has_no_nullspace():
    from workbench.analysis import activation_patching

    hm = tiny_hooked("llama")
    r = subspace_patching(hm, CLEAN, CORRUPT, "Paris", "London", layer=0, site="resid_post")
    assert r.position == 3  # the first token that differs
    # blocks.0.hook_resid_post is blocks.1.hook_resid_pre: the map's cell (1, 3)
    cell = activation_patching(hm, CLEAN, CORRUPT, "Paris", "London").values[1][3]
    assert r.metrics["full patch"] == pytest.approx(cell, abs=1e-5)
    assert r.metrics["along v"] == pytest.approx(cell, abs=1e-5)
    assert r.row_fraction == pytest.approx(1.0) and "no nullspace" in r.note
    assert "every later block" in r.reader
    assert r.metrics["along v_null"] == pytest.approx(r.metrics["corrupted"], abs=1e-6)


@pytest.mark.parametrize("family", ["gemma", "gemma2"])
def test_gemma_readers_use_one_plus_w(family):
    """Gemma's RMSNorm multiplies by 1 + w: the reader is W · diag(1 + w), not W · diag(w)
    (with w = 0 at init the latter is zero and every direction looked unread)."""
    hm = tiny_hooked(family)
    last = hm.n_layers - 1
    W, _ = reader_weights(hm, "resid_post", last)
    U = hm.adapter.unembed().weight.detach().double()
    g = 1.0 + hm.adapter.final_norm().weight.detach().double()
    assert torch.allclose(W, U * g, atol=1e-12)
    want = int(torch.linalg.matrix_rank(U * g))
    assert want > 0
    _, _, rank = row_space_split(W, torch.ones(hm.d_model))
    assert rank == want
    W0, _ = reader_weights(hm, "resid_post", 0)
    mlp, ln = hm.adapter.mlp(1), hm.adapter.ln_mlp(1)
    up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).detach().double()
    assert torch.allclose(W0, up * (1.0 + ln.weight.detach().double()), atol=1e-12)
    r = subspace_patching(hm, CLEAN, CORRUPT, "Paris", "London", layer=last, site="resid_post")
    assert r.reader_rank == want > 0


@pytest.mark.parametrize("family", ["gpt2", "phi"])
def test_layernorm_centring_leaves_the_all_ones_direction_unread(family):
    """LayerNorm subtracts the mean first: W · diag(γ) · (I − 11ᵀ/d) never reads 1."""
    hm = tiny_hooked(family)
    d = hm.d_model
    W, _ = reader_weights(hm, "resid_post", hm.n_layers - 1)
    ones = torch.ones(d, dtype=torch.float64)
    v_row, v_null, rank = row_space_split(W, ones)
    assert rank == d - 1
    assert float(v_row.norm()) < 1e-9 and torch.allclose(v_null, ones)
    # and patching along it changes nothing: the final norm removes it
    r = subspace_patching(hm, CLEAN, CORRUPT, "Paris", "London", layer=hm.n_layers - 1,
                          site="resid_post", direction=ones + 1e-3 * torch.randn(d))  # fmt: skip
    assert r.reader_rank == d - 1 and r.row_fraction < 1e-4


def test_offloaded_weights_are_refused(monkeypatch):
    from workbench.analysis import subspace
    from workbench.errors import UnsupportedModelError

    hm = tiny_hooked("llama")
    meta = torch.nn.Linear(hm.model.config.intermediate_size, hm.d_model, device="meta")
    monkeypatch.setattr(subspace, "down_projection", lambda hm, layer: meta)
    with pytest.raises(UnsupportedModelError, match="offloaded"):
        reader_weights(hm, "mlp_post", 0)


def test_row_space_split_by_hand():
    W = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    v_row, v_null, rank = row_space_split(W, torch.tensor([3.0, 4.0, 5.0]))
    assert rank == 2
    assert torch.allclose(v_row, torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64))
    assert torch.allclose(v_null, torch.tensor([0.0, 0.0, 5.0], dtype=torch.float64))
    hm = tiny_hooked("llama")
    W, _ = reader_weights(hm, "mlp_post", 0)
    assert tuple(W.shape) == (hm.d_model, hm.model.config.intermediate_size)


def test_bad_inputs():
    hm = tiny_hooked("llama")
    with pytest.raises(PromptSetError, match="blocks"):
        subspace_patching(hm, CLEAN, CORRUPT, "Paris", "London", layer=7)
    with pytest.raises(PromptSetError, match="zero"):
        subspace_patching(hm, CLEAN, CORRUPT, "Paris", "London", direction=torch.zeros(32))
