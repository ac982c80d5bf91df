"""The steering scale: |c|·‖v‖ next to the residual stream's typical norm at the site, checked
against Hugging Face's own hidden states and a hand computation."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.concepts.steering_scale import (
    BREAKS_AT,
    STRONG_AT,
    SteeringScale,
    residual_norms,
    steering_scale,
)

SITE = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


def test_residual_norm_is_the_median_token_norm_of_hf_hidden_states(hm):
    from workbench.concepts.norm_check import REFERENCE_TEXT

    enc = hm.encode([REFERENCE_TEXT])
    with torch.no_grad():
        hs = hm.model(**enc, output_hidden_states=True).hidden_states
    # hidden_states[L + 1] is block L's output (the last one has the final norm: not used here)
    want = float(hs[2][0, 1:].float().norm(dim=-1).median())  # first token (the sink) left out
    got = residual_norms(hm, [SITE])
    assert got == {SITE: pytest.approx(want, rel=1e-5)}
    assert residual_norms(hm, [SITE]) == got  # remembered: the same number again


def test_the_ratio_and_the_verdict_follow_the_hand_computation():
    v = torch.tensor([3.0, 4.0])  # ‖v‖ = 5
    s = steering_scale(v, -1.0, SITE, 4.0)
    assert s.vector_norm == 5.0 and s.added_norm == 5.0 and s.ratio == 1.25
    assert s.level == "strong" and "1.2×" in s.message() and SITE in s.message()
    assert steering_scale(v, 0.1, SITE, 4.0).level == "ok"
    assert steering_scale(v, 0.1, SITE, 4.0).message() == ""
    broken = steering_scale(v, 8.6, SITE, 4.8)  # 43, about 9× the stream
    assert broken.level == "breaks" and "will likely break" in broken.message()
    assert "= 43" in broken.message() and "9.0×" in broken.message()
    assert STRONG_AT < BREAKS_AT


def test_unknown_or_nonfinite_norms_say_so_instead_of_a_number():
    assert SteeringScale(SITE, 4.0, 5.0, None).level == "unknown"
    assert SteeringScale(SITE, 4.0, 5.0, None).message() == ""
    assert SteeringScale(SITE, 4.0, 5.0, 0.0).ratio is None
    bad = SteeringScale(SITE, 1.0, float("nan"), 3.0)
    assert bad.level == "invalid" and "cannot steer" in bad.message()


def test_the_job_gives_the_same_norms(hm):
    from workbench.concepts.steering_scale import residual_norms_job
    from workbench.jobs import run

    assert run(residual_norms_job(hm, [SITE])) == residual_norms(hm, [SITE])
