"""Loading local pipelines: folders, the HF cache, single checkpoint files; errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.diffusion.catalog import find_cached_pipelines, folder_fingerprint
from workbench.diffusion.generate import ImageSpec, generate_image
from workbench.diffusion.loading import load_diffusion_pipeline
from workbench.errors import ModelLoadError, UnsupportedModelError
from workbench.jobs import run


def _image(dm, seed: int = 0) -> np.ndarray:
    spec = ImageSpec(prompt="castle", steps=2, width=64, height=64, seed=seed)
    return run(generate_image(dm, spec)).array


def test_folder_loads_with_model_ref_and_same_weights(sd_folder, sd_dm):
    dm = load_diffusion_pipeline(sd_folder, device="cpu")
    assert dm.family == "sd"
    assert dm.ref.kind == "diffusion"
    assert dm.ref.architecture == "StableDiffusionPipeline"
    assert dm.ref.name == "tiny-sd"
    assert dm.ref.source == str(sd_folder)
    assert dm.ref.d_model == 8
    assert dm.dtype == torch.float32
    assert dm.ref.file_hash == folder_fingerprint(sd_folder)
    # the weights read back from disk make the same image as the in-memory pipeline
    np.testing.assert_array_equal(_image(dm), _image(sd_dm))


def test_sdxl_folder_loads(sdxl_folder):
    dm = load_diffusion_pipeline(sdxl_folder, device="cpu", dtype="float32")
    assert dm.family == "sdxl" and dm.has_pooled
    assert dm.text_encoder_names == ["text_encoder", "text_encoder_2"]


def test_fingerprint_tells_fine_tunes_apart(tmp_path, sd_folder):
    copy = tmp_path / "finetune"
    shutil.copytree(sd_folder, copy)
    assert folder_fingerprint(copy) == folder_fingerprint(sd_folder)
    weights = next((copy / "unet").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, same configs, different weights
    weights.write_bytes(bytes(data))
    assert folder_fingerprint(copy) != folder_fingerprint(sd_folder)


def test_not_a_pipeline_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="not a diffusers pipeline folder"):
        load_diffusion_pipeline(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="config="):
        load_diffusion_pipeline(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_diffusion_pipeline(tmp_path / "missing")


def test_unsupported_pipeline_class(tmp_path, sd_folder):
    folder = tmp_path / "other"
    shutil.copytree(sd_folder, folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = "KandinskyPipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(UnsupportedModelError, match="KandinskyPipeline"):
        load_diffusion_pipeline(folder)


def test_checkpoint_needs_a_local_config(tmp_path):
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(b"0")
    with pytest.raises(ModelLoadError, match="needs config="):
        load_diffusion_pipeline(ckpt)
    with pytest.raises(ModelLoadError, match="needs config="):
        load_diffusion_pipeline(ckpt, config=tmp_path)  # not a pipeline folder
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelLoadError, match="not a checkpoint"):
        load_diffusion_pipeline(tmp_path / "notes.txt")


def test_single_file_goes_through_from_single_file_offline(tmp_path, sd_folder, sd_dm, monkeypatch):
    """Wiring only: building an original-layout (LDM) checkpoint of the tiny model would need a
    diffusers -> LDM converter, which diffusers does not ship."""
    import diffusers

    ckpt = tmp_path / "my-model.safetensors"
    ckpt.write_bytes(b"not really weights")
    seen = {}

    def fake(cls, path, **kwargs):
        seen.update(path=path, **kwargs)
        return sd_dm.pipe

    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "from_single_file", classmethod(fake))
    dm = load_diffusion_pipeline(ckpt, config=sd_folder, device="cpu")
    assert seen["path"] == str(ckpt)
    assert seen["config"] == str(sd_folder)
    assert seen["local_files_only"] is True
    assert dm.ref.name == "my-model"
    assert dm.ref.file_hash == __import__("hashlib").sha256(b"not really weights").hexdigest()


def test_cpu_offload_needs_a_gpu(sd_folder):
    with pytest.raises(ModelLoadError, match="CPU offload"):
        load_diffusion_pipeline(sd_folder, device="cpu", cpu_offload=True)
    with pytest.raises(ModelLoadError, match="dtype"):
        load_diffusion_pipeline(sd_folder, device="cpu", dtype="float8")


def test_cache_lists_pipelines_only(hf_cache, sd_folder):
    found = find_cached_pipelines(hf_cache)
    assert [f.repo_id for f in found] == ["someone/tiny-sd"]
    entry = found[0]
    assert entry.family == "sd" and entry.class_name == "StableDiffusionPipeline"
    assert entry.source == "hf-cache:someone/tiny-sd"
    assert (entry.path / "model_index.json").is_file()
    assert find_cached_pipelines(hf_cache.parent / "no-such-cache") == []


def test_load_from_cache_source(hf_cache):
    dm = load_diffusion_pipeline("hf-cache:someone/tiny-sd", device="cpu", cache_dir=hf_cache)
    assert dm.ref.source == "hf-cache:someone/tiny-sd"
    assert dm.ref.name == "someone/tiny-sd"
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache"):
        load_diffusion_pipeline("hf-cache:someone/absent", cache_dir=hf_cache)


def test_loaded_folder_is_float16_variant_aware(tmp_path, sd_folder):
    folder = tmp_path / "fp16-only"
    shutil.copytree(sd_folder, folder)
    for sub in ("unet", "vae", "text_encoder"):
        for w in (folder / sub).glob("*.safetensors"):
            w.rename(w.with_name(w.name.replace(".safetensors", ".fp16.safetensors")))
    dm = load_diffusion_pipeline(folder, device="cpu")
    assert dm.family == "sd"


def test_weights_missing_is_a_model_load_error(tmp_path, sd_folder):
    folder = tmp_path / "broken"
    shutil.copytree(sd_folder, folder)
    for w in (folder / "unet").glob("*.safetensors"):
        w.unlink()
    with pytest.raises(ModelLoadError, match="could not load"):
        load_diffusion_pipeline(folder, device="cpu")


def test_sources_are_paths_too(sd_folder):
    dm = load_diffusion_pipeline(Path(sd_folder), device="cpu", name="mine")
    assert dm.ref.name == "mine"


def test_importing_the_package_is_cheap():
    """A window imports workbench.diffusion at start-up; torch and diffusers load on first use."""
    import subprocess
    import sys

    code = (
        "import sys, workbench.diffusion as d; "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
