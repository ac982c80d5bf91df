"""One place where errors become messages that say what happened and what to do.

Expected errors (:class:`workbench.errors.WorkbenchError`) carry a user-facing text already.
Anything else is a bug: its traceback is written to an error log in the user's data folder
(:mod:`workbench.errorlog`) and the dialog says "internal error: ...; details written to FILE",
with a "Copy details" button.
:func:`install_excepthook` routes uncaught exceptions (also from Qt slots) here, so the app
never crashes on one.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger("ui")

_HINTS = {
    "ModelLoadError": "Check the model folder, or pick another model in the Models dock.",
    "SiteError": "Pick a site that this model has (Preview → Site).",
    "ShapeMismatchError": "Use concepts extracted from the same model and at the same sites.",
    "PromptSetError": "Edit the prompt set in the Prompts dock.",
    "VectorFileError": "Choose another file or format.",
    "ProjectFileError": "Your work is safe in the last saved state; use Save As to keep a copy elsewhere.",
    "ExpressionError": "Edit the canvas terms: every name must be a concept in the library.",
    "MemoryError": "Close the second model, or load in a smaller dtype (bfloat16).",
    "OutOfMemoryError": "Close the second model, or load in a smaller dtype (bfloat16).",
}


def describe(exc: BaseException) -> tuple[str, str, bool]:
    """``(message, what to do, expected)`` for an exception."""
    names = [c.__name__ for c in type(exc).__mro__]
    expected = "WorkbenchError" in names or isinstance(exc, (OSError, MemoryError, ValueError))
    cause = exc.__cause__ if type(exc).__name__ == "JobError" and exc.__cause__ else exc
    text = str(exc) or type(exc).__name__
    hint = next((_HINTS[n] for n in [c.__name__ for c in type(cause).__mro__] if n in _HINTS), "")
    if "out of memory" in text.lower():
        hint = _HINTS["MemoryError"]
    if not expected and not hint:
        hint = "This looks like a bug. Your project is saved; the details below help to report it."
    return text, hint, expected


class ErrorHandler(QObject):
    """Shows errors as dialogs (or collects them when ``interactive`` is False, for tests)."""

    error_shown = Signal(str, str)  # context, message

    def __init__(self, parent_widget: QWidget | None = None, interactive: bool = True):
        super().__init__()
        self.parent_widget = parent_widget
        self.interactive = interactive
        self.history: list[tuple[str, str]] = []
        self.last_log: Path | None = None  # the error log of the last unexpected error
        self._showing = False

    def handle(self, exc: BaseException, context: str = "") -> None:
        message, hint, expected = describe(exc)
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        (log.warning if expected else log.error)("%s: %s\n%s", context, message, details)
        if not expected and "out of memory" not in message.lower():
            # a bug: the traceback goes to a file the user can send; the one line names the
            # error a job raised (JobError only carries a RuntimeError out of the worker)
            from workbench.errorlog import internal_error_message, write_error_log

            cause = exc.__cause__ if type(exc).__name__ == "JobError" and exc.__cause__ else exc
            self.last_log = write_error_log(exc, context)
            message = internal_error_message(cause, self.last_log)
            details = self.last_log.read_text(encoding="utf-8")
        self.history.append((context, message))
        self.error_shown.emit(context, message)
        if not self.interactive or self._showing:
            return
        self._showing = True  # never stack dialogs when errors come in a burst
        try:
            box = QMessageBox(self.parent_widget)
            box.setIcon(QMessageBox.Icon.Warning if expected else QMessageBox.Icon.Critical)
            box.setWindowTitle("Concept Workbench")
            title = (
                f"{context[:1].upper()}{context[1:]} failed."
                if context
                else "Something went wrong."
            )
            box.setText(f"<b>{title}</b><br><br>{_html(message)}")
            if hint:
                box.setInformativeText(hint)
            copy = None
            if not expected:
                box.setDetailedText(details)
                copy = box.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
                box.addButton(QMessageBox.StandardButton.Close)
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.exec()
            while copy is not None and box.clickedButton() is copy:
                QApplication.clipboard().setText(details)  # then show it again, to read on
                box.exec()
        finally:
            self._showing = False


def first_line(exc: BaseException) -> str:
    """An error's first line, short enough for a status label (the dialog has the rest)."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
    )


_handler: ErrorHandler | None = None


def install_excepthook(handler: ErrorHandler) -> None:
    """Send uncaught exceptions to ``handler`` instead of aborting (PySide6 would)."""
    global _handler
    _handler = handler

    def hook(tp: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(tp, KeyboardInterrupt):
            sys.__excepthook__(tp, value, tb)
            return
        if _handler is None:
            sys.__excepthook__(tp, value, tb)
            return
        value.__traceback__ = tb
        try:
            _handler.handle(value, "")
        except Exception:  # noqa: BLE001 - never let the hook itself raise
            sys.__excepthook__(tp, value, tb)

    sys.excepthook = hook


def uninstall_excepthook() -> None:
    global _handler
    _handler = None
    sys.excepthook = sys.__excepthook__
