"""Closing the window while a job runs: ask first, say "Stopping…", close once the job has
stopped (its ``on_done`` has run, so a sweep has stored the cells it finished as a partial
run), or after a time limit if it does not stop."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox

STOP_WAIT_MS = 30000  # the most the window waits for a job to reach its next step


class CloseGuard(QObject):
    """Decides whether the window may close now. ``window.close()`` is called again when a
    running job has stopped."""

    def __init__(self, window: Any):
        super().__init__(window)
        self.window = window
        self.stopping = False
        self._give_up = QTimer(self, singleShot=True, interval=STOP_WAIT_MS)
        self._give_up.timeout.connect(self._close_anyway)
        self._forced = False

    def may_close(self) -> bool:
        """True when no job runs (or the user already agreed and the job stopped or hung)."""
        ex = self.window.ctx.executor
        if self._forced or not ex.busy:
            return True
        if self.stopping:
            return False  # asked already; the window closes when the job stops
        label = ex.running_label or "A job"
        B = QMessageBox.StandardButton
        answer = self._ask(
            "Stop the running job?",
            f"{label} is still running. Stop it and close the window?\n\n"
            "A sweep keeps the cells it has finished, saved as a partial run.",
            B.Yes | B.Cancel,
            B.Cancel,
        )
        if answer != B.Yes:
            return False
        self.stopping = True
        self.window.status.show_stopping(label)
        self.window.setEnabled(False)  # nothing new starts while it stops
        ex.busy_changed.connect(self._on_busy_changed)
        self._give_up.start()
        ex.cancel()
        if not ex.busy:  # it stopped at once (a pending request only)
            self._forced = True
            return True
        return False

    def _ask(self, title: str, text: str, buttons: Any, default: Any) -> Any:
        if not getattr(self.window.ctx.project, "ask", True):  # tests: confirmations off
            return QMessageBox.StandardButton.Yes
        return QMessageBox.question(self.window, title, text, buttons, default)

    def _on_busy_changed(self, busy: bool) -> None:
        if not busy and self.stopping:
            self._give_up.stop()
            self._forced = True
            QTimer.singleShot(0, self.window.close)

    def _close_anyway(self) -> None:
        self._forced = True
        self.window.close()
