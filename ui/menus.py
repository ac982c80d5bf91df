"""Menus, toolbar and keyboard shortcuts of the main window."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox, QStyle, QToolBar

from ui import glossary

if TYPE_CHECKING:
    from ui.main_window import MainWindow

S = QKeySequence.StandardKey


def _show_and_call(w: MainWindow, key: str, method: str) -> Callable[[], None]:
    """Show panel ``key``, then call its ``method`` (a menu action on a panel)."""

    def run() -> None:
        w.show_panel(key)
        view = w.view(key)
        if view is not None:  # None: the tab could not be built (that error was shown)
            getattr(view, method)()

    return run


def _act(
    w: MainWindow, text: str, slot: Any, shortcut: Any = None, tip: str = "", icon: Any = None
) -> QAction:
    a = QAction(text, w)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut) if isinstance(shortcut, str) else shortcut)
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    if icon is not None:
        from ui.icons import set_standard_icon

        set_standard_icon(a, w, icon)  # a one-colour glyph follows the theme (ui.icons)
    a.triggered.connect(lambda _=False: slot())
    return a


def build_menus(w: MainWindow) -> dict[str, QAction]:
    ctx = w.ctx
    pc = ctx.project
    lib, models, prompts = w.library_dock, w.models_dock, w.prompts_dock
    SP = QStyle.StandardPixmap
    a = {
        "new": _act(
            w, "&New project", lambda: pc.new(), S.New, "Start an empty project", SP.SP_FileIcon
        ),
        "open": _act(
            w,
            "&Open project…",
            lambda: pc.open(),
            S.Open,
            "Open a .wbproj file",
            SP.SP_DialogOpenButton,
        ),
        "example": _act(
            w,
            "Open &example project",
            lambda: pc.open_example(),
            None,
            "Open a copy of the example project (sentiment concepts on SmolLM2)",
        ),
        "save": _act(
            w,
            "&Save",
            lambda: pc.save(),
            S.Save,
            "Changes are saved as you work; Save picks a file for a new project",
            SP.SP_DialogSaveButton,
        ),
        "save_as": _act(
            w, "Save &as…", lambda: pc.save_as(), S.SaveAs, "Continue in a copy of the project"
        ),
        "import_prompts": _act(
            w,
            "Import prompt set…",
            lambda: prompts.import_file(),
            "Ctrl+I",
            "CSV, JSON or a text file, one prompt a line",
        ),
        "import_vector": _act(
            w,
            "Import vector file…",
            lambda: lib.import_vector(),
            "Ctrl+Shift+I",
            "safetensors, GGUF control vector, .pt, .npy/.npz, Neuronpedia JSON, .svec",
        ),
        "export_vector": _act(
            w,
            "Export concept…",
            lambda: lib.export_selected(),
            "Ctrl+Shift+E",
            "Write the selected concept in any supported vector format",
        ),
        "export_csv": _act(
            w,
            "Export generations as CSV…",
            lambda: w.view("generations").export_csv(),
            None,
            "Every baseline/steered generation of the project with its provenance",
        ),
        "quit": _act(w, "&Quit", w.close, S.Quit),
        "undo": ctx.undo.createUndoAction(w, "&Undo"),
        "redo": ctx.undo.createRedoAction(w, "&Redo"),
        "rename": _act(w, "Rename concept", lambda: lib.rename_selected(), "F2"),
        "delete": _act(w, "Delete concept", lambda: lib.delete_selected(), S.Delete),
        "load_embedded": _act(
            w,
            "Load &embedded model",
            lambda: models.load(None),
            "Ctrl+L",
            "SmolLM2-135M-Instruct, shipped with the app",
            SP.SP_ComputerIcon,
        ),
        "open_model": _act(
            w,
            "Open model folder or file…",
            lambda: models.open_model_dialog(),
            "Ctrl+Shift+L",
            "A Hugging Face folder (config.json + safetensors) or a .gguf file",
            SP.SP_DirOpenIcon,
        ),
        "cancel": _act(
            w,
            "Cancel running job",
            lambda: ctx.executor.cancel(),
            "Esc",
            "Stop the running job at its next step",
            SP.SP_BrowserStop,
        ),
        "extract": _act(
            w,
            "E&xtract concept…",
            lambda: lib.extract_dialog(),
            "Ctrl+E",
            "Make a concept vector from a prompt set",
            SP.SP_MediaSeekForward,
        ),
        "compare": _act(
            w,
            "&Compare concepts",
            lambda: lib.compare_selected(),
            "Ctrl+K",
            glossary.TERMS["cosine"],
        ),
        "to_canvas": _act(
            w,
            "Add to canvas",
            lambda: lib.add_selected_to_canvas(),
            "Ctrl+Shift+A",
            "Add the selected concepts as terms on the vector canvas",
        ),
        "generate": _act(
            w,
            "&Generate preview",
            _show_and_call(w, "preview", "generate"),
            "Ctrl+Return",
            "Baseline and steered continuations side by side",
            SP.SP_MediaPlay,
        ),
        "sweep": _act(
            w,
            "Run &sweep",
            _show_and_call(w, "sweep", "run"),
            "Ctrl+Shift+Return",
            "Layers × coefficients grid",
        ),
        "search": _act(w, "Find concept", lambda: lib.focus_search(), S.Find),
        "reset_layout": _act(
            w, "Reset layout", w.reset_layout, None, "Put every dock back where it started"
        ),
        "about": _act(w, "About Concept Workbench", lambda: _about(w)),
        "start": _act(
            w,
            "Getting started",
            lambda: _getting_started(w),
            None,
            "A first experiment: load the model, score induction heads, extract sentiment, steer",
        ),
    }
    a["undo"].setShortcut(S.Undo)
    a["redo"].setShortcut(S.Redo)
    mb = w.menuBar()
    f = mb.addMenu("&File")
    for k in ("new", "open", "example"):
        f.addAction(a[k])
    recent = QMenu("Open &recent", w)
    recent.aboutToShow.connect(lambda: _fill_recent(w, recent))
    f.addMenu(recent)
    f.addSeparator()
    for k in ("save", "save_as"):
        f.addAction(a[k])
    f.addSeparator()
    for k in ("import_prompts", "import_vector", "export_vector", "export_csv"):
        f.addAction(a[k])
    f.addSeparator()
    f.addAction(a["quit"])
    e = mb.addMenu("&Edit")
    for key in ("undo", "redo", None, "rename", "delete", "search"):
        e.addSeparator() if key is None else e.addAction(a[key])
    e.addSeparator()
    e.addAction(_act(w, "&Preferences…", lambda: _preferences(w), S.Preferences))
    m = mb.addMenu("&Model")
    for key in ("load_embedded", "open_model", None, "cancel"):
        m.addSeparator() if key is None else m.addAction(a[key])
    c = mb.addMenu("&Concept")
    for key in ("extract", "compare", "to_canvas", None, "generate", "sweep"):
        c.addSeparator() if key is None else c.addAction(a[key])
    v = mb.addMenu("&View")
    for dock in w.docks.values():
        v.addAction(dock.toggleViewAction())
    v.addSeparator()
    theme_menu = v.addMenu("Theme")
    group = QActionGroup(w)
    for choice in ("system", "light", "dark"):
        t = QAction(choice.capitalize(), w, checkable=True)
        t.setChecked(getattr(w.theme, "choice", "system") == choice)
        t.triggered.connect(lambda _=False, c=choice: w.theme and w.theme.set_choice(c))
        group.addAction(t)
        theme_menu.addAction(t)
    v.addAction(a["reset_layout"])
    h = mb.addMenu("&Help")
    h.addAction(a["start"])
    h.addAction(a["about"])
    tb = QToolBar("Main")
    tb.setObjectName("toolbar_main")
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for key in (
        "open",
        "save",
        None,
        "load_embedded",
        "open_model",
        None,
        "extract",
        "generate",
        "cancel",
    ):
        tb.addSeparator() if key is None else tb.addAction(a[key])
    w.addToolBar(tb)
    for act in a.values():  # shortcuts work wherever focus is
        w.addAction(act)
    return a


def _fill_recent(w: MainWindow, menu: QMenu) -> None:
    menu.clear()
    try:
        paths = w.ctx.project.recent()
    except OSError:  # the recent-projects file cannot be read: an empty menu
        paths = []
    if not paths:
        menu.addAction("No recent projects").setEnabled(False)
    for p in paths:
        menu.addAction(p.name, functools.partial(w.ctx.project.open, p)).setToolTip(str(p))


def _getting_started(w: MainWindow) -> None:
    from ui.guide import show_getting_started

    show_getting_started(w)


def _preferences(w: MainWindow) -> None:
    from ui.dialogs.preferences import PreferencesDialog

    PreferencesDialog(w).exec()


def _about(w: MainWindow) -> None:
    from workbench import __version__

    QMessageBox.about(
        w,
        "About Concept Workbench",
        f"<b>Concept Workbench {__version__}</b><p>Extract concept vectors from prompt sets, combine "
        "them, and see what they do to a model's generations.</p>",
    )
