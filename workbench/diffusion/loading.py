"""Load local diffusion pipelines (never from the network) and find them in the HF cache.

Sources that :func:`load_diffusion_pipeline` accepts:

- a diffusers pipeline folder (``model_index.json`` plus component folders);
- ``hf-cache:<repo id>``: a snapshot in the local Hugging Face cache that holds a pipeline;
- a single checkpoint file (``.safetensors``/``.ckpt``) with ``config=`` naming a local diffusers
  folder for that family (its configs and tokenizers; weights there are used for components the
  file lacks).

Families: ``sd`` (SD 1.x/2.x), ``sdxl``, ``sd3``, ``flux``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.concepts.concept import ModelRef
from workbench.errors import ModelLoadError, UnsupportedModelError

if TYPE_CHECKING:
    import torch

FAMILIES: dict[str, str] = {
    "StableDiffusionPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusion3Pipeline": "sd3",
    "FluxPipeline": "flux",
}
#: families whose prompt conditioning has a pooled vector next to the token sequence
POOLED_FAMILIES = frozenset({"sdxl", "sd3", "flux"})
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
HF_CACHE_PREFIX = "hf-cache:"


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


@dataclass(frozen=True)
class CachedPipeline:
    """A pipeline snapshot found in the local Hugging Face cache."""

    repo_id: str
    path: Path  # the snapshot folder
    class_name: str
    family: str | None  # None when the pipeline class is not one we support
    commit: str
    size_on_disk: int

    @property
    def source(self) -> str:
        return HF_CACHE_PREFIX + self.repo_id


# ------------------------------------------------------------------------------------- finding
def is_pipeline_folder(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / "model_index.json").is_file()


def pipeline_class_name(folder: str | os.PathLike[str]) -> str:
    try:
        return str(json.loads((Path(folder) / "model_index.json").read_text())["_class_name"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"{folder} has no readable model_index.json ({exc}); point at a diffusers pipeline "
            "folder (the one that contains model_index.json)."
        ) from exc


def find_cached_pipelines(cache_dir: str | os.PathLike[str] | None = None) -> list[CachedPipeline]:
    """Pipelines in the local Hugging Face cache: model repos whose snapshot has
    ``model_index.json``. One entry per repo (the ``main`` ref, else the newest snapshot)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return []
    found: list[CachedPipeline] = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        revisions = [r for r in repo.revisions if is_pipeline_folder(r.snapshot_path)]
        if not revisions:
            continue
        rev = max(revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        try:
            cls = pipeline_class_name(rev.snapshot_path)
        except ModelLoadError:
            continue
        found.append(
            CachedPipeline(
                repo_id=repo.repo_id,
                path=Path(rev.snapshot_path),
                class_name=cls,
                family=FAMILIES.get(cls),
                commit=rev.commit_hash,
                size_on_disk=rev.size_on_disk,
            )
        )
    return found


def _resolve_cache_source(source: str, cache_dir: str | os.PathLike[str] | None) -> Path:
    repo_id = source[len(HF_CACHE_PREFIX) :]
    for cached in find_cached_pipelines(cache_dir):
        if cached.repo_id == repo_id:
            return cached.path
    raise ModelLoadError(
        f"{repo_id!r} is not in the local Hugging Face cache as a diffusers pipeline. Nothing is "
        "downloaded: fetch it once with `huggingface-cli download` or pick a local folder."
    )


# ------------------------------------------------------------------------------------- hashing
_PART = 1 << 20


def folder_fingerprint(folder: str | os.PathLike[str]) -> str:
    """sha256 over ``model_index.json``, every component's JSON config, and each weights file's
    name, size, first and last MiB. Cheap (a few MiB read) yet tells fine-tunes apart, unlike the
    bare ``model_index.json``, which is identical across every fine-tune of a base model."""
    root = Path(folder)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        if p.suffix == ".json" or p.name == "model_index.json":
            h.update(rel.encode())
            h.update(p.read_bytes())
        elif p.suffix in CHECKPOINT_SUFFIXES:
            size = p.stat().st_size
            h.update(f"{rel}:{size}".encode())
            with p.open("rb") as f:
                h.update(f.read(_PART))
                if size > 2 * _PART:
                    f.seek(size - _PART)
                    h.update(f.read(_PART))
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Full sha256 of a checkpoint file (A1111's "Model hash" is its first 10 hex digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


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
            return {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
                    "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}[dtype]
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
    device = device or _default_device()
    checkpoint: Path | None = None
    if src.startswith(HF_CACHE_PREFIX):
        folder = _resolve_cache_source(src, cache_dir)
        display = name or src[len(HF_CACHE_PREFIX) :]
    else:
        path = Path(src).expanduser()
        if not path.exists():
            raise ModelLoadError(f"{path} does not exist; pick a pipeline folder or checkpoint file.")
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
        raise ModelLoadError(f"cpu_offload={cpu_offload!r}; use False, True, 'model' or 'sequential'")
    if offload and torch.device(device).type == "cpu":
        raise ModelLoadError(
            "CPU offload moves components between CPU memory and a GPU; the device is the CPU. "
            "Turn offload off, or choose a GPU device."
        )

    import diffusers

    cls = getattr(diffusers, class_name)
    try:
        if checkpoint is not None:
            pipe = cls.from_single_file(
                str(checkpoint), config=str(folder), local_files_only=True, torch_dtype=torch_dtype
            )
        else:
            kwargs: dict[str, Any] = {"torch_dtype": torch_dtype, "local_files_only": True}
            variant = _weights_variant(folder)
            if variant:
                kwargs["variant"] = variant
            pipe = cls.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, EnvironmentError) as exc:
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


def wrap_pipeline(pipe: Any, name: str = "in-memory pipeline", source: str = "") -> DiffusionModel:
    """Wrap an already-built pipeline (tests, notebooks). Its hash covers the weights' bytes."""
    import torch

    class_name = type(pipe).__name__
    family = _family_of(class_name, name)
    h = hashlib.sha256(class_name.encode())
    for comp_name, comp in sorted(pipe.components.items()):
        if isinstance(comp, torch.nn.Module):
            for pname, p in comp.state_dict().items():
                h.update(f"{comp_name}.{pname}".encode())
                h.update(p.detach().float().cpu().numpy().tobytes())
    device = str(getattr(pipe, "_execution_device", "cpu"))
    ref = ModelRef(
        name=name,
        architecture=class_name,
        d_model=_text_width(pipe, family),
        model_type=family,
        file_hash=h.hexdigest(),
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
