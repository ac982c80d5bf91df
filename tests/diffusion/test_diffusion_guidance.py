"""Noise-prediction-level composition: ε = ε_u + g·Σ wᵢ(ε(cᵢ) − ε_u)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.diffusion.embeddings import encode_prompts, negative_conditioning
from workbench.diffusion.generate import generate_image, spec_from_expression
from workbench.errors import WorkbenchError
from workbench.jobs import run


def plain(dm, prompt: str, seed: int = 0) -> np.ndarray:
    return dm.pipe(
        prompt=prompt,
        num_inference_steps=2,
        guidance_scale=7.5,
        height=64,
        width=64,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="np",
    ).images[0]


@pytest.mark.parametrize("which", ["sd_dm", "sdxl_dm"])
def test_one_term_of_weight_one_is_the_plain_pipeline(which, request, make_spec):
    dm = request.getfixturevalue(which)
    out = run(generate_image(dm, make_spec(terms=[(1.0, "a castle")], level="noise")))
    np.testing.assert_array_equal(out.array, plain(dm, "a castle"))


def reference_composition(dm, prompts, weights, seed=0, guidance=7.5, steps=2, size=64):
    """An independent, hand-written DDIM loop with composed guidance (SD1.x)."""
    pipe = dm.pipe
    sched = type(pipe.scheduler).from_config(pipe.scheduler.config)
    sched.set_timesteps(steps)
    conds = [encode_prompts(dm, p).hidden for p in prompts]
    uncond = negative_conditioning(dm, None, encode_prompts(dm, prompts[0])).hidden
    text = torch.cat([uncond, *conds])  # [N+1, seq, dim]
    side = size // pipe.vae_scale_factor
    gen = torch.Generator("cpu").manual_seed(seed)
    latents = torch.randn((1, 4, side, side), generator=gen) * sched.init_noise_sigma
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.scale_model_input(torch.cat([latents] * len(text)), t)
            eps = pipe.unet(x, t, encoder_hidden_states=text).sample
            eps_u, eps_c = eps[:1], eps[1:]
            guided = eps_u + guidance * sum(
                w * (e - eps_u) for w, e in zip(weights, eps_c, strict=True)
            )
            latents = sched.step(guided, t, latents).prev_sample
        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    return (image / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).numpy()


def test_composition_matches_a_hand_written_loop(sd_dm, make_spec):
    terms = [(1.0, "a castle"), (0.7, "winter"), (-0.5, "summer")]  # negative weights allowed
    out = run(generate_image(sd_dm, make_spec(terms=terms, level="noise", seed=4)))
    ref = reference_composition(sd_dm, [p for _, p in terms], [w for w, _ in terms], seed=4)
    np.testing.assert_allclose(out.array, ref, rtol=0, atol=1e-5)
    assert np.abs(out.array - plain(sd_dm, "a castle", seed=4)).max() > 1e-3


def test_one_batched_forward_per_step(sdxl_dm, make_spec):
    unet = sdxl_dm.pipe.unet
    asked, computed = [], []
    # hooks run in registration order: these spies see the pipeline's own CFG batch (before our
    # pre-hook widens it) and the widened prediction (before our hook folds it back)
    h1 = unet.register_forward_pre_hook(
        lambda m, args, kwargs: asked.append(args[0].shape[0]), with_kwargs=True
    )
    h2 = unet.register_forward_hook(lambda m, args, out: computed.append(out[0].shape[0]))
    try:
        spec = make_spec(terms=[(1.0, "castle"), (0.5, "winter"), (-0.5, "summer")], level="noise")
        run(generate_image(sdxl_dm, spec))
    finally:
        h1.remove()
        h2.remove()
    assert asked == [2, 2]  # [uncond, cond] per step
    assert computed == [4, 4]  # [uncond, castle, winter, summer] in one forward pass
    assert len(unet._forward_pre_hooks) == 0 and len(unet._forward_hooks) == 0


def test_noise_level_from_an_expression(sd_dm, make_spec):
    from workbench.diffusion.embeddings import encode_concept

    concepts = {n: encode_concept(sd_dm, n) for n in ("castle", "winter")}
    spec = spec_from_expression("castle + 0.5*winter", concepts, level="noise")
    assert [w for w, _ in spec.terms] == [1.0, 0.5]
    spec = spec.replace(steps=2, width=64, height=64)
    by_name = run(
        generate_image(sd_dm, make_spec(terms=[(1.0, "castle"), (0.5, "winter")], level="noise"))
    )
    np.testing.assert_array_equal(run(generate_image(sd_dm, spec)).array, by_name.array)
    with pytest.raises(WorkbenchError):  # a non-linear expression cannot be composed
        spec_from_expression("normalize(castle)", concepts, level="noise")


def test_noise_level_needs_guidance(sd_dm, make_spec):
    with pytest.raises(WorkbenchError, match="guidance > 1"):
        run(generate_image(sd_dm, make_spec(terms=[(1.0, "castle")], level="noise", guidance=1.0)))
