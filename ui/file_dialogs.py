"""Where file dialogs start, and saying that a file was written.

A save or open dialog starts in the folder last used for one (kept in the UI settings), else
in the open project's folder, else in the home folder: never in the process's working
directory. :func:`saved` confirms a written file in the window's status bar.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMainWindow, QWidget

KEY = "files/last_folder"
# The open project's file (set by the main window when a project opens); None when none is
# open or it is a scratch file in the app's data folder.
project_file: Callable[[], str | None] = lambda: None  # noqa: E731


def _settings():  # the main window's INI file (imported late: it imports the window)
    from ui.main_window import settings

    return settings()


def start_folder() -> str:
    last = _settings().value(KEY)
    if isinstance(last, str) and last and os.path.isdir(last):
        return last
    project = project_file()
    if project:
        return str(Path(project).parent)
    return str(Path.home())


def remember(path: str) -> None:
    folder = str(Path(path).parent)
    if os.path.isdir(folder):
        s = _settings()
        s.setValue(KEY, folder)
        s.sync()


def save_path(parent: QWidget | None, title: str, name: str, filters: str) -> tuple[str, str]:
    """``QFileDialog.getSaveFileName`` starting in :func:`start_folder`; remembers the folder."""
    path, chosen = QFileDialog.getSaveFileName(
        parent, title, os.path.join(start_folder(), name), filters
    )
    if path:
        remember(path)
    return path, chosen


def open_path(parent: QWidget | None, title: str, filters: str) -> tuple[str, str]:
    path, chosen = QFileDialog.getOpenFileName(parent, title, start_folder(), filters)
    if path:
        remember(path)
    return path, chosen


def saved(widget: QWidget | None, path: str | os.PathLike, what: str = "Saved") -> None:
    """Say in the window's status bar that ``path`` was written."""
    window = widget.window() if widget is not None else None
    if isinstance(window, QMainWindow) and window.statusBar() is not None:
        window.statusBar().showMessage(f"{what} {path}", 10000)
