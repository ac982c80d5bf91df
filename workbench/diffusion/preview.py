"""Cheap per-step previews: the x0 estimate through a fixed linear latent -> RGB map.

The x0 estimate comes from the scheduler's own step when it reports one
(``pred_original_sample``: DDIM, DDPM, Euler, Euler-ancestral, Heun, LMS, ...); otherwise from

- flow matching (SD3, Flux): ``x0 = x_t - σ_t·v``;
- variance-preserving schedulers (DPM-Solver, UniPC, PNDM, DEIS):
  ``x0 = (x_t - sqrt(1-ᾱ_t)·ε) / sqrt(ᾱ_t)`` (ε-prediction),
  ``x0 = sqrt(ᾱ_t)·x_t - sqrt(1-ᾱ_t)·v`` (v-prediction).

Latent -> RGB: ``rgb = Σ_c latent_c · F[c] + bias``, then ``(rgb + 1) / 2`` clipped to [0, 1], on
latents as the denoiser sees them (scaled, and shifted for SD3/Flux). The factors are the
widely used linear fits of each family's VAE decoder, as tabulated in ComfyUI's
``comfy/latent_formats.py`` (numeric data; SD1.x/2.x share the SD1.5 VAE, and an unknown
latent layout falls back to a channel-wise min-max view). The preview has the
latent's size (1/8 of the image); the panel scales it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL import Image

# rows: latent channels; columns: R, G, B
LATENT_RGB_FACTORS: dict[str, list[list[float]]] = {
    "sd": [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ],
    "sdxl": [
        [0.3651, 0.4232, 0.4341],
        [-0.2533, -0.0042, 0.1068],
        [0.1076, 0.1111, -0.0362],
        [-0.3165, -0.2492, -0.2188],
    ],
    "sd3": [
        [-0.0922, -0.0175, 0.0749],
        [0.0311, 0.0633, 0.0954],
        [0.1994, 0.0927, 0.0458],
        [0.0856, 0.0339, 0.0902],
        [0.0587, 0.0272, -0.0496],
        [-0.0006, 0.1104, 0.0309],
        [0.0978, 0.0306, 0.0427],
        [-0.0042, 0.1038, 0.1358],
        [-0.0194, 0.0020, 0.0669],
        [-0.0488, 0.0130, -0.0268],
        [0.0922, 0.0988, 0.0951],
        [-0.0278, 0.0524, -0.0542],
        [0.0332, 0.0456, 0.0895],
        [-0.0069, -0.0030, -0.0810],
        [-0.0596, -0.0465, -0.0293],
        [-0.1448, -0.1463, -0.1189],
    ],  # fmt: skip
    "flux": [
        [-0.0346, 0.0244, 0.0681],
        [0.0034, 0.0210, 0.0687],
        [0.0275, -0.0668, -0.0433],
        [-0.0174, 0.0160, 0.0617],
        [0.0859, 0.0721, 0.0329],
        [0.0004, 0.0383, 0.0115],
        [0.0405, 0.0861, 0.0915],
        [-0.0236, -0.0185, -0.0259],
        [-0.0245, 0.0250, 0.1180],
        [0.1008, 0.0755, -0.0421],
        [-0.0515, 0.0201, 0.0011],
        [0.0428, -0.0012, -0.0036],
        [0.0817, 0.0765, 0.0749],
        [-0.1264, -0.0522, -0.1103],
        [-0.0280, -0.0881, -0.0499],
        [-0.1262, -0.0982, -0.0778],
    ],  # fmt: skip
}
LATENT_RGB_BIAS: dict[str, list[float]] = {
    "sd": [0.0, 0.0, 0.0],
    "sdxl": [0.1084, -0.0175, -0.0011],
    "sd3": [0.2394, 0.2135, 0.1925],
    "flux": [-0.0329, -0.0718, -0.0851],
}


def latents_to_rgb(latents: torch.Tensor, family: str) -> list[Image.Image]:
    """[batch, channels, h, w] latents -> one small RGB image per batch item.

    An unknown channel count (a custom VAE) falls back to the first three channels (or grey),
    each min-max scaled, which still shows composition.
    """
    import torch
    from PIL import Image

    x = latents.detach().float().cpu()
    factors = LATENT_RGB_FACTORS.get(family)
    if factors is not None and len(factors) == x.shape[1]:
        f = torch.tensor(factors)  # [C, 3]
        rgb = torch.einsum("bchw,cr->brhw", x, f) + torch.tensor(LATENT_RGB_BIAS[family]).view(
            1, 3, 1, 1
        )
        rgb = ((rgb + 1.0) / 2.0).clamp(0.0, 1.0)
    else:
        rgb = x[:, [k % x.shape[1] for k in range(3)]]  # grey for 1-channel latents
        lo = rgb.amin(dim=(2, 3), keepdim=True)
        hi = rgb.amax(dim=(2, 3), keepdim=True)
        rgb = (rgb - lo) / (hi - lo).clamp_min(1e-6)
    arr = (rgb.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    return [Image.fromarray(a) for a in arr]


def x0_from_prediction(
    scheduler: Any, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor
) -> torch.Tensor | None:
    """x0 from a noise/velocity prediction, for schedulers that do not report it. Call after
    ``scheduler.step`` (flow-matching schedulers have advanced ``step_index`` by one)."""
    if "FlowMatch" in type(scheduler).__name__:
        sigma = scheduler.sigmas[scheduler.step_index - 1].to(sample.device, sample.dtype)
        return sample - sigma * model_output
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is None:
        return None
    t = int(timestep.item() if hasattr(timestep, "item") else timestep)
    a = alphas[t].to(sample.device, sample.dtype)
    kind = scheduler.config.get("prediction_type", "epsilon")
    if kind == "epsilon":
        return (sample - (1 - a).sqrt() * model_output) / a.sqrt()
    if kind == "v_prediction":
        return a.sqrt() * sample - (1 - a).sqrt() * model_output
    if kind == "sample":
        return model_output
    return None


class X0Capture:
    """Holds the latest x0 estimate while :func:`capture_x0` is active."""

    x0: torch.Tensor | None = None


@contextmanager
def capture_x0(scheduler: Any) -> Iterator[X0Capture]:
    """Wrap ``scheduler.step`` (on this instance only) to keep each step's x0 estimate."""
    holder = X0Capture()
    original = scheduler.step
    had_own = "step" in vars(scheduler)

    # wraps: pipelines read inspect.signature(scheduler.step) to decide whether to pass
    # ``generator`` and ``eta``; without it, ancestral samplers would draw unseeded noise
    @functools.wraps(original)
    def step(model_output: Any, timestep: Any, sample: Any, *args: Any, **kwargs: Any) -> Any:
        return_dict = kwargs.pop("return_dict", True)
        out = original(model_output, timestep, sample, *args, return_dict=True, **kwargs)
        x0 = getattr(out, "pred_original_sample", None)
        if x0 is None:
            x0 = x0_from_prediction(scheduler, model_output, timestep, sample)
        holder.x0 = x0
        return out if return_dict else out.to_tuple()

    scheduler.step = step
    try:
        yield holder
    finally:
        if had_own:
            scheduler.step = original
        else:
            del scheduler.step


def preview_images(pipe: Any, family: str, x0: torch.Tensor, height: int, width: int) -> list:
    """x0 (in the pipeline's latent layout) -> small RGB previews."""
    if family == "flux":  # packed [batch, seq, 64] -> [batch, 16, h, w]
        x0 = pipe._unpack_latents(x0, height, width, pipe.vae_scale_factor)
    return latents_to_rgb(x0, family)
