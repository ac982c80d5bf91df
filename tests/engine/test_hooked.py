"""Hook sites and interventions against Hugging Face's own outputs, on every family."""

from __future__ import annotations

import pytest
import torch
from tiny import FAMILIES, tiny_hooked

from workbench.models.interventions import AblateHeads, AddVector, Patch, ProjectOut, Scale
from workbench.models.sites import resid_post

PROMPTS = ["the king is a man", "I feel very happy today", "Paris"]


@pytest.mark.parametrize("family", FAMILIES)
def test_resid_post_equals_hf_hidden_states(family):
    hm = tiny_hooked(family)
    enc = hm.encode(PROMPTS)
    with torch.no_grad():
        ref = hm.model(**enc, output_hidden_states=True).hidden_states
    sites = [resid_post(L) for L in range(hm.n_layers)] + ["blocks.0.hook_resid_pre"]
    got = hm.capture(PROMPTS, sites, position="all")
    mask = enc["attention_mask"].bool()
    # hidden_states[L + 1] is block L's output; HF applies the final norm to the last one.
    for L in range(hm.n_layers - 1):
        torch.testing.assert_close(got[resid_post(L)], ref[L + 1][mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(got["blocks.0.hook_resid_pre"], ref[0][mask], atol=1e-5, rtol=0)
    last = hm.adapter.final_norm()(got.per_prompt(resid_post(hm.n_layers - 1))[0])
    torch.testing.assert_close(last, ref[-1][0][: len(last)], atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_head_z_through_o_proj_equals_attn_out(family):
    hm = tiny_hooked(family)
    _, cache = hm.run_with_cache(PROMPTS[1], ["blocks.1.attn.hook_z", "blocks.1.hook_attn_out"])
    z = cache["blocks.1.attn.hook_z"]  # [1, pos, head, d_head]
    assert z.shape[2:] == (hm.n_heads, hm.d_head)
    o = hm.adapter.o_proj(1)
    with torch.no_grad():
        rebuilt = o(z.flatten(-2))
    if family == "gpt2":  # GPT-2's attention applies (eval-time identity) dropout after c_proj
        rebuilt = hm.adapter.attn(1).resid_dropout(rebuilt)
    torch.testing.assert_close(rebuilt, cache["blocks.1.hook_attn_out"], atol=1e-5, rtol=0)
    # And per head: the sum of each head's slice through W_O (+ bias) is the same thing.
    W = hm.adapter.o_proj_weight(1).reshape(hm.d_model, hm.n_heads, hm.d_head)
    per_head = torch.einsum("bphd,mhd->bphm", z, W).sum(2)
    bias = o.bias if getattr(o, "bias", None) is not None else 0
    torch.testing.assert_close(per_head + bias, cache["blocks.1.hook_attn_out"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_patterns_equal_output_attentions(family):
    hm = tiny_hooked(family, attn="eager")
    enc = hm.encode([PROMPTS[0]])
    with torch.no_grad():
        ref = hm.model(**enc, output_attentions=True)
    sites = [f"blocks.{L}.attn.hook_pattern" for L in range(hm.n_layers)]
    logits, cache = hm.run_with_cache(PROMPTS[0], sites)
    for L in range(hm.n_layers):
        torch.testing.assert_close(cache[sites[L]], ref.attentions[L], atol=1e-6, rtol=0)
    # Our pattern-hookable attention computes the same logits as the family's own eager.
    torch.testing.assert_close(logits, ref.logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", ["llama", "gpt2", "gpt_neox", "phi"])
def test_patterns_from_an_sdpa_model(family):
    hm = tiny_hooked(family, attn="sdpa")
    _, cache = hm.run_with_cache(PROMPTS[0], ["blocks.0.attn.hook_pattern"])
    p = cache["blocks.0.attn.hook_pattern"]
    torch.testing.assert_close(p.sum(-1), torch.ones_like(p.sum(-1)))
    assert hm.model.config._attn_implementation == "sdpa"  # switched back


@pytest.mark.parametrize("family", FAMILIES)
def test_adding_zero_changes_nothing_bitwise(family):
    hm = tiny_hooked(family)
    base = hm.logits(PROMPTS)
    sites = [
        "hook_embed",
        "blocks.1.hook_resid_pre",
        "blocks.1.hook_attn_out",
        "blocks.2.hook_mlp_out",
        resid_post(0),
    ]
    if family not in ("phi", "gpt_neox"):
        sites.append("blocks.1.hook_resid_mid")
    ivs = [AddVector(s, vector=torch.zeros(hm.d_model)) for s in sites]
    ivs.append(AddVector("blocks.1.attn.hook_z", vector=torch.zeros(hm.n_heads, hm.d_head)))
    steered = hm.logits(PROMPTS, ivs)
    assert torch.equal(base, steered)


def test_resid_mid_write_reaches_the_residual():
    hm = tiny_hooked("llama")
    v = torch.randn(hm.d_model)
    _, base = hm.run_with_cache(PROMPTS[1], [resid_post(1)])
    _, mid = hm.run_with_cache(
        PROMPTS[1], [resid_post(1)], [AddVector("blocks.1.hook_resid_mid", vector=v)]
    )
    _, pre2 = hm.run_with_cache(
        PROMPTS[1], ["blocks.1.hook_resid_mid"], [AddVector("blocks.1.hook_resid_mid", vector=v)]
    )
    assert not torch.allclose(base[resid_post(1)], mid[resid_post(1)])
    _, plain = hm.run_with_cache(PROMPTS[1], ["blocks.1.hook_resid_mid"])
    torch.testing.assert_close(
        pre2["blocks.1.hook_resid_mid"], plain["blocks.1.hook_resid_mid"] + v
    )


def test_interventions_identities():
    hm = tiny_hooked("llama")
    s = resid_post(1)
    v = torch.randn(hm.d_model)
    _, base = hm.run_with_cache(PROMPTS[1], [s])
    x = base[s]
    _, got = hm.run_with_cache(PROMPTS[1], [s], [AddVector(s, vector=v, coefficient=2.0)])
    torch.testing.assert_close(got[s], x + 2 * v)
    _, got = hm.run_with_cache(PROMPTS[1], [s], [Scale(s, factor=0.5)])
    torch.testing.assert_close(got[s], 0.5 * x)
    _, got = hm.run_with_cache(PROMPTS[1], [s], [ProjectOut(s, direction=v)])
    assert (got[s] @ (v / v.norm())).abs().max() < 1e-5
    _, got = hm.run_with_cache(PROMPTS[1], [s], [Patch(s, source=torch.zeros_like(x))])
    assert torch.count_nonzero(got[s]) == 0
    # positions: only the last prompt token moves
    _, got = hm.run_with_cache(PROMPTS[1], [s], [AddVector(s, vector=v, positions="last_prompt")])
    torch.testing.assert_close(got[s][0, :-1], x[0, :-1])
    torch.testing.assert_close(got[s][0, -1], x[0, -1] + v)


def test_ablating_a_head_equals_zeroing_its_output_weights():
    hm = tiny_hooked("llama")
    layer, head = 1, 2
    ablated = hm.logits(PROMPTS, [AblateHeads(f"blocks.{layer}.attn.hook_z", heads=[head])])
    W = hm.adapter.o_proj(layer).weight
    with torch.no_grad():
        saved = W[:, head * hm.d_head : (head + 1) * hm.d_head].clone()
        W[:, head * hm.d_head : (head + 1) * hm.d_head] = 0
        try:
            ref = hm.logits(PROMPTS)
        finally:
            W[:, head * hm.d_head : (head + 1) * hm.d_head] = saved
    torch.testing.assert_close(ablated, ref, atol=1e-6, rtol=0)


def test_hooks_are_gone_after_an_exception():
    hm = tiny_hooked("llama")
    before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in hm.model.modules())
    with (
        pytest.raises(RuntimeError, match="boom"),
        hm.intervene(
            AddVector(resid_post(0), vector=torch.ones(hm.d_model)),
            AblateHeads("blocks.0.attn.hook_z", heads=[0]),
        ),
    ):
        raise RuntimeError("boom")
    after = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in hm.model.modules())
    assert before == after
    assert torch.equal(hm.logits(PROMPTS), tiny_hooked("llama").logits(PROMPTS))


def test_bad_sites_have_clear_messages():
    from workbench.errors import PromptSetError, SiteError

    hm = tiny_hooked("phi")
    with pytest.raises(SiteError, match="parallel"):
        hm.capture(PROMPTS, ["blocks.0.hook_resid_mid"])
    with pytest.raises(SiteError, match="blocks 0..2"):
        hm.capture(PROMPTS, ["blocks.7.hook_resid_post"])
    with pytest.raises(SiteError, match="not a hook site"):
        hm.capture(PROMPTS, ["layer7"])
    with pytest.raises(PromptSetError):
        hm.capture([], [resid_post(0)])
    with pytest.raises(PromptSetError):
        hm.capture([""], [resid_post(0)])


def test_capture_positions_and_batching_agree():
    hm = tiny_hooked("qwen2")
    s = resid_post(1)
    all_ = hm.capture(PROMPTS, [s], "all", batch_size=2)
    last = hm.capture(PROMPTS, [s], "last", batch_size=3)
    mean = hm.capture(PROMPTS, [s], "mean", batch_size=1)
    skip = hm.capture([*PROMPTS, "a"], [s], "mean_skip_first", batch_size=3)
    for i, per in enumerate(all_.per_prompt(s)):
        torch.testing.assert_close(last[s][i], per[-1], atol=1e-5, rtol=0)
        torch.testing.assert_close(mean[s][i], per.mean(0), atol=1e-5, rtol=0)
        rest = per[1:] if per.shape[0] > 1 else per  # a one-token prompt keeps its token
        torch.testing.assert_close(skip[s][i], rest.mean(0), atol=1e-5, rtol=0)
    one = hm.capture(["a"], [s], "all")[s]
    assert one.shape[0] == 1
    torch.testing.assert_close(skip[s][-1], one[0], atol=1e-5, rtol=0)
    # padding does not change a prompt's activations
    alone = hm.capture([PROMPTS[2]], [s], "all")
    torch.testing.assert_close(alone[s], all_.per_prompt(s)[2], atol=1e-5, rtol=0)


def test_sites_listing():
    hm = tiny_hooked("gpt2")
    sites = hm.sites()
    assert (
        sites[0] == "hook_embed"
        and "blocks.2.attn.hook_z" in sites
        and "blocks.2.hook_resid_mid" in sites
    )
    assert "blocks.0.hook_resid_mid" not in tiny_hooked("phi").sites()


def test_a_vector_of_the_wrong_size_is_a_clear_error():
    from workbench.errors import ShapeMismatchError

    hm = tiny_hooked("llama")
    with pytest.raises(ShapeMismatchError, match=r"shape \(16,\).*d_model is 32"):
        hm.logits(PROMPTS, [AddVector(resid_post(0), vector=torch.zeros(16))])
    with pytest.raises(ShapeMismatchError, match="d_head is 8"):
        hm.logits(PROMPTS, [AddVector("blocks.0.attn.hook_z", vector=torch.zeros(32))])


def test_pattern_hooks_nest():
    """A ZeroTuning-style pattern edit in an outer block still acts while an inner block reads
    the pattern, and is still there after the inner block ends."""
    from workbench.models.interventions import ScaleAttention

    hm = tiny_hooked("llama")
    site = "blocks.1.attn.hook_pattern"
    _, plain = hm.run_with_cache(PROMPTS[1], [site])
    scaled_ref = hm.logits([PROMPTS[1]], [ScaleAttention(site, heads=[0], factor=3.0)])
    with hm.intervene(ScaleAttention(site, heads=[0], factor=3.0)):
        logits_inner, inner = hm.run_with_cache(PROMPTS[1], [site])
        after = hm.logits([PROMPTS[1]])
    assert not torch.allclose(inner[site][0, 0], plain[site][0, 0])
    torch.testing.assert_close(inner[site][0, 1:], plain[site][0, 1:])
    torch.testing.assert_close(logits_inner, scaled_ref)
    torch.testing.assert_close(after, scaled_ref)
    torch.testing.assert_close(hm.logits([PROMPTS[1]]), hm.logits([PROMPTS[1]], []))
    assert not hasattr(hm.adapter.attn(1), "_workbench_pattern_hook")
