"""Spin boxes and combo boxes take the mouse wheel only when they have the focus.

Scrolling a long form with the wheel must scroll the form, not change the "New tokens" value
that happens to pass under the pointer (issue 18 item 2). One application-wide event filter:
a wheel event for an unfocused spin box or combo box goes to its parent instead (the scroll
area around it scrolls); a click or Tab gives the box the focus, and then the wheel steps it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox


class WheelGuard(QObject):
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel:
            return False
        if not isinstance(obj, QAbstractSpinBox | QComboBox) or obj.hasFocus():
            return False
        parent = obj.parentWidget()
        if parent is not None:
            QApplication.sendEvent(parent, event)
        return True  # the box itself does not see it


def install(app: QApplication) -> WheelGuard:
    """Install the guard once on ``app`` (idempotent); returns it."""
    guard = getattr(app, "_workbench_wheel_guard", None)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
        app._workbench_wheel_guard = guard  # type: ignore[attr-defined]
    return guard
