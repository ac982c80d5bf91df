"""Find local diffusion pipelines and fingerprint them.

A pipeline is a folder with ``model_index.json`` (a diffusers layout); the local Hugging Face
cache is searched with ``huggingface_hub.scan_cache_dir`` (model repos whose snapshot has one).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ModelLoadError

FAMILIES: dict[str, str] = {
    "StableDiffusionPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusion3Pipeline": "sd3",
    "FluxPipeline": "flux",
}
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
HF_CACHE_PREFIX = "hf-cache:"
#: a tiny SD1.x-style pipeline with random weights, built from config (nothing on disk): it
#: makes noise, not pictures, but every step of the workflow (levels, sweeps, previews,
#: provenance, concept neurons) runs on it offline
DEMO_SOURCE = "demo:tiny-sd"
DEMO_NAME = "demo (random weights)"


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
        info = scan_cache_dir(None if cache_dir is None else Path(cache_dir))
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


def resolve_cache_source(source: str, cache_dir: str | os.PathLike[str] | None) -> Path:
    repo_id = source[len(HF_CACHE_PREFIX) :]
    for cached in find_cached_pipelines(cache_dir):
        if cached.repo_id == repo_id:
            return cached.path
    raise ModelLoadError(
        f"{repo_id!r} is not in the local Hugging Face cache as a diffusers pipeline. Nothing is "
        "downloaded: fetch it once with `huggingface-cli download` or pick a local folder."
    )


def hf_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The Hugging Face cache folder searched for pipelines (``HF_HUB_CACHE``/``HF_HOME``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def pipeline_sources_help(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """What can be loaded, and where the workbench looks, in words for a user."""
    return (
        "A diffusion pipeline is loaded from this computer only; nothing is downloaded. What "
        "works:\n"
        "• a diffusers pipeline folder: the folder that holds model_index.json and the "
        "component folders (unet/ or transformer/, vae/, text_encoder/, tokenizer/, scheduler/);"
        " SD 1.x/2.x, SDXL, SD3 and Flux;\n"
        "• a single checkpoint file (.safetensors, .ckpt) together with a local diffusers folder "
        "of the same family for its configs and tokenizers;\n"
        f"• a pipeline in the Hugging Face cache ({hf_cache_dir(cache_dir)}; set HF_HOME or "
        "HF_HUB_CACHE to move it). Fetch one there once, on a machine with a network, with "
        "`huggingface-cli download <repo id>`.\n"
        f"Without any of these, load '{DEMO_NAME}': a tiny pipeline with random weights. It "
        "makes noise, not pictures, but levels, sweeps, previews, provenance and concept "
        "neurons all work on it."
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
