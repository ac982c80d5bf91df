"""Per-token weighted steering (AddVector.token_weights) against plain AddVector and a hand
computation."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.models.generation import SamplingSettings, generate
from workbench.models.interventions import AddVector
from workbench.models.token_weights import (
    WeightingError,
    given_weights,
    parse_weights,
    projection_weights,
)

SITE = "blocks.1.hook_resid_post"
PROMPTS = ["I feel very happy today", "the movie was"]


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


def _logits(hm, ivs, prompts=PROMPTS):
    enc = hm.encode(prompts)
    with torch.no_grad():
        return hm.forward(enc["input_ids"], enc["attention_mask"], ivs, use_cache=False).logits


def _vec(hm, seed=1):
    return torch.randn(hm.d_model, generator=torch.Generator().manual_seed(seed))


def test_weights_of_one_everywhere_equal_plain_add_vector(hm):
    v = _vec(hm)
    plain = _logits(hm, [AddVector(SITE, vector=v, coefficient=3.0)])
    ones = _logits(
        hm, [AddVector(SITE, vector=v, coefficient=3.0, token_weights=given_weights([1.0]))]
    )
    assert torch.equal(plain, ones)  # bit for bit, padded batch included
    s = SamplingSettings(max_new_tokens=6)
    g_plain = generate(hm, PROMPTS, [AddVector(SITE, vector=v, coefficient=3.0)], s)
    g_ones = generate(
        hm,
        PROMPTS,
        [AddVector(SITE, vector=v, coefficient=3.0, token_weights=given_weights([1] * 3))],
        s,
    )
    assert g_plain.token_ids == g_ones.token_ids


def test_given_weights_match_position_rule_and_zero_is_unsteered(hm):
    v = _vec(hm)
    prompt = ["I feel very happy today"]
    at_2_3 = _logits(hm, [AddVector(SITE, positions=[2, 3], vector=v, coefficient=2.0)], prompt)
    weighted = _logits(
        hm,
        [
            AddVector(
                SITE, vector=v, coefficient=2.0, token_weights=given_weights([0, 0, 1, 1], rest=0)
            )
        ],
        prompt,
    )
    assert torch.equal(at_2_3, weighted)
    zero = _logits(
        hm,
        [AddVector(SITE, vector=v, coefficient=2.0, token_weights=given_weights([0], 0))],
        prompt,
    )
    assert torch.equal(zero, _logits(hm, [], prompt))


def test_half_weights_halve_the_added_vector(hm):
    """At the steered site, the activation moves by w_t * c * v (read back with a reader)."""
    v = _vec(hm)
    enc = hm.encode(["I feel very happy"])
    seen: dict[str, torch.Tensor] = {}
    w = [0.5, 0.0, 2.0, 1.0]
    iv = AddVector(SITE, vector=v, coefficient=1.5, token_weights=given_weights(w))
    with torch.no_grad():
        hm.forward(
            enc["input_ids"],
            enc["attention_mask"],
            [],
            {SITE: [lambda x: seen.setdefault("a", x.clone())]},
        )
        hm.forward(
            enc["input_ids"],
            enc["attention_mask"],
            [iv],
            {SITE: [lambda x: seen.setdefault("b", x.clone())]},
        )
    want = seen["a"][0] + torch.tensor(w)[:, None] * 1.5 * v
    torch.testing.assert_close(seen["b"][0], want)


def test_projection_weights_by_hand(hm):
    v, d = _vec(hm, 1), _vec(hm, 2)
    enc = hm.encode(["I feel very happy"])
    seen: dict[str, torch.Tensor] = {}
    tw = projection_weights(d, center=0.1, scale=0.7)
    iv = AddVector(SITE, vector=v, coefficient=2.0, token_weights=tw)
    with torch.no_grad():
        hm.forward(
            enc["input_ids"],
            enc["attention_mask"],
            [],
            {SITE: [lambda x: seen.setdefault("a", x.clone())]},
        )
        hm.forward(
            enc["input_ids"],
            enc["attention_mask"],
            [iv],
            {SITE: [lambda x: seen.setdefault("b", x.clone())]},
        )
    x = seen["a"][0]
    w = torch.sigmoid((x @ (d / d.norm()) - 0.1) / 0.7)
    torch.testing.assert_close(seen["b"][0], x + w[:, None] * 2.0 * v)
    inv = projection_weights(d, center=0.1, scale=0.7, invert=True)
    torch.testing.assert_close(inv.weights(x[None], torch.arange(4)[None])[0], 1 - w)


def test_projection_weights_same_with_and_without_cache(hm):
    """Each token's weight depends on its own activation only: a cached generation steers as
    a full forward does."""
    v, d = _vec(hm, 1), _vec(hm, 2)
    iv = AddVector(SITE, vector=v, coefficient=4.0, token_weights=projection_weights(d, scale=0.5))
    a = generate(hm, PROMPTS, [iv], SamplingSettings(max_new_tokens=5))
    b = generate(hm, PROMPTS, [iv], SamplingSettings(max_new_tokens=5, use_cache=False))
    assert a.token_ids == b.token_ids


def test_bad_weights_are_refused(hm):
    with pytest.raises(WeightingError, match="finite"):
        given_weights([1.0, float("nan")])
    with pytest.raises(WeightingError, match="at least one"):
        given_weights([])
    with pytest.raises(WeightingError, match="scale"):
        projection_weights(torch.ones(4), scale=0)
    with pytest.raises(WeightingError, match="zero"):
        projection_weights(torch.zeros(4))
    with pytest.raises(WeightingError, match="commas"):
        parse_weights("1,a")
    wrong = AddVector(SITE, vector=_vec(hm), token_weights=projection_weights(torch.ones(5)))
    with pytest.raises(WeightingError, match="same model and site"):
        _logits(hm, [wrong])
    assert parse_weights("0, 0.5 1") == (0.0, 0.5, 1.0)


def test_per_token_weights_at_hook_z_weight_positions_not_heads(hm):
    # 4 tokens and 4 heads: weights [0, 0, 0, 1] once weighted head h by position h's weight
    prompt = ["I feel very happy"]
    assert hm.encode(prompt)["input_ids"].shape[1] == hm.n_heads == 4
    z = torch.randn(hm.n_heads, hm.d_head, generator=torch.Generator().manual_seed(3))
    iv = AddVector(
        "blocks.1.attn.hook_z", vector=z, coefficient=4.0, token_weights=given_weights([0, 0, 0, 1])
    )
    a, b = _logits(hm, [], prompt), _logits(hm, [iv], prompt)
    assert torch.equal(a[:, :3], b[:, :3])  # positions 0-2: weight 0, untouched
    assert not torch.allclose(a[:, 3], b[:, 3])  # the last position: steered


def test_given_weights_are_exact_in_bf16():
    x = torch.zeros(1, 3, 8, dtype=torch.bfloat16)
    pos = torch.arange(3).unsqueeze(0)
    w = given_weights([0.3, 0.7], rest=0.1).weights(x, pos)
    assert w.dtype == torch.float32
    assert torch.equal(w, torch.tensor([[0.3, 0.7, 0.1]]))
    v = torch.randn(8, generator=torch.Generator().manual_seed(0))
    iv = AddVector(SITE, vector=v, token_weights=given_weights([0.3], rest=0.3))
    out = iv.apply(x, None, pos)
    want = (v.to(torch.bfloat16).float() * 0.3).to(torch.bfloat16)
    assert torch.equal(out[0, 0], want)
