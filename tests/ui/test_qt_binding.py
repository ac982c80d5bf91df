"""The Qt binding must not lose references to ``None``.

PySide6 6.12.0 on Python 3.11 drops one reference to ``None`` on every call of a method that
returns nothing (issue 19); once ``None``'s count reaches zero the interpreter aborts with
``Fatal Python error: none_dealloc``. A window that fills a 20,000-row table does that at once.
This makes a few thousand such calls and fails if the count drops, so a release with the same bug
fails CI instead of a user's session. From Python 3.12 on ``None`` is immortal (its count never
changes), so there is nothing to measure there.
"""

from __future__ import annotations

import ctypes
import sys

import pytest

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="None is immortal from Python 3.12: its count is fixed"
)

CALLS = 2000
SLACK = 50  # other threads (Qt's, the test runner's) may hold a few references for a moment


def _calls():
    from PySide6.QtWidgets import QLabel, QSpinBox, QTableWidget, QTableWidgetItem

    label = QLabel()
    spin = QSpinBox()
    spin.setRange(0, CALLS)
    table = QTableWidget(0, 3)
    item = QTableWidgetItem("x")

    def set_items() -> None:
        table.setRowCount(4)
        for i in range(CALLS):
            table.setItem(i % 4, i % 3, QTableWidgetItem("cell"))

    return {
        "QLabel.setText": (lambda: [label.setText("text") for _ in range(CALLS)], label),
        "QSpinBox.setValue": (lambda: [spin.setValue(i) for i in range(CALLS)], spin),
        "QTableWidgetItem.setToolTip": (
            lambda: [item.setToolTip("tip") for _ in range(CALLS)],
            item,
        ),
        "QTableWidget.setRowCount": (
            lambda: [table.setRowCount(i % 7) for i in range(CALLS)],
            table,
        ),
        "QTableWidget.setItem": (set_items, table),
    }


def test_void_qt_calls_keep_none_alive(qapp):
    import PySide6

    lost = {}
    calls = _calls()
    start = sys.getrefcount(None)
    # A buggy binding would take None's count to zero and abort the whole run instead of failing
    # this test: these references keep None alive while it is measured ...
    guard = [None] * (4 * len(calls) * CALLS)
    for name, (run, _keep) in calls.items():
        run()  # warm up: first calls may create caches that hold None for good
        before = sys.getrefcount(None)
        run()
        change = sys.getrefcount(None) - before
        if change < -SLACK:
            lost[name] = change
    # ... and what was lost is given back before they go, so that the run can report and exit.
    for _ in range(max(0, start + len(guard) - sys.getrefcount(None))):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
    del guard
    assert not lost, (
        f"PySide6 {PySide6.__version__} loses references to None on void calls "
        f"({', '.join(f'{k}: {v:+d} over {CALLS} calls' for k, v in lost.items())}); "
        "the window would abort with 'none_dealloc'. Exclude this release in pyproject.toml."
    )
