"""Fixtures for the desktop app's tests: a tiny model on disk (loaded through the real loader),
and a main window that must not leak. (How long the GUI thread stalls is a benchmark,
benchmarks/bench_gui_stall.py: tests assert no times.)"""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication
from ui_helpers import make_window, wait_idle


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_llama_dir):
    """A tiny random Llama saved as a Hugging Face folder (tests/conftest.py makes it)."""
    return tiny_llama_dir


@pytest.fixture(autouse=True)
def no_leaks(qapp):
    """Fail a test that leaves a window open or a worker thread running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    QApplication.processEvents()
    pool_done = QThreadPool.globalInstance().waitForDone(20000)
    QApplication.processEvents()
    open_windows = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    for w in open_windows:
        w.close()
    leaked = [
        t for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon
    ]
    assert pool_done, "a worker was still running 20 s after the test"
    assert not open_windows, f"test left windows open: {[w.windowTitle() for w in open_windows]}"
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    if w.isVisible():
        w.close()


@pytest.fixture
def loaded_window(qtbot, window, tiny_model_dir):
    """A window with the tiny model loaded through the real loader."""
    with qtbot.waitSignal(window.ctx.executor.job_finished, timeout=60000):
        window.models_dock.load(str(tiny_model_dir))
    wait_idle(qtbot, window.ctx)
    assert window.ctx.state.models, window.ctx.errors.history
    return window
