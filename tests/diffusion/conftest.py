"""Tiny offline diffusion pipelines (SD1.x- and SDXL-style), built from config, never downloaded."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from workbench.diffusion.loading import DiffusionModel, wrap_pipeline
from workbench.diffusion.tiny import (
    tiny_flux_pipeline,
    tiny_sd3_pipeline,
    tiny_sd_pipeline,
    tiny_sdxl_pipeline,
)

SIZE = 64  # pixels; the tiny VAE downsamples by 2, so latents are 32x32
STEPS = 2


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # fitted latent -> RGB maps of the random tiny VAEs stay out of the user's cache
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """The tiny pipelines are overhead-bound: one intra-op thread is faster, and immune to the
    20x slowdown that oversubscribed OpenMP threads suffer on a busy 2-core machine. Module
    scope: restored before any other directory's tests run."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def sd_dm() -> DiffusionModel:
    return wrap_pipeline(tiny_sd_pipeline(seed=0), name="tiny-sd")


@pytest.fixture(scope="session")
def sdxl_dm() -> DiffusionModel:
    return wrap_pipeline(tiny_sdxl_pipeline(seed=0), name="tiny-sdxl")


@pytest.fixture(scope="session")
def sd3_dm() -> DiffusionModel:
    return wrap_pipeline(tiny_sd3_pipeline(seed=0), name="tiny-sd3")


@pytest.fixture(scope="session")
def flux_dm() -> DiffusionModel:
    return wrap_pipeline(tiny_flux_pipeline(seed=0), name="tiny-flux")


@pytest.fixture(scope="session")
def sd_folder(tmp_path_factory: pytest.TempPathFactory, sd_dm: DiffusionModel) -> Path:
    """The tiny SD pipeline written with ``save_pretrained`` (a diffusers folder)."""
    folder = tmp_path_factory.mktemp("pipelines") / "tiny-sd"
    sd_dm.pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def sdxl_folder(tmp_path_factory: pytest.TempPathFactory, sdxl_dm: DiffusionModel) -> Path:
    folder = tmp_path_factory.mktemp("pipelines") / "tiny-sdxl"
    sdxl_dm.pipe.save_pretrained(folder)
    return folder


@pytest.fixture()
def hf_cache(tmp_path: Path, sd_folder: Path) -> Path:
    """A Hugging Face cache with one pipeline repo, one non-pipeline model repo and a dataset."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hub"

    def repo(kind: str, repo_id: str) -> Path:
        root = cache / f"{kind}--{repo_id.replace('/', '--')}"
        (root / "refs").mkdir(parents=True)
        (root / "refs" / "main").write_text(commit)
        snap = root / "snapshots" / commit
        snap.mkdir(parents=True)
        return snap

    shutil.copytree(sd_folder, repo("models", "someone/tiny-sd"), dirs_exist_ok=True)
    (repo("models", "someone/a-language-model") / "config.json").write_text(json.dumps({}))
    (repo("datasets", "someone/images") / "model_index.json").write_text(json.dumps({}))
    return cache


@pytest.fixture(scope="session")
def make_spec():
    """``make_spec(**changes)``: an :class:`ImageSpec` for the tiny models (2 steps, 64 px)."""
    from workbench.diffusion.generate import ImageSpec

    def make(**changes):
        base = {"steps": STEPS, "width": SIZE, "height": SIZE, "guidance": 7.5, "seed": 0}
        base.update(changes)
        return ImageSpec(**base)

    return make
