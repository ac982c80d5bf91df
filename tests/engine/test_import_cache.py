"""The import-structure cache gives exactly what transformers' own walk gives, and notices
every change to the files the walk reads (workbench/import_cache.py)."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import transformers
from transformers.utils import import_utils

from workbench import import_cache

ROOT = Path(__file__).resolve().parents[2]
LLAMA = Path(transformers.__file__).parent / "models" / "llama"


def _walk(path: Path, prefix: str | None = None) -> import_cache.Structure:
    """transformers' own walk, with its in-memory caches emptied (a test changes files)."""
    import_utils.create_import_structure_from_path.cache_clear()
    original = import_utils.define_import_structure
    original = inspect.unwrap(original)  # under the lru_cache (and the import cache)
    return original(str(path), prefix)


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    import_cache._fingerprint.cache_clear()
    return tmp_path / "cache" / "imports"


def test_cached_structure_equals_the_walk_on_all_of_transformers_models(cache_home):
    models = LLAMA.parent
    expected = _walk(models, "models")
    first = import_cache.cached(_walk)(str(models), "models")  # a miss: walked and written
    assert first == expected
    assert len(list(cache_home.glob("*.json"))) == 1
    second = import_cache.cached(lambda *a: pytest.fail("walked although cached"))(
        str(models), "models"
    )
    assert second == expected
    assert all(isinstance(k, frozenset) for k in second)
    assert all(isinstance(v, set) for mods in second.values() for v in mods.values())
    # a file inside the folder (models/__init__.py passes its own path) keys the folder
    assert import_cache.cache_key(models / "__init__.py", None, "x") == import_cache.cache_key(
        models, None, "x"
    )


def test_a_changed_file_is_walked_again(cache_home, tmp_path):
    pkg = tmp_path / "pkg" / "llama"
    shutil.copytree(LLAMA, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = import_cache.cached(_walk)(str(pkg), None)
    assert before == _walk(pkg)
    conf = pkg / "configuration_llama.py"
    conf.write_text(
        conf.read_text(encoding="utf-8").replace(
            '__all__ = ["LlamaConfig"]', '__all__ = ["LlamaConfig", "LlamaExtra"]'
        )
        + "\n\nclass LlamaExtra:\n    pass\n",
        encoding="utf-8",
    )
    os.utime(conf, ns=(conf.stat().st_atime_ns, conf.stat().st_mtime_ns + 10**9))
    import_cache._fingerprint.cache_clear()  # a new process
    after = import_cache.cached(_walk)(str(pkg), None)
    assert after == _walk(pkg) != before
    assert any("LlamaExtra" in names for mods in after.values() for names in mods.values())
    (pkg / "new_file.py").write_text('__all__ = ["Added"]\nAdded = 1\n', encoding="utf-8")
    import_cache._fingerprint.cache_clear()
    added = import_cache.cached(_walk)(str(pkg), None)
    assert any("Added" in names for mods in added.values() for names in mods.values())
    assert len(list(cache_home.glob("*.json"))) == 3


def test_a_damaged_cache_file_is_walked_over_and_rewritten(cache_home):
    wrapped = import_cache.cached(_walk)
    expected = wrapped(str(LLAMA), None)
    (file,) = cache_home.glob("*.json")
    file.write_text("{not json", encoding="utf-8")
    again = import_cache.cached(_walk)(str(LLAMA), None)
    assert again == expected
    assert import_cache.decode(json.loads(file.read_text(encoding="utf-8"))) == expected


def test_install_is_a_no_op_once_transformers_is_imported(monkeypatch):
    assert import_utils.__name__ in sys.modules
    assert import_cache.install() is False
    monkeypatch.setenv("WORKBENCH_NO_IMPORT_CACHE", "1")
    assert import_cache.disabled()


@pytest.mark.slow
def test_a_fresh_process_imports_transformers_through_the_cache(tmp_path):
    """Two fresh interpreters: the first walks and writes, the second reads; both resolve
    transformers' lazy names (what a model load uses) and list the same names."""
    code = textwrap.dedent(
        """
        import json, sys
        from workbench import import_cache  # importing workbench installs it
        assert import_cache._FINDER in sys.meta_path and not import_cache.install()
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import import_utils
        assert hasattr(import_utils.define_import_structure, "__wrapped__")
        print(json.dumps(sorted(dir(transformers))))
        """
    )
    env = {
        **os.environ,
        "WORKBENCH_CACHE_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("WORKBENCH_NO_IMPORT_CACHE", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        for _ in range(2)
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout)
    assert len(json.loads(runs[0].stdout)) > 1000
    assert list((tmp_path / "imports").glob("*.json"))


def test_anything_unexpected_goes_to_the_walk_unchanged(cache_home, tmp_path, monkeypatch):
    """Another signature is not wrapped; another call or another shape of result passes
    through and is not kept; valid JSON of another shape in the cache is walked over."""
    assert import_cache.usual_signature(import_utils.define_import_structure.__wrapped__)
    assert not import_cache.usual_signature(lambda module_path, prefix=None, extra=1: None)
    assert not import_cache.usual_signature(lambda module_path: None)
    calls = []

    def odd(*args, **kwargs):
        calls.append((args, kwargs))
        return ["not", "a", "structure"]

    wrapped = import_cache.cached(odd)
    assert wrapped(str(LLAMA), None) == ["not", "a", "structure"]
    assert wrapped(str(LLAMA), None, "third") == ["not", "a", "structure"]
    assert wrapped(str(LLAMA), prefix=None, other=1) == ["not", "a", "structure"]
    assert len(calls) == 3 and not list(cache_home.glob("*.json"))
    expected = import_cache.cached(_walk)(str(LLAMA), None)
    (file,) = cache_home.glob("*.json")
    file.write_text(json.dumps({"a": 1}), encoding="utf-8")  # JSON, but not ours
    assert import_cache.cached(_walk)(str(LLAMA), None) == expected
    assert import_cache.decode(json.loads(file.read_text(encoding="utf-8"))) == expected


def test_the_key_follows_the_parser_but_not_a_new_pycache(tmp_path, cache_home):
    pkg = tmp_path / "pkg"
    shutil.copytree(LLAMA, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    parser = tmp_path / "import_utils.py"
    parser.write_text("# the parser\n", encoding="utf-8")
    key = import_cache.cache_key(pkg, None, "5", import_cache.file_stamp(str(parser)))
    (pkg / "__pycache__").mkdir()  # Python compiling the folder changes no file the walk reads
    import_cache._fingerprint.cache_clear()
    assert import_cache.cache_key(pkg, None, "5", import_cache.file_stamp(str(parser))) == key
    parser.write_text("# the parser, changed\n", encoding="utf-8")
    assert import_cache.cache_key(pkg, None, "5", import_cache.file_stamp(str(parser))) != key


def test_old_cache_files_are_pruned(cache_home, monkeypatch):
    monkeypatch.setattr(import_cache, "KEEP", 2)
    cache_home.mkdir(parents=True)
    for i in range(4):
        f = cache_home / f"old{i}.json"
        f.write_text("[]", encoding="utf-8")
        os.utime(f, (1000 + i, 1000 + i))
    import_cache.cached(_walk)(str(LLAMA), None)
    left = sorted(f.name for f in cache_home.glob("*.json"))
    assert len(left) == 2 and "old3.json" in left
