"""Per-step previews: the latent -> RGB map fitted to the pipeline's own VAE, its caches, and
the min-max fallback.

The tiny VAEs are random, so their latents carry colour only weakly (GroupNorm removes much
of it): on them the fit must explain some variance and beat the min-max view. A linear stand-in
VAE (pooling then a 1x1 map, exactly invertible on its range) checks that the fit itself is
exact: scaling, shift, pooling and least squares all line up.
"""

from __future__ import annotations

import copy
import json
import logging
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench.diffusion import latent_rgb
from workbench.diffusion.generate import generate_image
from workbench.diffusion.latent_rgb import (
    LatentRGB,
    fit_latent_rgb,
    latent_normalization,
    latent_rgb_for,
    prepare_latent_rgb,
    probe_images,
)
from workbench.diffusion.preview import latents_to_rgb, preview_images
from workbench.diffusion.tiny import _flow_vae, _vae
from workbench.jobs import run


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty disk cache for this test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(folder))
    return folder / "latent_rgb"


class _Config(dict):
    __getattr__ = dict.get


class _Out:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class LinearVAE(torch.nn.Module):
    """``z = M · avgpool4(rgb) + c``; ``decode`` inverts it on the range of ``M``."""

    def __init__(self, scaling_factor=0.7, shift_factor=0.2):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.m = torch.nn.Parameter(torch.randn(4, 3, generator=g))
        self.c = torch.nn.Parameter(torch.randn(4, generator=g))
        self.config = _Config(
            block_out_channels=(8, 8, 8), scaling_factor=scaling_factor, shift_factor=shift_factor
        )

    def encode(self, x):
        z = torch.einsum("cr,brhw->bchw", self.m, F.avg_pool2d(x, 4)) + self.c.view(1, 4, 1, 1)
        return _Out(latent_dist=_Out(mean=z))

    def decode(self, z):
        rgb = torch.einsum("rc,bchw->brhw", torch.linalg.pinv(self.m), z - self.c.view(1, 4, 1, 1))
        return _Out(sample=F.interpolate(rgb, scale_factor=4, mode="nearest"))


