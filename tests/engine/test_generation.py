"""Steered generation: KV cache on and off agree, seeds reproduce, baseline row is untouched."""

from __future__ import annotations

import torch
from tiny import tiny_hooked

from workbench.jobs import Progress
from workbench.models.generation import (
    SamplingSettings,
    generate,
    steered_generate,
    steered_generate_job,
)
from workbench.models.interventions import AddVector


def test_steering_with_and_without_kv_cache_agrees():
    hm = tiny_hooked("llama")
    v = torch.randn(hm.d_model) * 3
    for positions in ("all", "last_prompt", "generated", [0, -1]):
        iv = [AddVector("blocks.1.hook_resid_post", vector=v, positions=positions)]
        outs = []
        for cache in (True, False):
            s = SamplingSettings(max_new_tokens=8, use_cache=cache, stop_at_eos=False)
            outs.append(
                generate(hm, ["the king is", "I feel very happy"], iv, s, return_logits=True)
            )
        assert outs[0].token_ids == outs[1].token_ids
        torch.testing.assert_close(outs[0].step_logits, outs[1].step_logits, atol=1e-4, rtol=0)


def test_left_padding_matches_single_prompt():
    hm = tiny_hooked("qwen2")
    s = SamplingSettings(max_new_tokens=6, stop_at_eos=False)
    iv = [AddVector("blocks.0.hook_resid_post", vector=torch.randn(hm.d_model))]
    both = generate(hm, ["Paris", "the king is a man"], iv, s, return_logits=True)
    alone = generate(hm, ["Paris"], iv, s, return_logits=True)
    assert both.token_ids[0] == alone.token_ids[0]
    torch.testing.assert_close(both.step_logits[:, 0], alone.step_logits[:, 0], atol=1e-4, rtol=0)


def test_sampling_is_seeded_and_baseline_row_is_unsteered():
    hm = tiny_hooked("gpt2")
    s = SamplingSettings(
        max_new_tokens=10,
        do_sample=True,
        temperature=1.0,
        top_k=50,
        top_p=0.95,
        seed=7,
        stop_at_eos=False,
    )
    v = torch.randn(hm.d_model) * 20
    a = steered_generate(hm, "I feel", [AddVector("blocks.1.hook_resid_post", vector=v)], s)
    b = steered_generate(hm, "I feel", [AddVector("blocks.1.hook_resid_post", vector=v)], s)
    assert a.steered == b.steered and a.baseline == b.baseline
    plain = generate(hm, ["I feel"], (), s)
    assert plain.texts[0] == a.baseline
    assert a.steered != a.baseline


def test_streaming_yields_pieces_that_add_up():
    hm = tiny_hooked("llama")
    job = steered_generate_job(
        hm,
        "the king",
        [AddVector("blocks.0.hook_resid_post", vector=torch.randn(hm.d_model))],
        SamplingSettings(max_new_tokens=5, stop_at_eos=False),
    )
    pieces = [[], []]
    try:
        while True:
            p = next(job)
            assert isinstance(p, Progress)
            if p.payload:
                for i in range(2):
                    pieces[i].append(p.payload[i])
    except StopIteration as stop:
        result = stop.value
    assert "".join(pieces[0]) == result.baseline
    assert "".join(pieces[1]) == result.steered
