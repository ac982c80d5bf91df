"""Head sets: picking, comparing, saving, and acting on the heads."""

from __future__ import annotations

import copy

import pytest
import torch
from tiny import tiny_hooked

from workbench.heads.headset import (
    HeadSet,
    ablation_interventions,
    compare_head_sets,
    offset_interventions,
    parse_heads,
    top_k,
    zero_tuning_interventions,
)
from workbench.heads.result import HeadScores
from workbench.models.generation import SamplingSettings, steered_generate
from workbench.models.hooked import HookedModel

PROMPTS = ["the king is a man", "I feel very happy today"]


def _scores():
    s = torch.tensor([[0.1, 0.9, -0.95], [0.5, 0.0, 0.3]])
    return HeadScores("induction", s, {"n_seqs": 2}, {"name": "tiny"})


def test_top_k_orders():
    s = _scores()
    assert top_k(s, 2).heads == [(0, 1), (1, 0)]
    assert top_k(s, 1, "lowest").heads == [(0, 2)]
    assert top_k(s, 2, "abs").heads == [(0, 2), (0, 1)]
    hs = top_k(s, 2)
    assert hs.model == "tiny" and hs.source == "induction top-2 (highest)"
    assert hs.scores == pytest.approx([0.9, 0.5])


def test_compare_head_sets_by_hand():
    a = HeadSet("ioi", "m", [(9, 6), (9, 9), (10, 0), (7, 3)])
    b = HeadSet("colored objects", "m", [(9, 6), (9, 9), (10, 0), (8, 6), (8, 10), (5, 5)])
    c = compare_head_sets(a, b)
    assert c.shared == [(9, 6), (9, 9), (10, 0)]
    assert c.only_a == [(7, 3)] and c.only_b == [(5, 5), (8, 6), (8, 10)]
    assert c.jaccard == pytest.approx(3 / 7)
    assert c.overlap == pytest.approx(3 / 4)
    assert compare_head_sets(a, HeadSet("empty", "m", [])).jaccard == 0.0


def test_save_load_roundtrip(tmp_path):
    hs = top_k(_scores(), 3)
    hs.save(tmp_path / "set.json")
    back = HeadSet.load(tmp_path / "set.json")
    assert back == hs and back.by_layer() == {0: [1], 1: [0, 2]}
    assert back.labels() == ["L0H1", "L1H0", "L1H2"]


def test_parse_heads():
    assert parse_heads("L9H3, L12H4") == [(9, 3), (12, 4)]
    assert parse_heads("9.3 12:4 14/0") == [(9, 3), (12, 4), (14, 0)]
    with pytest.raises(ValueError):
        parse_heads("nothing here")


def test_ablating_a_head_set_equals_zeroed_weights():
    hm = tiny_hooked("llama")
    hs = HeadSet("s", "tiny", [(0, 1), (2, 3), (2, 0)])
    edited = HookedModel(copy.deepcopy(hm.model), hm.tokenizer)
    with torch.no_grad():
        for L, h in hs:
            edited.adapter.o_proj_weight(L)[:, h * hm.d_head : (h + 1) * hm.d_head] = 0
    torch.testing.assert_close(
        hm.logits(PROMPTS, ablation_interventions(hs)), edited.logits(PROMPTS), atol=1e-5, rtol=0
    )
    ivs = ablation_interventions(hs)
    assert [iv.site for iv in ivs] == ["blocks.0.attn.hook_z", "blocks.2.attn.hook_z"]
    assert ivs[1].heads == [0, 3]


def test_identity_interventions_change_nothing():
    hm = tiny_hooked("llama")
    hs = HeadSet("s", "tiny", [(1, 1), (2, 2)])
    base = hm.logits(PROMPTS)
    torch.testing.assert_close(
        hm.logits(PROMPTS, offset_interventions(hs, torch.zeros(hm.d_head))), base
    )
    torch.testing.assert_close(
        hm.logits(PROMPTS, zero_tuning_interventions(hs, 1.0)), base, atol=1e-5, rtol=0
    )
    assert not torch.allclose(
        hm.logits(PROMPTS, zero_tuning_interventions(hs, 0.2)), base, atol=1e-4
    )
    off = {(1, 1): torch.ones(hm.d_head), (2, 2): -torch.ones(hm.d_head)}
    assert not torch.allclose(
        hm.logits(PROMPTS, offset_interventions(hs, off, coefficient=3.0)), base, atol=1e-4
    )


def test_generation_with_ablated_heads():
    hm = tiny_hooked("llama")
    hs = HeadSet("all", "tiny", [(L, h) for L in range(3) for h in range(4)])
    out = steered_generate(
        hm, "the king is", ablation_interventions(hs), SamplingSettings(max_new_tokens=4)
    )
    same = steered_generate(hm, "the king is", [], SamplingSettings(max_new_tokens=4))
    assert same.baseline == same.steered == out.baseline
    assert out.generation.interventions[0]["type"] == "AblateHeads"
