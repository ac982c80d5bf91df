"""A disk cache for transformers' import structure: the walk that ``import transformers`` makes.

transformers 5 builds its lazy namespace (``transformers.AutoModelForCausalLM`` and the
other ~5,000 names) by reading every file under ``transformers/models`` (about 1,100 folders)
and parsing their ``__all__`` and ``@requires`` lines, on every import, in every process:
0.4-0.6 s of CPU of the ~4.5 s that torch + transformers take to import on a 2-core CPU, paid by
every start of the app and every CLI command that loads a model (``python
benchmarks/bench_startup.py`` measures it: "... and workbench's import cache").

What the walk returns depends only on the files it reads (no installed-package checks happen
in it: those happen later, when a name is used). So the engine keeps it on disk, in
``<cache>/imports/``, keyed by the transformers version, the folder, the name, size and
modification time of every file under it (and every folder's name), and the same of the parser
itself (``import_utils.py``). A changed, added or removed file makes a new key and the walk runs
again; a cache file that cannot be read, or holds something else, is walked over and rewritten.
Anything unexpected (another signature, another shape of result) goes to the walk unchanged.
``tests/engine/test_import_cache.py`` checks that what comes from the cache equals the walk.

:func:`install` must run before transformers is first imported (it is a no-op after, and
whenever ``WORKBENCH_NO_IMPORT_CACHE=1``); importing ``workbench`` calls it, so the app, the CLI
and a notebook that imports workbench first all get it. It wraps one function,
``transformers.utils.import_utils.define_import_structure``, the moment that module has been
executed, before anything calls it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.abc
import importlib.machinery
import inspect
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
FORMAT = 2  # bump when the key or the file layout below changes
KEEP = 40  # cache files kept; the oldest beyond that go (one transformers version makes ~5)
Structure = dict[frozenset[str], dict[str, set[str]]]


def disabled() -> bool:
    return os.environ.get("WORKBENCH_NO_IMPORT_CACHE", "") not in ("", "0")


def folder() -> Path:
    from workbench.paths import cache_dir

    return cache_dir() / "imports"


# ------------------------------------------------------------------ the key
def tree_fingerprint(root: str | os.PathLike[str]) -> str:
    """A digest of the name, size and modification time of every file under ``root``, and of
    every folder's name (``__pycache__`` left out): what the walk reads. A folder's own time is
    left out: it changes when ``__pycache__`` first appears in it, which the walk ignores."""
    h = hashlib.sha256()
    stack = [os.fspath(root)]
    while stack:
        top = stack.pop()
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.name == "__pycache__":
                continue
            if e.is_dir():
                h.update(f"{e.path}/\n".encode("utf-8", "replace"))
                stack.append(e.path)
                continue
            st = e.stat(follow_symlinks=True)
            h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "replace"))
    return h.hexdigest()


_fingerprint = functools.lru_cache(tree_fingerprint)  # a process walks a tree once


def file_stamp(path: str | None) -> str:
    """A file's path, size and modification time ("" for none)."""
    if not path:
        return ""
    st = os.stat(path)
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}"


def cache_key(
    module_path: str | os.PathLike[str], prefix: str | None, version: str, parser: str = ""
) -> str:
    """The key of one walk: the format, transformers' version, the folder, ``prefix``, the
    parser's :func:`file_stamp` and the folder's :func:`tree_fingerprint`."""
    path = os.fspath(module_path)
    root = os.path.dirname(path) if os.path.isfile(path) else path  # as the walk treats it
    h = hashlib.sha256(
        json.dumps([FORMAT, version, os.path.abspath(root), prefix, parser]).encode("utf-8")
    )
    h.update(_fingerprint(os.path.abspath(root)).encode())
    return h.hexdigest()[:32]


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


def valid(structure: Any) -> bool:
    """The shape the cache keeps: ``{frozenset of str: {str: set of str}}``."""
    return isinstance(structure, dict) and all(
        isinstance(k, frozenset)
        and all(isinstance(b, str) for b in k)
        and isinstance(v, dict)
        and all(
            isinstance(m, str) and isinstance(n, set) and all(isinstance(x, str) for x in n)
            for m, n in v.items()
        )
        for k, v in structure.items()
    )


def _prune(where: Path) -> None:
    files = sorted(where.glob("*.json"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)


def _transformers_version() -> str:
    pkg = sys.modules.get("transformers")  # mid-import: __version__ is its first statement
    version = getattr(pkg, "__version__", None)
    if isinstance(version, str):
        return version
    from importlib.metadata import version as dist_version

    return dist_version("transformers")


def cached(original: Callable[..., Any], parser: str | None = None) -> Callable[..., Any]:
    """``original`` (transformers' ``define_import_structure``) with its results kept on disk.
    ``parser``: the file that defines it (part of the key). A call other than the usual
    ``(module_path, prefix=None)``, and anything unexpected on the way, goes to ``original``."""

    @functools.lru_cache  # transformers' own is cached in memory the same way
    def define_import_structure(module_path: Any, prefix: str | None = None) -> Any:
        try:
            key = cache_key(module_path, prefix, _transformers_version(), file_stamp(parser))
        except Exception as e:  # noqa: BLE001 - no key: walk as transformers does
            log.debug("import cache: no key for %s (%s)", module_path, e)
            return original(module_path, prefix)
        file = folder() / f"{key}.json"
        try:
            structure = decode(json.loads(file.read_text(encoding="utf-8")))
            if valid(structure):
                return structure
            log.debug("import cache: %s holds something else; walking again", file)
        except FileNotFoundError:
            pass
        except Exception as e:  # noqa: BLE001 - damaged: walk and rewrite it
            log.debug("import cache: %s unreadable (%s)", file, e)
        structure = original(module_path, prefix)
        if not valid(structure):  # another transformers: not ours to keep
            return structure
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(encode(structure)), encoding="utf-8")
            os.replace(tmp, file)  # whole or not at all, also with two processes at once
            _prune(file.parent)
        except OSError as e:  # a read-only cache only costs the walk
            log.debug("import cache: cannot write %s (%s)", file, e)
        return structure

    def call(*args: Any, **kwargs: Any) -> Any:
        usual = 1 <= len(args) <= 2 and set(kwargs) <= {"prefix"} and len(args) + len(kwargs) <= 2
        if usual:
            try:
                return define_import_structure(*args, **kwargs)
            except TypeError:  # an unhashable argument: the lru_cache cannot take it
                pass
        return original(*args, **kwargs)

    call.__wrapped__ = original  # type: ignore[attr-defined]
    call.cache_clear = define_import_structure.cache_clear  # type: ignore[attr-defined]
    return call


def usual_signature(fn: Callable[..., Any]) -> bool:
    """``fn(module_path, prefix=None)``, as transformers 4.4x-5.x define it."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    return [p.name for p in params] == ["module_path", "prefix"] and params[1].default is None


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
        if callable(original) and usual_signature(original):
            module.define_import_structure = cached(  # type: ignore[attr-defined]
                original, getattr(module, "__file__", None)
            )
        else:  # another transformers: nothing changed
            log.debug("import cache: %s has no usual define_import_structure", TARGET)

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
