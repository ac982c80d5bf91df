"""Attribution patching against exact activation patching."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.heads.attribution import (
    attribution_check_job,
    attribution_scores_job,
    pearson,
    spearman,
)
from workbench.heads.data import TaskPrompts
from workbench.jobs import run

TASK = TaskPrompts(
    ["the king is a", "I feel very", "Paris is the capital of", "the weather today is"],
    [" man", " happy", " France", " hot"],
    [" woman", " sad", " London", " cold"],
    ["the queen is a", "I feel not", "London is the capital of", "the film today is"],
)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_attribution_correlates_with_exact_patching(family):
    hm = tiny_hooked(family)
    check = run(attribution_check_job(hm, TASK, k=5))
    print(f"{family}: Pearson r = {check.pearson:.4f}, Spearman = {check.spearman:.4f}")
    assert check.pearson > 0.9
    assert check.attribution.extras["clean_metric"] == pytest.approx(
        check.exact.extras["clean_metric"], abs=1e-5
    )
    assert check.attribution.extras["corrupted_metric"] == pytest.approx(
        check.exact.extras["corrupted_metric"], abs=1e-5
    )


def test_last_position_and_mean_source():
    hm = tiny_hooked("llama")
    check = run(attribution_check_job(hm, TASK, metric="logprob", positions="last", source="mean"))
    assert check.pearson > 0.9


def test_no_parameter_gradients_and_no_leftover_hooks():
    hm = tiny_hooked("llama")
    before = hm.logits(TASK.prompts)
    run(attribution_scores_job(hm, TASK))
    assert all(p.grad is None for p in hm.model.parameters())
    torch.testing.assert_close(hm.logits(TASK.prompts), before)


def test_correlations():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert pearson(a, -a) == pytest.approx(-1.0)
    assert spearman(a, a**3) == pytest.approx(1.0)
