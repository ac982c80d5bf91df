"""An unexpected error in the window: one line naming the error log, the traceback in that file
(in the user's data folder), and a "Copy details" button in the dialog. Expected errors keep
their own message and write no log."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from ui.errors import ErrorHandler
from workbench.errors import VectorFileError
from workbench.paths import data_dir


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001 - to give it a traceback
        return e


def test_unexpected_error_is_logged_and_named(qapp):
    handler = ErrorHandler(interactive=False)
    handler.handle(_raised(RuntimeError("the GPU caught fire")), "steering")
    context, message = handler.history[-1]
    assert context == "steering"
    assert message.startswith(
        "internal error: RuntimeError: the GPU caught fire; details written to "
    )
    log = Path(message.rsplit("details written to ", 1)[1])
    assert log == handler.last_log and log.parent == data_dir() / "logs"
    text = log.read_text()
    assert "while steering" in text and "Traceback" in text and "the GPU caught fire" in text


def test_expected_error_keeps_its_message_and_writes_no_log(qapp):
    handler = ErrorHandler(interactive=False)
    handler.handle(VectorFileError("x.npy holds a bare vector"), "importing x.npy")
    assert handler.history[-1] == ("importing x.npy", "x.npy holds a bare vector")
    assert handler.last_log is None


def test_copy_details_button_puts_the_log_on_the_clipboard(qapp):
    QApplication.clipboard().clear()
    clicks: list[str] = []

    def press(label: str) -> None:
        box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox))
        button = next(b for b in box.buttons() if b.text().replace("&", "") == label)
        clicks.append(label)
        if label == "Copy details":
            QTimer.singleShot(50, lambda: press("Close"))  # the dialog opens again to read on
        button.click()

    QTimer.singleShot(50, lambda: press("Copy details"))
    handler = ErrorHandler(interactive=True)
    handler.handle(_raised(ZeroDivisionError("division by zero")), "drawing the heat map")
    assert clicks == ["Copy details", "Close"]
    copied = QApplication.clipboard().text()
    assert "Traceback" in copied and "ZeroDivisionError" in copied
    assert copied == handler.last_log.read_text()


def test_a_failed_job_names_the_error_it_raised(qapp):
    from ui.workers import JobError

    try:
        try:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        except RuntimeError as e:
            raise JobError(str(e)) from e
    except JobError as e:
        wrapped = e
    handler = ErrorHandler(interactive=False)
    handler.handle(wrapped, "steering")
    message = handler.history[-1][1]
    assert message.startswith("internal error: RuntimeError: mat1 and mat2 shapes cannot")
    assert "RuntimeError" in handler.last_log.read_text()
