"""One test per private attribute of superqt behind ``ui/compat.py``."""

from __future__ import annotations

from superqt.utils import create_worker

from ui.compat import release_worker_generator, worker_generator


def test_generator_worker_generator(qtbot):
    def job():
        yield 1

    worker = create_worker(job, _start_thread=False)
    gen = worker_generator(worker)
    assert gen is not None and next(gen) == 1
    release_worker_generator(worker)
    assert worker_generator(worker) is None


def test_quick_pyside_import_check_agrees_with_pysides_own(tmp_path, monkeypatch):
    """The quick "does this module use PySide" answers as shibokensupport's own does, for a
    module that uses it, one that does not, one without a source file, and a fresh import
    (whose entry in PySide's table the quick check writes)."""
    import importlib
    import json
    import sys

    import shibokensupport.feature as feature

    from ui.compat import quicken_pyside_import_hook

    quicken_pyside_import_hook()  # the app does this at start; a second call changes nothing
    assert quicken_pyside_import_hook() is False
    quick = feature._mod_uses_pyside
    assert getattr(quick, "_workbench_quick", False)
    original = quick.__wrapped__
    import ui.main_window

    for module in (ui.main_window, json, sys, importlib.import_module("_json")):
        assert quick(module) == original(module), module.__name__
    assert quick(ui.main_window) is True and quick(json) is False
    (tmp_path / "uses_qt_here.py").write_text("from PySide6 import QtCore\n", encoding="utf-8")
    (tmp_path / "plain_here.py").write_text("X = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import plain_here  # noqa: F401
    import uses_qt_here  # noqa: F401

    assert feature.pyside_feature_dict["uses_qt_here"] == 0
    assert feature.pyside_feature_dict["plain_here"] == -1