def _held_out_image(size: int, seed: int = 99) -> torch.Tensor:
    """A smooth random image unlike the probes (another seed), in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, 3, 3, generator=g)
    return F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False) * 2 - 1


def _denoiser_latent(vae, family, image):
    """The image's latent as the denoiser sees it, and the VAE's pooled decode of it in [0, 1]."""
    shift, scale = latent_normalization(vae, family)
    with torch.no_grad():
        z = vae.encode(image).latent_dist.mean
        decoded = vae.decode(z).sample
    latent = (z - torch.tensor(shift).view(1, -1, 1, 1)) * torch.tensor(scale).view(1, -1, 1, 1)
    pooled = F.adaptive_avg_pool2d(decoded, latent.shape[-2:])
    return latent, ((pooled + 1) / 2).clamp(0, 1)[0].permute(1, 2, 0).numpy()


def _error(images, reference) -> float:
    return float(np.abs(np.asarray(images[0], dtype=np.float64) / 255 - reference).mean())


# ------------------------------------------------------------------------------------ the fit
@pytest.mark.parametrize("family", ["sd", "sd3"])
def test_fit_is_exact_for_a_linear_vae(family):
    vae = LinearVAE()
    fit = fit_latent_rgb(vae, family)
    assert fit.factors.shape == (4, 3) and fit.bias.shape == (3,)
    assert fit.rmse < 1e-5 and fit.r2 > 0.9999
    latent, reference = _denoiser_latent(vae, family, _held_out_image(64))
    preview = latents_to_rgb(latent, fit)
    assert preview[0].size == (16, 16)
    assert _error(preview, reference) < 1 / 255  # rounding only
    assert _error(latents_to_rgb(latent, None), reference) > 0.05


def test_fit_on_a_tiny_vae_reports_its_error(sd_dm):
    vae = sd_dm.pipe.vae
    fit = fit_latent_rgb(vae, "sd")
    assert fit.channels == 4 and torch.isfinite(fit.factors).all()
    # the reported error is the map's error on the pooled probe images (interior cells)
    images = probe_images(32, 2)
    with torch.no_grad():
        z = vae.encode(images).latent_dist.mean * vae.config.scaling_factor
    rgb = fit.apply(z)[..., 1:-1, 1:-1].double()
    target = F.adaptive_avg_pool2d(images, (32, 32))[..., 1:-1, 1:-1].double()
    assert fit.samples == 8 * 30 * 30
    assert abs(float((rgb - target).pow(2).mean().sqrt()) - fit.rmse) < 1e-5
    # a random encoder keeps some colour: the map explains part of the variance
    assert fit.baseline_rmse > 0.3 and fit.rmse < 0.97 * fit.baseline_rmse
    again = fit_latent_rgb(vae, "sd")  # deterministic
    assert torch.equal(again.factors, fit.factors) and torch.equal(again.bias, fit.bias)


@pytest.mark.parametrize("which", ["sd_dm", "sd3_dm"])
def test_preview_is_closer_to_the_decode_than_min_max(which, request):
    dm = request.getfixturevalue(which)
    vae = dm.pipe.vae
    fit = fit_latent_rgb(vae, dm.family)
    size = 64 if dm.family == "sd" else 32
    for seed in (99, 100):
        latent, reference = _denoiser_latent(vae, dm.family, _held_out_image(size, seed))
        fitted = _error(latents_to_rgb(latent, fit), reference)
        min_max = _error(latents_to_rgb(latent, None), reference)
        assert fitted < 0.75 * min_max, (fitted, min_max)


def test_latent_normalization_follows_each_pipeline():
    vae = _flow_vae(4)  # scaling 1.5035, shift 0.0609
    assert latent_normalization(vae, "sd3") == ([0.0609], [1.5035])
    assert latent_normalization(vae, "flux") == ([0.0609], [1.5035])
    assert latent_normalization(vae, "sd") == ([0.0], [1.5035])  # SD pipelines ignore the shift
    xl = types.SimpleNamespace(
        config={"scaling_factor": 0.5, "latents_mean": [1, 2], "latents_std": [2, 4]}
    )
    assert latent_normalization(xl, "sdxl") == ([1.0, 2.0], [0.25, 0.125])
    assert latent_normalization(types.SimpleNamespace(config={}), "sd") == ([0.0], [1.0])


def test_latents_to_rgb_with_and_without_a_fit():
    fit = LatentRGB(torch.eye(4, 3), torch.tensor([0.0, 0.5, -1.0]), 0.0, 1.0, 1)
    latent = torch.zeros(1, 4, 2, 2)
    latent[0, 0] = 1.0  # channel 0: rgb = F[0] + bias = (1, 0.5, -1)
    assert latents_to_rgb(latent, fit)[0].getpixel((0, 0)) == (255, 191, 0)
    assert latents_to_rgb(torch.zeros(2, 4, 3, 5), fit)[1].size == (5, 3)
    # another channel count (or no fit): min-max of the first three channels
    assert latents_to_rgb(torch.randn(1, 6, 4, 4), fit)[0].size == (4, 4)
    grey = np.asarray(latents_to_rgb(torch.randn(1, 1, 4, 4), None)[0])
    assert (grey[..., 0] == grey[..., 2]).all() and grey.min() == 0 and grey.max() == 255


# --------------------------------------------------------------------------------- the caches
def _counting(vae, monkeypatch):
    calls = []
    original = vae.encode

    def encode(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(vae, "encode", encode, raising=False)
    return calls


def test_the_fit_is_cached_in_memory_and_on_disk(cache, monkeypatch):
    torch.manual_seed(5)
    vae = _vae()
    twin = copy.deepcopy(vae)  # same config and weights, another object
    pipe = types.SimpleNamespace(vae=vae)
    calls = _counting(vae, monkeypatch)
    first = latent_rgb_for(pipe, "sd")
    assert first is not None and first.seconds > 0 and len(calls) == 1
    assert len(list(cache.glob("*.json"))) == 1
    assert latent_rgb_for(pipe, "sd") is first and len(calls) == 1  # memory
    latent_rgb.forget(vae)
    from_disk = latent_rgb_for(pipe, "sd")
    assert len(calls) == 1 and from_disk is not first and from_disk.seconds == 0
    assert torch.equal(from_disk.factors, first.factors) and from_disk.rmse == first.rmse
    twin_calls = _counting(twin, monkeypatch)
    assert torch.equal(latent_rgb_for(types.SimpleNamespace(vae=twin), "sd").bias, first.bias)
    assert twin_calls == []
    # other weights (or another family's normalisation): another key, a new fit
    with torch.no_grad():
        twin.encoder.conv_in.weight.mul_(2)
    latent_rgb.forget(twin)
    assert latent_rgb_for(types.SimpleNamespace(vae=twin), "sd") is not None
    assert len(twin_calls) == 1 and len(list(cache.glob("*.json"))) == 2


def test_a_damaged_cache_file_is_refitted(cache, monkeypatch, caplog):
    torch.manual_seed(6)
    vae = _vae()
    pipe = types.SimpleNamespace(vae=vae)
    calls = _counting(vae, monkeypatch)
    latent_rgb_for(pipe, "sd")
    (path,) = cache.glob("*.json")
    path.write_text("{not json")
    latent_rgb.forget(vae)
    with caplog.at_level(logging.WARNING, logger="workbench.diffusion.latent_rgb"):
        assert latent_rgb_for(pipe, "sd") is not None
    assert len(calls) == 2 and "ignoring the latent preview cache" in caplog.text
    assert LatentRGB.from_json(json.loads(path.read_text())).channels == 4


def test_a_vae_that_fails_gives_the_min_max_view(cache, monkeypatch, caplog):
    torch.manual_seed(7)
    vae = _vae()
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("no encoder here")

    monkeypatch.setattr(vae, "encode", broken, raising=False)
    pipe = types.SimpleNamespace(vae=vae)
    with caplog.at_level(logging.WARNING, logger="workbench.diffusion.latent_rgb"):
        assert latent_rgb_for(pipe, "sd") is None
    assert "no encoder here" in caplog.text and "min-max" in caplog.text
    x0 = torch.randn(1, 4, 8, 8)
    images = preview_images(pipe, "sd", x0, 16, 16)
    assert images[0].tobytes() == latents_to_rgb(x0, None)[0].tobytes()
    assert len(calls) == 1  # the failure is remembered: no retry on every step
    assert not cache.exists() or not list(cache.glob("*.json"))
    # no VAE at all, or one that gives non-finite latents: also the fallback
    assert latent_rgb_for(types.SimpleNamespace(), "sd") is None
    nan_vae = LinearVAE()
    with torch.no_grad():
        nan_vae.c.fill_(float("nan"))
    assert latent_rgb_for(types.SimpleNamespace(vae=nan_vae), "sd") is None


def test_prepare_at_load_then_previews_use_the_fit(cache, sd_dm, make_spec, monkeypatch):
    latent_rgb.forget(sd_dm.pipe.vae)
    fit = prepare_latent_rgb(sd_dm)
    assert fit is not None and fit.channels == 4
    calls = _counting(sd_dm.pipe.vae, monkeypatch)
    reports = []
    run(generate_image(sd_dm, make_spec(prompt="castle")), on_progress=reports.append)
    assert calls == []  # the previews reuse the fit (the final decode does not encode)
    assert all(p.payload.image is not None for p in reports)


def test_flux_previews_fit_its_one_channel_vae(flux_dm):
    fit = latent_rgb_for(flux_dm.pipe, "flux")
    assert fit is not None and fit.channels == 1
    packed = torch.randn(1, 16 * 16, 4)  # 32 px, VAE factor 1: 32x32 latents packed 2x2
    (image,) = preview_images(flux_dm.pipe, "flux", packed, 32, 32)
    assert image.size == (32, 32)
