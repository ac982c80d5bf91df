"""Starting the app: QApplication, theme, error handling, the window first, then the rest.

``python -m ui [--model PATH|embedded] [--project FILE] [--no-autoload]``

The window is shown before torch (or SQLAlchemy, superqt, pyqtgraph) is imported; everything
heavy happens after the first paint, in :meth:`MainWindow.finish_startup`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import cast

_T0 = time.perf_counter()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ui", description="Concept Workbench desktop app")
    p.add_argument(
        "--model", default="embedded", help="model folder, .gguf file, or 'embedded' (default)"
    )
    p.add_argument(
        "--project", default=None, help="project file (.wbproj) to open (created if missing)"
    )
    p.add_argument(
        "project_file", nargs="?", default=None, help="project file to open (same as --project)"
    )
    p.add_argument("--no-autoload", action="store_true", help="do not load a model at startup")
    p.add_argument("--theme", choices=("system", "light", "dark"), default=None)
    p.add_argument(
        "--self-test",
        action="store_true",
        help="open the window offscreen, load the model, generate, write and reopen a project "
        "in a temporary folder; exit 0 only if all of it worked",
    )
    p.add_argument(
        "--self-test-timeout", type=float, default=900, help=argparse.SUPPRESS, metavar="S"
    )
    args = p.parse_args(argv)
    if args.project is None:
        args.project = args.project_file  # a file manager or the menu entry passes it bare
    return args


def process_start() -> float:
    """``time.perf_counter()`` at the moment this process started (the OS's record; the
    import of this module when that cannot be read).

    On Linux the process's start tick (``/proc/self/stat``) and the system's uptime
    (``/proc/uptime``) are on one clock, to 10 ms; psutil's ``create_time`` adds the boot time,
    which ``/proc/stat`` gives in whole seconds, so it was up to a second off."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return time.perf_counter() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return time.perf_counter() - (time.time() - psutil.Process().create_time())
    except Exception:  # noqa: BLE001 - no psutil or no record: the import time is the estimate
        return _T0


def create_window(theme_choice: str | None = None, interactive: bool = True):
    """Build the context and the main window (QApplication must exist). Returns the window."""
    from PySide6.QtGui import QUndoStack
    from PySide6.QtWidgets import QApplication

    from ui.context import AppContext
    from ui.errors import ErrorHandler
    from ui.main_window import MainWindow, settings
    from ui.project_controller import ProjectController
    from ui.state import AppState
    from ui.theme import ThemeManager
    from ui.workers import ModelExecutor

    app = cast(QApplication, QApplication.instance())
    choice = str(theme_choice or settings().value("ui/theme", "system"))
    theme = getattr(app, "_workbench_theme", None)
    if theme is None:
        theme = ThemeManager(app, choice)
        app._workbench_theme = theme  # type: ignore[attr-defined]  # one per QApplication, kept on it
    elif theme.choice != choice:
        theme.set_choice(choice)
    from ui.wheel_guard import install as install_wheel_guard

    install_wheel_guard(app)  # spin and combo boxes take the wheel only when focused
    errors = ErrorHandler(interactive=interactive)
    state = AppState()
    ctx = AppContext(state, ModelExecutor(errors.handle), errors, QUndoStack())
    ctx.project = ProjectController(state, errors)
    # undo acts on the project open now: another project's history would change this one
    state.events.project.connect(lambda *_: ctx.undo.clear())
    window = MainWindow(ctx, theme)
    errors.parent_widget = window
    ctx.project.parent_widget = window

    def refresh_views(*_: object) -> None:
        from shiboken6 import isValid

        # The theme lives as long as the QApplication; a window closed earlier in the same
        # process (tests, the self-test) has views whose Qt objects are gone.
        for v in list(ctx.views.values()):
            if hasattr(v, "refresh_theme") and isValid(v):
                v.refresh_theme()

    theme.changed.connect(refresh_views)
    theme.changed.connect(lambda *_: settings().setValue("ui/theme", theme.choice))
    return window


def run(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    args = parse_args(argv[1:])
    logging.basicConfig(level=os.environ.get("WORKBENCH_LOG", "WARNING"))
    if args.self_test:
        from ui.selftest import run_self_test

        return run_self_test(
            argv[0], model=args.model, timeout_s=args.self_test_timeout, t0=process_start()
        )
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.errors import install_excepthook

    app = cast(QApplication, QApplication.instance() or QApplication(argv[:1]))
    app.setApplicationName("Concept Workbench")
    app.setOrganizationName("concept-workbench")
    app.setDesktopFileName("concept-workbench")
    window = create_window(args.theme)
    install_excepthook(window.ctx.errors)
    window.show()
    model = None if args.no_autoload else args.model

    def shown() -> None:
        if os.environ.get("WORKBENCH_STARTUP_REPORT"):
            print(
                f"WORKBENCH_WINDOW_SHOWN {time.perf_counter() - _T0:.3f} torch={'torch' in sys.modules}",
                flush=True,
            )
        if os.environ.get("WORKBENCH_EXIT_AFTER_SHOW"):
            window.ctx.project.ask = False
            QTimer.singleShot(0, window.close)
            return
        QTimer.singleShot(0, lambda: window.finish_startup(model=model, project=args.project))

    QTimer.singleShot(0, shown)
    return app.exec()
