"""A disk cache for transformers' import structure: the walk that ``import transformers`` makes.

transformers 5 builds its lazy namespace (``transformers.AutoModelForCausalLM`` and the
other ~5,000 names) by reading every file under ``transformers/models`` (about 1,100 folders)
and parsing their ``__all__`` and ``@requires`` lines, on every import, in every process:
0.7-0.8 s of the ~5 s that torch + transformers take to import on a 2-core CPU, so 0.7 s of
every start of the app and of every CLI command that loads a model
(``python benchmarks/bench_startup.py`` measures the start).

What the walk returns depends only on the files it reads (no installed-package checks happen
in it: those happen later, when a name is used). So the engine keeps it on disk, in
``<cache>/imports/``, keyed by the transformers version, the folder, and the name, size and
modification time of every file and folder under it. A changed, added or removed file makes a
new key and the walk runs again; a cache file that cannot be read is walked over and rewritten.
``tests/engine/test_import_cache.py`` checks that what comes from the cache equals the walk.

:func:`install` must run before transformers is first imported (it is a no-op after, and
whenever ``WORKBENCH_NO_IMPORT_CACHE=1``); :func:`workbench.models.loading.load_language_model_job`
and the CLI call it. It wraps one function, ``transformers.utils.import_utils.
define_import_structure``, the moment that module has been executed, before anything calls it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.abc
import importlib.machinery
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

TARGET = "transformers.utils.import_utils"
FORMAT = 1  # bump when the file layout below changes
Structure = dict[frozenset[str], dict[str, set[str]]]


def disabled() -> bool:
    return os.environ.get("WORKBENCH_NO_IMPORT_CACHE", "") not in ("", "0")


def folder() -> Path:
    from workbench.paths import cache_dir

    return cache_dir() / "imports"


# ------------------------------------------------------------------ the key
def tree_fingerprint(root: str | os.PathLike[str]) -> str:
    """A digest of the name, size and modification time of every file and folder under
    ``root`` (``__pycache__`` left out): what the walk reads, and when it last changed."""
    h = hashlib.sha256()
    stack = [os.fspath(root)]
    while stack:
        top = stack.pop()
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.name == "__pycache__":
                continue
            st = e.stat(follow_symlinks=True)
            h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "replace"))
            if e.is_dir():
                stack.append(e.path)
    return h.hexdigest()


def cache_key(module_path: str | os.PathLike[str], prefix: str | None, version: str) -> str:
    path = os.fspath(module_path)
    root = os.path.dirname(path) if os.path.isfile(path) else path  # as the walk treats it
    h = hashlib.sha256(json.dumps([FORMAT, version, os.path.abspath(root), prefix]).encode("utf-8"))
    h.update(_fingerprint(os.path.abspath(root)).encode())
    return h.hexdigest()[:32]


_fingerprint = functools.lru_cache(tree_fingerprint)  # a process walks a tree once


# ------------------------------------------------------------------ the file
def encode(structure: Structure) -> list[list[Any]]:
    return [
        [sorted(backends), {module: sorted(names) for module, names in modules.items()}]
        for backends, modules in structure.items()
    ]


def decode(data: list[list[Any]]) -> Structure:
    return {
        frozenset(backends): {module: set(names) for module, names in modules.items()}
        for backends, modules in data
    }


def _transformers_version() -> str:
    pkg = sys.modules.get("transformers")  # mid-import: __version__ is its first statement
    version = getattr(pkg, "__version__", None)
    if isinstance(version, str):
        return version
    from importlib.metadata import version as dist_version

    return dist_version("transformers")


def cached(original: Callable[..., Structure]) -> Callable[..., Structure]:
    """``original`` (transformers' ``define_import_structure``) with its results kept on disk."""

    @functools.lru_cache  # transformers' own is cached in memory the same way
    def define_import_structure(module_path: Any, prefix: str | None = None) -> Structure:
        try:
            key = cache_key(module_path, prefix, _transformers_version())
        except (OSError, ValueError) as e:  # unreadable tree: no key, walk as transformers does
            log.debug("import cache: no key for %s (%s)", module_path, e)
            return original(module_path, prefix)
        file = folder() / f"{key}.json"
        try:
            return decode(json.loads(file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as e:  # damaged: walk and rewrite it
            log.debug("import cache: %s unreadable (%s)", file, e)
        structure = original(module_path, prefix)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(encode(structure)), encoding="utf-8")
            os.replace(tmp, file)  # whole or not at all, also with two processes at once
        except OSError as e:  # a read-only cache only costs the walk
            log.debug("import cache: cannot write %s (%s)", file, e)
        return structure

    define_import_structure.__wrapped__ = original  # type: ignore[attr-defined]
    return define_import_structure


# ----------------------------------------------------------------- the hook
class _Loader(importlib.abc.Loader):
    """Runs the real loader, then wraps ``define_import_structure`` before anyone calls it."""

    def __init__(self, inner: importlib.abc.Loader):
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        original = getattr(module, "define_import_structure", None)
        if callable(original):
            module.define_import_structure = cached(original)  # type: ignore[attr-defined]
        else:  # a transformers without it: nothing to cache, nothing changed
            log.debug("import cache: %s has no define_import_structure", TARGET)

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, ...
        return getattr(self.inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        uninstall()  # once: the real finders answer from here on
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


_FINDER = _Finder()


def install() -> bool:
    """Cache transformers' import structure from now on; False when transformers is already
    imported, the cache is turned off, or it is installed already."""
    if disabled() or TARGET in sys.modules or _FINDER in sys.meta_path:
        return False
    sys.meta_path.insert(0, _FINDER)
    return True


def uninstall() -> None:
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
