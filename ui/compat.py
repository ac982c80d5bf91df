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
