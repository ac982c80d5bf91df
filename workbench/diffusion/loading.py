"""Load local diffusion pipelines, never from the network (finding them: ``catalog``).

Sources that :func:`load_diffusion_pipeline` accepts:

- a diffusers pipeline folder (``model_index.json`` plus component folders);
- ``hf-cache:<repo id>``: a snapshot in the local Hugging Face cache that holds a pipeline;
- a single checkpoint file (``.safetensors``/``.ckpt``) with ``config=`` naming a local diffusers
  folder for that family (its configs and tokenizers; weights there are used for components the
  file lacks);
- ``demo:tiny-sd``: a tiny SD1.x-style pipeline with random weights, built from config (noise,
  not pictures; for trying the workflow offline).

Families: ``sd`` (SD 1.x/2.x), ``sdxl``, ``sd3``, ``flux``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import compat
from workbench.diffusion.catalog import (
    CHECKPOINT_SUFFIXES,
    DEMO_NAME,
    DEMO_SOURCE,
    FAMILIES,
    HF_CACHE_PREFIX,
    file_sha256,
    folder_fingerprint,
    is_pipeline_folder,
    pipeline_class_name,
    resolve_cache_source,
)
from workbench.errors import ModelLoadError, UnsupportedModelError
from workbench.models.ref import ModelRef

if TYPE_CHECKING:
    import torch

#: families whose prompt conditioning has a pooled vector next to the token sequence
POOLED_FAMILIES = frozenset({"sdxl", "sd3", "flux"})


@dataclass
class DiffusionModel:
    """A loaded pipeline with what the rest of the engine needs to know about it."""

    pipe: Any  # a diffusers DiffusionPipeline
    family: str  # "sd" | "sdxl" | "sd3" | "flux"
    ref: ModelRef
    device: str = "cpu"
    dtype: torch.dtype | None = None
    offload: str | None = None  # None | "model" | "sequential"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def execution_device(self) -> torch.device:
        """Where the pipeline computes (the GPU under CPU offload). Cached: diffusers finds it by
        walking every module (~15 ms on SD); move a pipeline by loading it again."""
        if "execution_device" not in self.extra:
            self.extra["execution_device"] = compat.execution_device(self.pipe)
        return self.extra["execution_device"]

    @property
    def has_pooled(self) -> bool:
        return self.family in POOLED_FAMILIES

    @property
    def denoiser(self) -> Any:
        """The network that predicts noise (UNet) or velocity (SD3/Flux transformer)."""
        return getattr(self.pipe, "unet", None) or self.pipe.transformer

    @property
    def text_encoder_names(self) -> list[str]:
        names = ("text_encoder", "text_encoder_2", "text_encoder_3")
        return [n for n in names if getattr(self.pipe, n, None) is not None]


# ------------------------------------------------------------------------------------- loading
def _default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _resolve_dtype(dtype: Any, device: str, family: str) -> torch.dtype:
    import torch

    if dtype is None:
        if device == "cpu":
            return torch.float32
        return torch.bfloat16 if family in ("sd3", "flux") else torch.float16
    if isinstance(dtype, str):
        try:
            return {
                "float32": torch.float32,
                "fp32": torch.float32,
                "float16": torch.float16,
                "fp16": torch.float16,
                "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16,
            }[dtype]
        except KeyError:
            raise ModelLoadError(
                f"unknown dtype {dtype!r}; use float32, float16 or bfloat16"
            ) from None
    return dtype


def _weights_variant(folder: Path) -> str | None:
    """``"fp16"`` when the denoiser folder holds only ``*.fp16.*`` weights (an fp16-only clone)."""
    for sub in ("unet", "transformer"):
        d = folder / sub
        if not d.is_dir():
            continue
        weights = [p.name for p in d.iterdir() if p.suffix in (".safetensors", ".bin")]
        plain = [n for n in weights if ".fp16." not in n]
        if weights and not plain:
            return "fp16"
    return None


def _dtype_kwarg() -> str:
    """diffusers renamed ``torch_dtype`` to ``dtype`` (0.42 warns on the old name)."""
    return compat.diffusers_dtype_kwarg()


def _family_of(class_name: str, where: str) -> str:
    try:
        return FAMILIES[class_name]
    except KeyError:
        raise UnsupportedModelError(
            f"{where} holds a {class_name}; the workbench supports "
            f"{', '.join(FAMILIES)} (SD 1.x/2.x, SDXL, SD3, Flux)."
        ) from None


def load_diffusion_pipeline(
    source: str | os.PathLike[str],
    device: str | None = None,
    dtype: torch.dtype | str | None = None,
    cpu_offload: bool | str = False,
    config: str | os.PathLike[str] | None = None,
    name: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> DiffusionModel:
    """Load a local pipeline; never downloads.

    Parameters
    ----------
    source
        A pipeline folder, ``"hf-cache:<repo id>"``, or a single checkpoint file.
    device
        ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``; default: the first accelerator, else CPU.
    dtype
        Default float32 on CPU, float16 (SD/SDXL) or bfloat16 (SD3/Flux) elsewhere.
    cpu_offload
        ``True``/``"model"``: whole components move to the GPU when used (diffusers'
        ``enable_model_cpu_offload``); ``"sequential"``: layer by layer, slowest, least memory.
    config
        For a single checkpoint file: a local diffusers folder of the same family.
    """
    import torch

    src = str(source)
    if src == DEMO_SOURCE:
        return demo_pipeline(name=name)
    if src.startswith("demo:"):
        raise ModelLoadError(f"{src!r}: the demo pipeline is {DEMO_SOURCE!r}.")
    device = device or _default_device()
    checkpoint: Path | None = None
    if src.startswith(HF_CACHE_PREFIX):
        folder = resolve_cache_source(src, cache_dir)
        display = name or src[len(HF_CACHE_PREFIX) :]
    else:
        path = Path(src).expanduser()
        if not path.exists():
            raise ModelLoadError(
                f"{path} does not exist; pick a pipeline folder or checkpoint file."
            )
        if path.is_file():
            if path.suffix not in CHECKPOINT_SUFFIXES:
                raise ModelLoadError(
                    f"{path.name} is not a checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})."
                )
            if config is None or not is_pipeline_folder(config):
                raise ModelLoadError(
                    f"a single checkpoint file ({path.name}) needs config= pointing at a local "
                    "diffusers folder of the same family (model_index.json, component configs and "
                    "tokenizers); nothing is fetched from the Hub."
                )
            checkpoint, folder = path, Path(config)
        elif is_pipeline_folder(path):
            folder = path
        else:
            hint = ""
            if any(p.suffix in CHECKPOINT_SUFFIXES for p in path.iterdir()):
                hint = " It holds checkpoint files: load one of them with config=<pipeline folder>."
            raise ModelLoadError(
                f"{path} is not a diffusers pipeline folder (no model_index.json).{hint}"
            )
        display = name or (checkpoint or folder).name
        if checkpoint is not None:
            display = name or checkpoint.stem

    class_name = pipeline_class_name(folder)
    family = _family_of(class_name, str(checkpoint or folder))
    torch_dtype = _resolve_dtype(dtype, device, family)
    offload = {False: None, True: "model", "model": "model", "sequential": "sequential"}.get(
        cpu_offload, "invalid"
    )
    if offload == "invalid":
        raise ModelLoadError(
            f"cpu_offload={cpu_offload!r}; use False, True, 'model' or 'sequential'"
        )
    if offload and torch.device(device).type == "cpu":
        raise ModelLoadError(
            "CPU offload moves components between CPU memory and a GPU; the device is the CPU. "
            "Turn offload off, or choose a GPU device."
        )

    import diffusers

    cls = getattr(diffusers, class_name)
    dtype_kw = {_dtype_kwarg(): torch_dtype}
    try:
        if checkpoint is not None:
            pipe = cls.from_single_file(
                str(checkpoint), config=str(folder), local_files_only=True, **dtype_kw
            )
        else:
            kwargs: dict[str, Any] = {**dtype_kw, "local_files_only": True}
            variant = _weights_variant(folder)
            if variant:
                kwargs["variant"] = variant
            pipe = cls.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(
            f"could not load {class_name} from {checkpoint or folder}: {exc}. Check that the "
            "folder is complete (every component's weights) and matches the checkpoint's family."
        ) from exc

    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        try:
            pipe.to(device)
        except (RuntimeError, torch.OutOfMemoryError) as exc:
            raise ModelLoadError(
                f"{display} does not fit on {device} in {torch_dtype}: {exc}. Try cpu_offload=True "
                "or a smaller dtype."
            ) from exc
    pipe.set_progress_bar_config(disable=True)

    file_hash = file_sha256(checkpoint) if checkpoint is not None else folder_fingerprint(folder)
    ref = ModelRef(
        name=display,
        architecture=class_name,
        d_model=_text_width(pipe, family),
        model_type=family,
        file_hash=file_hash,
        source=src if src.startswith(HF_CACHE_PREFIX) else str(checkpoint or folder),
        kind="diffusion",
    )
    return DiffusionModel(pipe, family, ref, device=device, dtype=torch_dtype, offload=offload)


def demo_pipeline(name: str | None = None) -> DiffusionModel:
    """The demo pipeline (``demo:tiny-sd``): a tiny SD1.x-style pipeline with random weights
    (seed 0, so the same weights and hash everywhere), on the CPU in float32. Its images are
    noise; it exists so that the workflow can be tried without a model on disk."""
    from workbench.diffusion.tiny import tiny_sd_pipeline

    dm = wrap_pipeline(tiny_sd_pipeline(seed=0), name=name or DEMO_NAME, source=DEMO_SOURCE)
    dm.extra["demo"] = True
    return dm


def wrap_pipeline(
    pipe: Any, name: str = "in-memory pipeline", source: str = "", file_hash: str | None = None
) -> DiffusionModel:
    """Wrap an already-built pipeline (tests, notebooks, a pipeline the caller loaded).

    Without ``file_hash``, the hash covers every weight's bytes: right for small pipelines, but
    it reads the whole model, so pass the hash you know for a large one.
    """
    import torch

    class_name = type(pipe).__name__
    family = _family_of(class_name, name)
    if file_hash is None:
        h = hashlib.sha256(class_name.encode())
        for comp_name, comp in sorted(pipe.components.items()):
            if isinstance(comp, torch.nn.Module):
                for pname, p in comp.state_dict().items():
                    h.update(f"{comp_name}.{pname}".encode())
                    h.update(p.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
        file_hash = h.hexdigest()
    device = str(compat.execution_device(pipe))
    ref = ModelRef(
        name=name,
        architecture=class_name,
        d_model=_text_width(pipe, family),
        model_type=family,
        file_hash=file_hash,
        source=source,
        kind="diffusion",
    )
    dtype = getattr(pipe, "dtype", None)
    return DiffusionModel(pipe, family, ref, device=device, dtype=dtype)


def _text_width(pipe: Any, family: str) -> int:
    """Width of the token sequence the denoiser attends to (``prompt_embeds.shape[-1]``)."""
    if family in ("sd", "sdxl"):
        return int(pipe.unet.config.cross_attention_dim)
    cfg = pipe.transformer.config
    return int(getattr(cfg, "joint_attention_dim", 0) or 0)
