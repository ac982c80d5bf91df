"""Generation tells the hooks about its left padding through the hooked model's public
``generation_context`` (not by writing the model's private context), and leaves it as found."""

from __future__ import annotations

import torch
from tiny import tiny_hooked

from workbench.models.generation import SamplingSettings, generate_job


def test_generation_context_sets_and_restores():
    hm = tiny_hooked()
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    before = (hm._ctx.pad_left, hm._ctx.prompt_len, hm._ctx.offset)
    with hm.generation_context(mask) as cache_offset:
        assert hm._ctx.pad_left.tolist() == [2, 0] and hm._ctx.prompt_len.tolist() == [2, 4]
        cache_offset(4)
        assert hm._ctx.offset == 4
        # position rules count from each row's first real token
        pos = hm._ctx.absolute_positions(2, 1, torch.device("cpu"))
        assert pos.tolist() == [[2], [4]]
    assert (hm._ctx.pad_left, hm._ctx.prompt_len, hm._ctx.offset) == before


def test_a_generation_stopped_midway_leaves_the_context_as_found():
    hm = tiny_hooked()
    job = generate_job(hm, ["a b", "a b c d"], settings=SamplingSettings(max_new_tokens=5))
    next(job), next(job)  # the prompt, then the first token
    assert hm._ctx.pad_left is not None
    job.close()  # a cancelled job
    assert hm._ctx.pad_left is None and hm._ctx.prompt_len is None and hm._ctx.offset == 0
