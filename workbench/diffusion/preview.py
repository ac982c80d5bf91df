"""Cheap per-step previews: the x0 estimate through a linear latent -> RGB map fitted to the VAE.

The x0 estimate comes from the scheduler's own step when it reports one
(``pred_original_sample``: DDIM, DDPM, Euler, Euler-ancestral, Heun, LMS, ...); otherwise from

- flow matching (SD3, Flux): ``x0 = x_t - σ_t·v``;
- variance-preserving schedulers (DPM-Solver, UniPC, PNDM, DEIS):
  ``x0 = (x_t - sqrt(1-ᾱ_t)·ε) / sqrt(ᾱ_t)`` (ε-prediction),
  ``x0 = sqrt(ᾱ_t)·x_t - sqrt(1-ᾱ_t)·v`` (v-prediction).

Latent -> RGB: ``rgb = Σ_c latent_c · F[c] + bias``, then ``(rgb + 1) / 2`` clipped to [0, 1], on
latents as the denoiser sees them (scaled, and shifted for SD3/Flux). ``F`` and ``bias`` are
fitted to the pipeline's own VAE (:mod:`workbench.diffusion.latent_rgb`: least squares from the
encoder's latents of a fixed set of synthetic probe images to those images average-pooled to
the latent grid), once per VAE and cached in memory and on disk, so any VAE (any family, any
channel count) gets a fitted preview. When no fit can be had, the preview falls back to a
channel-wise min-max view. The preview has the latent's size (1/8 of the image); the panel
scales it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from workbench import compat
from workbench.diffusion.latent_rgb import LatentRGB, latent_rgb_for

if TYPE_CHECKING:
    import torch
    from PIL import Image


def latents_to_rgb(latents: torch.Tensor, fit: LatentRGB | None = None) -> list[Image.Image]:
    """[batch, channels, h, w] latents -> one small RGB image per batch item.

    Without a fit (or one for another channel count) the first three channels (or grey) are
    each min-max scaled, which still shows composition.
    """
    import torch
    from PIL import Image

    x = latents.detach().float().cpu()
    if fit is not None and fit.channels == x.shape[1]:
        rgb = ((fit.apply(x) + 1.0) / 2.0).clamp(0.0, 1.0)
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
    """x0 (in the pipeline's latent layout) -> small RGB previews, through the map fitted to the
    pipeline's VAE (fitted on the first call if the load did not)."""
    if family == "flux":  # packed [batch, seq, 64] -> [batch, 16, h, w]
        x0 = compat.unpack_latents(pipe, x0, height, width)
    return latents_to_rgb(x0, latent_rgb_for(pipe, family))
