"""Every private attribute of transformers and diffusers that the engine relies on, in one place.

These libraries have no public spelling for a few things the engine needs (which attention
implementation a config runs, where an offloaded pipeline computes, Flux's packed latents...).
Each such access is one function here, and ``tests/engine/test_compat.py`` checks each against
the installed library, one test per attribute: an upgrade that renames one breaks one named test
instead of a feature somewhere downstream. (superqt's are in ``ui/compat.py``: the engine never
imports Qt.)
"""

from __future__ import annotations

from typing import Any

# ----------------------------------------------------------------------------- transformers


def attn_implementation(config: Any) -> str | None:
    """The attention implementation a model config runs (``config._attn_implementation``:
    transformers reads it on every forward; the public ``attn_implementation`` argument only
    sets it at load)."""
    return getattr(config, "_attn_implementation", None)


def set_attn_implementation(config: Any, name: str | None) -> None:
    """Switch a loaded model's attention implementation (``config._attn_implementation``)."""
    config._attn_implementation = name


def name_or_path(config: Any) -> str:
    """The folder or hub id a config was loaded from (``config._name_or_path``), or ''."""
    return str(getattr(config, "_name_or_path", "") or "")


def tied_weights_keys(model: Any) -> Any:
    """``model._tied_weights_keys``: the weights tied to another (a dict of name -> source in
    transformers 5, a list before; None for a model without any)."""
    return getattr(model, "_tied_weights_keys", None)


# -------------------------------------------------------------------------------- diffusers


def execution_device(pipe: Any) -> Any:
    """Where a diffusers pipeline computes (``pipe._execution_device``: the GPU under CPU
    offload, where ``pipe.device`` says CPU)."""
    return pipe._execution_device


def unpack_latents(pipe: Any, latents: Any, height: int, width: int) -> Any:
    """Flux's packed ``[batch, seq, 64]`` latents as ``[batch, 16, h, w]``
    (``FluxPipeline._unpack_latents``)."""
    return pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)


def num_timesteps(pipe: Any) -> int | None:
    """The number of denoising steps of the call in flight (``pipe._num_timesteps``, set by
    ``__call__`` before the first step), or None outside a call."""
    n = getattr(pipe, "_num_timesteps", None)
    return int(n) if n else None


def diffusers_dtype_kwarg() -> str:
    """The keyword ``from_pretrained`` takes for the dtype: diffusers renamed ``torch_dtype`` to
    ``dtype`` (0.42 warns on the old name); the rename came with
    ``diffusers.utils.deprecation_utils._resolve_dtype``, the only sign of it to test."""
    try:
        from diffusers.utils import deprecation_utils
    except ImportError:
        return "torch_dtype"
    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
