"""Image generation from concept arithmetic: equalities, reproducibility, previews, cancel.

Tolerance for identities that reassociate float32 sums (``a + b - b`` vs ``a``): the decoded
images, floats in [0, 1] before quantisation, agree within ``ATOL = 1e-5`` (measured here:
< 1e-6; one 8-bit level is 3.9e-3). Everything else is compared bit for bit.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from workbench.diffusion.embeddings import POOLED, encode_concept
from workbench.diffusion.generate import (
    StepPreview,
    baseline_and_edited,
    generate_batch,
    generate_image,
    spec_from_expression,
)
from workbench.errors import WorkbenchError
from workbench.jobs import Cancelled, Progress, run

ATOL = 1e-5


def plain(dm, prompt: str, seed: int = 0, guidance: float = 7.5, negative=None) -> np.ndarray:
    """The reference: the diffusers pipeline called with a prompt string."""
    return dm.pipe(
        prompt=prompt,
        negative_prompt=negative,
        num_inference_steps=2,
        guidance_scale=guidance,
        height=64,
        width=64,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="np",
    ).images[0]


def gen(dm, spec, reports=None):
    return run(generate_image(dm, spec), on_progress=None if reports is None else reports.append)


# ----------------------------------------------------------------------------- equalities
@pytest.mark.parametrize("which", ["sd_dm", "sdxl_dm"])
def test_concept_embeddings_equal_the_prompt(which, request, make_spec):
    dm = request.getfixturevalue(which)
    castle = encode_concept(dm, "a castle")
    out = gen(dm, make_spec(terms=[(1.0, castle)]))
    np.testing.assert_array_equal(out.array, plain(dm, "a castle"))
    # a raw prompt term and the plain prompt field take the same path
    np.testing.assert_array_equal(gen(dm, make_spec(prompt="a castle")).array, out.array)


def test_negative_prompt_matches_the_pipeline(sd_dm, make_spec):
    out = gen(sd_dm, make_spec(prompt="a castle", negative_prompt="fog"))
    np.testing.assert_array_equal(out.array, plain(sd_dm, "a castle", negative="fog"))


@pytest.mark.parametrize("which", ["sd_dm", "sdxl_dm"])
@pytest.mark.parametrize("level", ["text_encoder", "token_embeds"])
def test_a_plus_b_minus_b_is_a(which, level, request, make_spec):
    dm = request.getfixturevalue(which)
    a = encode_concept(dm, "castle", level=level)
    b = encode_concept(dm, "winter", level=level)
    only_a = gen(dm, make_spec(terms=[(1.0, a)], level=level)).array
    edited = gen(dm, make_spec(terms=[(1.0, a), (1.0, b), (-1.0, b)], level=level)).array
    np.testing.assert_allclose(edited, only_a, rtol=0, atol=ATOL)
    # through the algebra, a + b - b folds to a + 0*b: exact
    spec = spec_from_expression("castle + winter - winter", {"castle": a, "winter": b}, level=level)
    np.testing.assert_array_equal(gen(dm, spec.replace(steps=2, width=64, height=64)).array, only_a)


def test_arithmetic_changes_the_image(sd_dm, make_spec):
    a = encode_concept(sd_dm, "castle")
    b = encode_concept(sd_dm, "winter")
    base = gen(sd_dm, make_spec(terms=[(1.0, a)])).array
    edited = gen(sd_dm, make_spec(terms=[(1.0, a), (0.6, b)])).array
    assert np.abs(edited - base).max() > 1e-3


def test_same_seed_reproduces_bit_exactly(sdxl_dm, make_spec):
    spec = make_spec(terms=[(1.0, "castle"), (0.6, "winter"), (-0.4, "summer")], seed=7)
    first, second = gen(sdxl_dm, spec), gen(sdxl_dm, spec)
    np.testing.assert_array_equal(first.array, second.array)
    assert first.image.tobytes() == second.image.tobytes()
    other = gen(sdxl_dm, spec.replace(seed=8))
    assert not np.array_equal(first.array, other.array)


def test_sdxl_receives_the_blended_pooled_vector(sdxl_dm, make_spec):
    a, b = encode_concept(sdxl_dm, "castle"), encode_concept(sdxl_dm, "winter")
    seen = []

    def spy(module, args, kwargs):
        seen.append(kwargs["added_cond_kwargs"]["text_embeds"].clone())

    handle = sdxl_dm.pipe.unet.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        gen(sdxl_dm, make_spec(terms=[(0.6, a), (0.4, b)]))
    finally:
        handle.remove()
    expected = 0.6 * a.vectors[POOLED] + 0.4 * b.vectors[POOLED]
    assert len(seen) == 2  # one CFG batch per step
    for text_embeds in seen:  # [uncond, cond]
        torch.testing.assert_close(text_embeds[1], expected, rtol=0, atol=0)
        torch.testing.assert_close(text_embeds[0], torch.zeros(8))  # SDXL's zeroed negative


# ----------------------------------------------------------------------- previews, cancel
def test_preview_fires_once_per_step(sd_dm, make_spec):
    reports: list[Progress] = []
    gen(sd_dm, make_spec(prompt="castle", steps=3), reports)
    assert [(p.done, p.total) for p in reports] == [(1, 3), (2, 3), (3, 3)]
    for p in reports:
        assert isinstance(p.payload, StepPreview)
        assert p.payload.image is not None and p.payload.image.size == (32, 32)  # the latent's size
    sparse: list[Progress] = []
    gen(sd_dm, make_spec(prompt="castle", steps=3, preview_every=2), sparse)
    assert [p.payload.image is not None for p in sparse] == [False, True, True]  # 2nd and last


def test_preview_is_the_x0_estimate(sd_dm, make_spec):
    """The preview decodes x0 = (x_t - sqrt(1-ᾱ_t)·ε) / sqrt(ᾱ_t) of the guided ε."""
    from workbench.diffusion.preview import capture_x0, latents_to_rgb, x0_from_prediction

    sched = sd_dm.pipe.scheduler
    sched.set_timesteps(2)
    x_t, eps = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    t = sched.timesteps[0]
    with capture_x0(sched) as holder:
        sched.step(eps, t, x_t)
    a = sched.alphas_cumprod[int(t)]
    expected = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    torch.testing.assert_close(holder.x0, expected)
    torch.testing.assert_close(x0_from_prediction(sched, eps, t, x_t), expected)
    assert "step" not in vars(sched)  # the instance is restored
    assert latents_to_rgb(expected)[0].size == (8, 8)


def test_cancel_stops_the_run(sd_dm, make_spec):
    calls = []
    handle = sd_dm.pipe.unet.register_forward_hook(lambda *a: calls.append(1))
    try:
        job = generate_image(sd_dm, make_spec(prompt="castle", steps=5))
        first = next(job)
        assert first.done == 1
        job.close()  # what the window's cancel button does
        assert len(calls) == 1  # no further denoising step, no decode
        assert not [t for t in threading.enumerate() if t.name == "diffusion-pipeline"]
        with pytest.raises(Cancelled):
            run(
                generate_image(sd_dm, make_spec(prompt="castle", steps=5)),
                should_cancel=lambda: True,
            )
        assert len(calls) == 2
    finally:
        handle.remove()
    # the model is free and intact afterwards
    np.testing.assert_array_equal(
        gen(sd_dm, make_spec(prompt="castle")).array, plain(sd_dm, "castle")
    )


def test_errors_reach_the_caller(sd_dm, make_spec):
    with pytest.raises(WorkbenchError):
        gen(sd_dm, make_spec(prompt="castle", level="nonsense"))
    with pytest.raises(WorkbenchError, match="divisible by 8"):  # diffusers' check_inputs
        gen(sd_dm, make_spec(prompt="castle", width=60))
    with pytest.raises(WorkbenchError, match="steps"):
        make_spec(prompt="castle", steps=0)
    assert not [t for t in threading.enumerate() if t.name == "diffusion-pipeline"]


# ------------------------------------------------------------------------- batch, compare
def test_batch_equals_one_by_one(sd_dm, make_spec):
    specs = [make_spec(terms=[(1.0, "castle"), (w, "winter")], seed=s) for w, s in
             ((0.0, 1), (0.5, 1), (1.0, 2))]  # fmt: skip
    reports: list[Progress] = []
    batch = run(generate_batch(sd_dm, specs), on_progress=reports.append)
    assert len(reports) == 2 and len(reports[-1].payload.images) == 3  # one call of 3 images
    for spec, result in zip(specs, batch, strict=True):
        single = gen(sd_dm, spec)
        np.testing.assert_allclose(result.array, single.array, rtol=0, atol=ATOL)
        assert result.info["batch"]["size"] == 3


def test_baseline_and_edited(sd_dm, make_spec):
    spec = make_spec(terms=[(1.0, "castle"), (0.6, "winter")], seed=3)
    reports: list[Progress] = []
    cmp = run(baseline_and_edited(sd_dm, spec), on_progress=reports.append)
    np.testing.assert_array_equal(cmp.baseline.array, plain(sd_dm, "castle", seed=3))
    np.testing.assert_array_equal(cmp.edited.array, gen(sd_dm, spec).array)
    assert [p.payload.part for p in reports] == ["baseline"] * 2 + ["edited"] * 2
    assert [p.done for p in reports] == [1, 2, 3, 4] and reports[0].total == 4
    assert cmp.side_by_side.width > 2 * 64 and cmp.side_by_side.height > 64
