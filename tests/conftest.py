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

import pytest  # noqa: E402


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
