"""superqt's private attributes that the window relies on, in one place (the engine's are in
``workbench/compat.py``); ``tests/ui/test_superqt_compat.py`` checks each against the installed superqt,
so an upgrade that renames one breaks one named test."""

from __future__ import annotations

from typing import Any


def worker_generator(worker: Any) -> Any:
    """The generator a superqt ``GeneratorWorker`` runs (``worker._gen``), or None."""
    return getattr(worker, "_gen", None)


def release_worker_generator(worker: Any) -> None:
    """Drop a finished ``GeneratorWorker``'s reference to its generator (``worker._gen``): the
    binding keeps the worker's wrapper alive, and what the generator holds need not stay too."""
    worker._gen = None


# ------------------------------------------------------------------------------ PySide6
def quicken_pyside_import_hook() -> bool:
    """Make PySide6's per-import check read a file instead of ``inspect.getsource``.

    Importing PySide6 replaces ``builtins.__import__``; after every later import of a module it
    decides whether that module "uses PySide" (``shibokensupport.feature._mod_uses_pyside``:
    ``"PySide6" in inspect.getsource(module)``) to know which modules its ``__feature__``
    switches apply to. For the ~3,000 modules that torch and transformers import while a model
    loads, ``inspect.getsource`` cost about 0.7 s of CPU, and this check 0.2-0.4 s (measured:
    ``python benchmarks/bench_startup.py``, "after PySide6, with its own per-import check"). This gives the same answer (the source file's
    bytes contain ``PySide6``) by reading the file once, and asks PySide's own function for
    anything else (no ``.py`` file, an unreadable one). False when PySide6 has no such
    function (a later PySide6 that changed it: then nothing is changed here).
    ``tests/ui/test_superqt_compat.py`` checks both answers agree.
    """
    import PySide6.QtCore  # noqa: F401 - installs the import hook and shibokensupport

    try:
        import shibokensupport.feature as feature  # type: ignore[import-not-found]
    except ImportError:
        return False
    original = getattr(feature, "_mod_uses_pyside", None)
    if not callable(original) or getattr(original, "_workbench_quick", False):
        return False

    def mod_uses_pyside(module: Any) -> bool:
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.endswith(".py"):
            try:
                with open(path, "rb") as f:
                    return b"PySide6" in f.read()
            except OSError:
                pass
        return bool(original(module))

    mod_uses_pyside._workbench_quick = True  # type: ignore[attr-defined]
    mod_uses_pyside.__wrapped__ = original  # type: ignore[attr-defined]
    feature._mod_uses_pyside = mod_uses_pyside
    return True
