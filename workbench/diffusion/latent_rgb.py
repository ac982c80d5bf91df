"""A linear latent -> RGB map fitted to the pipeline's own VAE, for cheap per-step previews.

:func:`fit_latent_rgb` encodes a small fixed set of synthetic probe images (a palette mosaic,
random colour patches, gradients and seeded smooth-noise textures) with the VAE's encoder, takes
the posterior mean, brings it into the space the denoiser works in (:func:`latent_normalization`:
``scaling_factor``, and ``shift_factor`` or ``latents_mean``/``latents_std`` where the family's
pipeline applies them), average-pools each probe image to the latent grid, and solves the least
squares problem ``rgb = latent · F + b`` (RGB in [-1, 1]; float64 on the CPU, so the result does
not depend on the device). The probes are drawn from a fixed seed: the same VAE gives the same
fit. Its cost is one encoder pass over eight images of 8-32 latent cells a side (64 px for an
8x VAE): about 1-2 s for an SD-sized VAE on a 2-core CPU, tens of milliseconds for the tiny test
VAEs.

:func:`latent_rgb_for` caches the fit per VAE: in memory for the VAE object (so for the loaded
pipeline that holds it) and on disk under the user cache folder, keyed by a hash of the VAE's
class and config, the latent normalisation and a few encoder tensors' bytes, so a real model is
fitted once. Any failure (an exotic VAE, non-finite latents, an unreadable cache) is logged and
gives ``None``: the preview then falls back to a min-max view.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import compat

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: bump when the probe images, the fit or the file layout change (old cache files are ignored)
FIT_VERSION = 1
PROBE_SEED = 20240531
_PROBES = 8  # images in the probe set
_HASH_CAP = 1 << 20  # elements of one tensor that go into the weights fingerprint


@dataclass(frozen=True, eq=False)
class LatentRGB:
    """``rgb = latent · factors + bias`` on latents as the denoiser sees them; RGB in [-1, 1]."""

    factors: torch.Tensor  # [C, 3] float32, CPU
    bias: torch.Tensor  # [3]
    rmse: float  # residual on the probe set, in [-1, 1] RGB units
    baseline_rmse: float  # predicting each colour's mean instead (the spread of the targets)
    samples: int  # latent cells the fit used
    seconds: float = 0.0  # time the fit took (0 when read from the cache)

    @property
    def channels(self) -> int:
        return int(self.factors.shape[0])

    @property
    def r2(self) -> float:
        """Share of the pooled probe images' variance the map explains."""
        if self.baseline_rmse <= 0:
            return 0.0
        return 1.0 - (self.rmse / self.baseline_rmse) ** 2

    def apply(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, C, h, w] -> [B, 3, h, w] RGB in [-1, 1] (unclipped), float32 on the CPU."""
        import torch

        x = latents.detach().float().cpu()
        return torch.einsum("bchw,cr->brhw", x, self.factors) + self.bias.view(1, 3, 1, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FIT_VERSION,
            "factors": self.factors.tolist(),
            "bias": self.bias.tolist(),
            "rmse": self.rmse,
            "baseline_rmse": self.baseline_rmse,
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatentRGB:
        import torch

        if data.get("version") != FIT_VERSION:
            raise ValueError(f"cache format {data.get('version')!r}, expected {FIT_VERSION}")
        factors = torch.tensor(data["factors"], dtype=torch.float32)
        bias = torch.tensor(data["bias"], dtype=torch.float32)
        if factors.ndim != 2 or factors.shape[1] != 3 or bias.shape != (3,):
            raise ValueError(f"factors {tuple(factors.shape)}, bias {tuple(bias.shape)}")
        if not (torch.isfinite(factors).all() and torch.isfinite(bias).all()):
            raise ValueError("non-finite factors")
        return cls(
            factors,
            bias,
            float(data["rmse"]),
            float(data["baseline_rmse"]),
            int(data["samples"]),
        )


# ------------------------------------------------------------------------------ normalisation
def latent_normalization(vae: Any, family: str | None = None) -> tuple[list[float], list[float]]:
    """``(shift, scale)``, per channel or one value each: the denoiser's latent is
    ``(z - shift) * scale`` for the VAE's latent ``z``, as the family's pipeline decodes it.

    SD 1.x/2.x: ``z · scaling_factor``. SDXL: the same, or with per-channel
    ``latents_mean``/``latents_std`` when the config has both. SD3/Flux:
    ``(z - shift_factor) · scaling_factor``. Unknown families: whatever the config declares.
    """
    cfg = getattr(vae, "config", None)

    def get(name: str) -> Any:
        if cfg is None:
            return None
        if isinstance(cfg, dict):
            return cfg.get(name)
        return getattr(cfg, name, None)

    scaling = get("scaling_factor")
    scaling = 1.0 if scaling is None else float(scaling)
    mean, std = get("latents_mean"), get("latents_std")
    shift_factor = get("shift_factor")
    if family in (None, "sdxl") and mean is not None and std is not None:
        return [float(m) for m in mean], [scaling / float(s) for s in std]
    if family in (None, "sd3", "flux") and shift_factor is not None:
        return [float(shift_factor)], [scaling]
    return [0.0], [scaling]


# ------------------------------------------------------------------------------ probe images
def _scale_factor(vae: Any) -> int:
    """Pixels per latent cell, from the config (the probe size adapts to it)."""
    cfg = getattr(vae, "config", None)
    blocks = getattr(cfg, "block_out_channels", None) or getattr(
        cfg, "encoder_block_out_channels", None
    )
    if blocks:
        return 2 ** (len(blocks) - 1)
    return 8


def probe_images(cells: int, factor: int) -> torch.Tensor:
    """The fixed probe set: ``[8, 3, cells·factor, cells·factor]`` in [-1, 1].

    Patterns are laid out on the latent grid (patches of 2x2 cells, noise at 1/2 and 1/4 of the
    grid's resolution) so that each pooled cell holds a meaningful colour, whatever the VAE's
    downsampling; two textures add pixel-level noise. Deterministic: a fixed-seed CPU generator.
    """
    import torch
    import torch.nn.functional as F

    size = cells * factor
    g = torch.Generator("cpu").manual_seed(PROBE_SEED)

    def up(small: torch.Tensor, mode: str) -> torch.Tensor:
        kw = {} if mode == "nearest" else {"align_corners": False}
        return F.interpolate(small[None], size=(size, size), mode=mode, **kw)[0]

    palette = torch.tensor(
        [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 0],
         [.25, .25, .25], [.5, .5, .5], [.75, .75, .75], [.9, .7, .55], [.35, .6, .9],
         [.2, .5, .15], [.45, .3, .15], [.95, .55, .1]],
    )  # fmt: skip
    side = max(cells // 2, 1)
    mosaic = palette[torch.arange(side * side) % len(palette)].T.reshape(3, side, side)
    images = [
        up(mosaic, "nearest"),
        up(torch.rand(3, side, side, generator=g), "nearest"),  # random colour patches
    ]
    lin = torch.linspace(0, 1, size)
    x, y = lin.view(1, size).expand(size, size), lin.view(size, 1).expand(size, size)
    images.append(torch.stack([x, y, 1 - x]))
    images.append(torch.stack([1 - y, (x + y) / 2, y * (1 - x) + x * y * 0.5]))
    for k in range(_PROBES - len(images)):
        res = max(cells // (4 if k % 2 == 0 else 2), 2)
        smooth = up(torch.rand(3, res, res, generator=g), "bilinear")
        if k >= 2:
            smooth = smooth + 0.2 * (torch.rand(3, size, size, generator=g) - 0.5)
        images.append(smooth.clamp(0, 1))
    return torch.stack(images) * 2 - 1


# -------------------------------------------------------------------------------------- fit
def _encode_mean(vae: Any, x: torch.Tensor) -> torch.Tensor:
    """The posterior mean (AutoencoderKL), or the latents of a deterministic encoder
    (AutoencoderTiny)."""
    import torch

    out = vae.encode(x)
    dist = getattr(out, "latent_dist", None)
    if dist is None and isinstance(out, tuple) and out and not torch.is_tensor(out[0]):
        dist = out[0]
    if dist is not None:
        z = dist.mean
    elif hasattr(out, "latents"):
        z = out.latents
    elif isinstance(out, tuple) and out:
        z = out[0]
    else:
        z = out
    if not torch.is_tensor(z) or z.ndim != 4:
        raise ValueError(f"the VAE's encoder gave {type(z).__name__}, not [B, C, h, w] latents")
    return z


def fit_latent_rgb(
    vae: Any,
    family: str | None = None,
    *,
    device: Any = None,
    cells: int | None = None,
) -> LatentRGB:
    """Fit ``rgb = latent · F + b`` for this VAE (see the module docstring). Raises on failure.

    ``device``: where to encode (default: the VAE's parameters' device; pass the pipeline's
    execution device under CPU offload). ``cells``: the probe's latent grid side (default:
    64 px worth, between 8 and 32 cells).
    """
    import torch
    import torch.nn.functional as F

    start = time.perf_counter()
    factor = _scale_factor(vae)
    cells = cells or min(max(64 // factor, 8), 32)
    images = probe_images(cells, factor)
    param = next(iter(vae.parameters()), None)
    dtype = param.dtype if param is not None else torch.float32
    if device is None:
        device = param.device if param is not None and param.device.type != "meta" else "cpu"
    with torch.no_grad():
        z = _encode_mean(vae, images.to(device, dtype))
        if not torch.isfinite(z).all() and dtype in (torch.float16, torch.bfloat16):
            # what diffusers does for VAEs that overflow in half precision (force_upcast)
            vae.to(dtype=torch.float32)
            try:
                z = _encode_mean(vae, images.to(device, torch.float32))
            finally:
                vae.to(dtype=dtype)
    z = z.detach().to("cpu", torch.float64)
    if not torch.isfinite(z).all():
        raise ValueError("the VAE's encoder gave non-finite latents for the probe images")
    shift, scale = latent_normalization(vae, family)
    c = z.shape[1]
    for name, v in (("shift", shift), ("scale", scale)):
        if len(v) not in (1, c):
            raise ValueError(f"{len(v)} {name} values for {c} latent channels")
    z = (z - torch.tensor(shift, dtype=z.dtype).view(1, -1, 1, 1)) * torch.tensor(
        scale, dtype=z.dtype
    ).view(1, -1, 1, 1)
    h, w = z.shape[-2:]
    target = F.adaptive_avg_pool2d(images.double(), (h, w))
    if h >= 6 and w >= 6:  # border cells see the encoder's zero padding; latents rarely do
        z, target = z[..., 1:-1, 1:-1], target[..., 1:-1, 1:-1]
    a = z.permute(0, 2, 3, 1).reshape(-1, c)
    b = target.permute(0, 2, 3, 1).reshape(-1, 3)
    design = torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype)], dim=1)
    solution = torch.linalg.lstsq(design, b, driver="gelsd").solution  # [C + 1, 3]
    residual = design @ solution - b
    rmse = float(residual.pow(2).mean().sqrt())
    baseline = float((b - b.mean(dim=0)).pow(2).mean().sqrt())
    if not torch.isfinite(solution).all():
        raise ValueError("the least-squares fit is not finite")
    return LatentRGB(
        solution[:c].float().contiguous(),
        solution[c].float().contiguous(),
        rmse,
        baseline,
        len(a),
        time.perf_counter() - start,
    )


# ------------------------------------------------------------------------------------ caching
_MEMORY: weakref.WeakKeyDictionary[Any, dict[str, LatentRGB | None]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def vae_fingerprint(vae: Any, family: str | None = None) -> str | None:
    """Hash of the VAE's class, config (minus private keys), latent normalisation, probe set and
    a few encoder tensors' bytes (the fit depends on the encoder alone). ``None`` when the
    weights cannot be read (offloaded to the meta device)."""
    import torch

    h = hashlib.sha256(f"latent-rgb v{FIT_VERSION} probes {PROBE_SEED}".encode())
    h.update(type(vae).__qualname__.encode())
    cfg = getattr(vae, "config", None) or {}
    public = {k: v for k, v in dict(cfg).items() if not str(k).startswith("_")}
    h.update(json.dumps(public, sort_keys=True, default=str).encode())
    h.update(json.dumps(latent_normalization(vae, family)).encode())
    state = vae.state_dict()
    names = sorted(state)
    encoder = [n for n in names if n.startswith(("encoder.", "quant_conv."))] or names
    picked = dict.fromkeys(encoder[:4] + encoder[-4:] + [n for n in names if "quant_conv" in n])
    if not picked:
        return None
    for name in picked:
        t = state[name]
        if t.device.type == "meta":
            return None
        h.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
        flat = t.detach().reshape(-1)[:_HASH_CAP].cpu().contiguous()
        h.update(flat.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _cache_file(key: str) -> Path:
    from workbench.paths import cache_dir

    return cache_dir() / "latent_rgb" / f"v{FIT_VERSION}-{key[:32]}.json"


def _read_cache(key: str) -> LatentRGB | None:
    path = _cache_file(key)
    if not path.is_file():
        return None
    try:
        return LatentRGB.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the latent preview cache %s: %s", path, exc)
        return None


def _write_cache(key: str, fit: LatentRGB, vae: Any) -> None:
    path = _cache_file(key)
    data = {**fit.to_json(), "vae": type(vae).__name__, "fit_seconds": round(fit.seconds, 3)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write the latent preview cache %s: %s", path, exc)


def latent_rgb_for(pipe: Any, family: str | None = None) -> LatentRGB | None:
    """The fitted map for ``pipe.vae``: from memory, else the disk cache, else fitted now (and
    stored in both). ``None`` (logged once per VAE) when it cannot be had; never raises."""
    try:
        return _latent_rgb_for(pipe, family)
    except Exception as exc:  # noqa: BLE001 - a preview must never break a generation
        log.warning("latent preview: no fitted map (%s: %s); min-max view", type(exc).__name__, exc)
        return None


def _latent_rgb_for(pipe: Any, family: str | None) -> LatentRGB | None:
    vae = getattr(pipe, "vae", None)
    if vae is None:
        return None
    slot = family or ""
    known = _MEMORY.get(vae)
    if known is not None and slot in known:
        return known[slot]
    with _LOCK:
        known = _MEMORY.get(vae)
        if known is not None and slot in known:
            return known[slot]
        fit = _obtain(pipe, vae, family)
        _MEMORY.setdefault(vae, {})[slot] = fit
    return fit


def _obtain(pipe: Any, vae: Any, family: str | None) -> LatentRGB | None:
    try:
        key = vae_fingerprint(vae, family)
    except Exception as exc:  # noqa: BLE001 - the disk cache is an optimisation
        log.warning("latent preview: cannot fingerprint %s (%s); no disk cache", type(vae), exc)
        key = None
    if key is not None:
        cached = _read_cache(key)
        if cached is not None:
            return cached
    try:
        device = compat.execution_device(pipe)
    except Exception:  # noqa: BLE001
        device = None
    try:
        fit = fit_latent_rgb(vae, family, device=device)
    except Exception as exc:  # noqa: BLE001 - a preview must never break a generation
        log.warning(
            "latent preview: could not fit a latent -> RGB map for this %s (%s: %s); previews "
            "show the latents min-max scaled instead",
            type(vae).__name__,
            type(exc).__name__,
            exc,
        )
        return None
    log.info(
        "latent preview: fitted %s (%d channels) in %.2f s, rmse %.3f (R² %.2f)",
        type(vae).__name__,
        fit.channels,
        fit.seconds,
        fit.rmse,
        fit.r2,
    )
    if key is not None:
        _write_cache(key, fit, vae)
    return fit


def prepare_latent_rgb(dm: Any) -> LatentRGB | None:
    """Fit (or read from the cache) the map for a just-loaded :class:`DiffusionModel`, so that
    the first preview does not pay for it. Never raises."""
    fit = latent_rgb_for(dm.pipe, dm.family)
    if fit is not None and fit.seconds > 0 and getattr(dm, "offload", None) == "model":
        try:  # the probe encode moved the VAE to the GPU; put every component back
            dm.pipe.maybe_free_model_hooks()
        except Exception as exc:  # noqa: BLE001
            log.warning("latent preview: could not offload the VAE again: %s", exc)
    return fit


def forget(vae: Any) -> None:
    """Drop the in-memory fit of ``vae`` (tests; a VAE whose weights were changed in place)."""
    _MEMORY.pop(vae, None)
