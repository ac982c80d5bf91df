"""The main window: docks around a tab of panels, menus, shortcuts, drag and drop, layout memory.

Only PySide6 and light ``ui`` modules are imported here, so the window shows before torch,
SQLAlchemy, superqt or pyqtgraph are imported; :meth:`MainWindow.finish_startup` does the rest
once the window is on screen.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from ui import registry
from ui.context import AppContext
from ui.menus import build_menus
from ui.status_bar import JobStatusBar
from workbench.paths import resources_dir

LAYOUT_VERSION = 2
ICON = resources_dir() / "icons" / "app.svg"

registry.register_dock(
    "models",
    "Models",
    "ui.docks.models_dock:ModelsDock",
    Qt.DockWidgetArea.LeftDockWidgetArea,
    10,
    lazy=False,
)
registry.register_dock(
    "prompts",
    "Prompts",
    "ui.docks.prompts_dock:PromptsDock",
    Qt.DockWidgetArea.LeftDockWidgetArea,
    20,
    lazy=False,
)
registry.register_dock(
    "library",
    "Concept library",
    "ui.docks.library_dock:LibraryDock",
    Qt.DockWidgetArea.RightDockWidgetArea,
    30,
    lazy=False,
)
registry.register_dock(
    "generations",
    "Generations",
    "ui.docks.generations_dock:GenerationsDock",
    Qt.DockWidgetArea.BottomDockWidgetArea,
    40,
    lazy=False,
)
registry.register_panel(
    "canvas",
    "Vector canvas",
    "ui.panels.canvas_panel:CanvasPanel",
    10,
    lazy=False,
    shortcut="Ctrl+1",
)
# Tabs that are not on screen at first are built right after the window appears.
registry.register_panel(
    "preview", "Preview", "ui.panels.preview_panel:PreviewPanel", 20, lazy=True, shortcut="Ctrl+2"
)
registry.register_panel(
    "sweep", "Sweep", "ui.panels.sweep_panel:SweepPanel", 30, lazy=True, shortcut="Ctrl+3"
)
registry.register_panel(
    "heads", "Heads", "ui.panels.heads.panel:HeadsPanel", 40, lazy=True, shortcut="Ctrl+4"
)
registry.register_panel(
    "diffusion",
    "Diffusion",
    "ui.panels.diffusion.panel:DiffusionPanel",
    50,
    lazy=True,
    shortcut="Ctrl+5",
)
registry.register_panel(
    "analysis",
    "Analyses",
    "ui.panels.analysis.panel:AnalysisPanel",
    60,
    lazy=True,
    shortcut="Ctrl+6",
)


def settings() -> QSettings:
    """Per-user UI settings (window layout, theme) in an INI file beside the recent list."""
    folder = os.environ.get("WORKBENCH_CONFIG_DIR")
    if folder is None:
        from PySide6.QtCore import QStandardPaths

        folder = os.path.join(
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation),
            "concept-workbench",
        )
    return QSettings(os.path.join(folder, "ui.ini"), QSettings.Format.IniFormat)


def long_lived() -> None:
    """Move every object alive now out of the cyclic collector's sight (``gc.freeze``).

    The window, its views and the libraries they imported live as long as the app; walking
    them on every full collection paused the GUI thread for 200 ms while a long list scrolled
    (measured with 270,000 objects). Called once the window is built and after a model loads;
    no collection first, which would be the same pause.
    """
    import gc

    gc.freeze()


class PanelTabs(QTabWidget):
    """The central tabs. Each panel sits in a frameless scroll area (its tab page), so a wide
    panel scrolls in a narrow window instead of forcing the window wider than the screen.

    ``indexOf``, ``setCurrentWidget``, ``currentWidget`` and ``widget`` take and give the panels
    themselves (as ``MainWindow.panels`` and ``ctx.views`` hold them), not their scroll pages;
    :meth:`page` gives the page.
    """

    def add_panel(self, panel: QWidget, title: str) -> int:
        page = QScrollArea()
        page.setObjectName(f"page_{panel.objectName() or title}")
        page.setWidgetResizable(True)
        page.setFrameShape(QFrame.Shape.NoFrame)
        page.setWidget(panel)
        # setWidget turns on the panel's background fill; the page paints the same background
        # already. (A fill asks QPaintDevice.metric(): a panel must not have an attribute of
        # that name; SweepPanel's heatmap combo once did, and grabs crashed.)
        panel.setAutoFillBackground(False)
        return self.addTab(page, title)

    def page(self, widget: QWidget | None) -> QWidget | None:
        """The tab page that is or holds ``widget`` (``widget`` itself when it is no panel)."""
        parent = widget.parentWidget() if widget is not None else None
        area = parent.parentWidget() if parent is not None else None  # viewport, then area
        if isinstance(area, QScrollArea) and area.widget() is widget and super().indexOf(area) >= 0:
            return area
        return widget

    @staticmethod
    def _panel(page: QWidget | None) -> QWidget | None:
        if isinstance(page, QScrollArea) and page.widget() is not None:
            return page.widget()
        return page

    def indexOf(self, widget: QWidget) -> int:
        page = self.page(widget)
        return super().indexOf(page) if page is not None else -1

    def setCurrentWidget(self, widget: QWidget) -> None:
        page = self.page(widget)
        if page is not None:
            super().setCurrentWidget(page)

    def currentWidget(self) -> QWidget | None:  # type: ignore[override]  # None with no tab (Qt's nullptr)
        return self._panel(super().currentWidget())

    def widget(self, index: int) -> QWidget | None:
        return self._panel(super().widget(index))


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, theme: Any = None):
        super().__init__()
        self.ctx = ctx
        self.theme = theme
        ctx.window = self
        self.setWindowTitle("Concept Workbench")
        if ICON.exists():
            self.setWindowIcon(QIcon(str(ICON)))
        self.resize(1440, 900)
        self.setAcceptDrops(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
            | QMainWindow.DockOption.AllowNestedDocks
        )
        self.tabs = PanelTabs()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.docks: dict[str, QDockWidget] = {}
        self.panels: dict[str, QWidget] = {}
        self._pending_views: list[tuple[str, registry.ViewSpec]] = []
        for spec in registry.docks():
            self._add_dock(spec) if not spec.lazy else self._pending_views.append(("dock", spec))
        for spec in registry.panels():
            self._add_panel(spec) if not spec.lazy else self._pending_views.append(("panel", spec))
        self.status = JobStatusBar(ctx)
        self.setStatusBar(self.status)
        for label in self.status.findChildren(QLabel):
            # A long job message ("Loading …: reading …") clips instead of widening the window
            # past the screen (a window never shrinks back by itself once it has grown).
            label.setMinimumWidth(24)
        self.actions_ = build_menus(self)
        if theme is not None:  # toolbar glyphs drawn in the theme's text colour
            from shiboken6 import isValid

            from ui.icons import retint

            theme.changed.connect(lambda *_: retint(self) if isValid(self) else None)
        self.setStatusTip("")
        ctx.state.events.project.connect(self._on_project_changed)
        controller = getattr(ctx, "project", None)
        if controller is not None:  # the project's layout: the last step of opening it
            controller.project_changed.connect(self._restore_project_layout)
        self._initial_sizes()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._restore_layout()
        self._on_project_changed(None)

    # ------------------------------------------------------------- views
    def _add_dock(self, spec: registry.ViewSpec) -> QDockWidget:
        widget = spec.build(self.ctx)
        dock = widget if isinstance(widget, QDockWidget) else QDockWidget(spec.title)
        if dock is not widget:
            dock.setWidget(widget)
        dock.setObjectName(f"dock_{spec.key}")
        dock.setWindowTitle(spec.title)
        self.addDockWidget(spec.area or Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.docks[spec.key] = dock
        self.ctx.views[spec.key] = widget
        return dock

    def _add_panel(self, spec: registry.ViewSpec) -> QWidget:
        widget = spec.build(self.ctx)
        widget.setObjectName(f"panel_{spec.key}")
        self.tabs.add_panel(widget, spec.title)  # in a scroll page: see PanelTabs
        self.panels[spec.key] = widget
        self.ctx.views[spec.key] = widget
        if spec.shortcut:
            act = QAction(spec.title, self)
            act.setShortcut(QKeySequence(spec.shortcut))
            act.triggered.connect(lambda _=False, w=widget: self.tabs.setCurrentWidget(w))
            self.addAction(act)
        return widget

    def _initial_sizes(self) -> None:
        d = self.docks
        side = [x for x in (d.get("models"), d.get("library")) if x]
        self.resizeDocks(side, [300] * len(side), Qt.Orientation.Horizontal)
        if "generations" in d:
            self.resizeDocks([d["generations"]], [150], Qt.Orientation.Vertical)
        if "models" in d and "prompts" in d:
            self.resizeDocks([d["models"], d["prompts"]], [330, 420], Qt.Orientation.Vertical)

    def show_panel(self, key: str) -> None:
        if key in self.panels:
            self.tabs.setCurrentWidget(self.panels[key])

    @property
    def models_dock(self) -> Any:
        return self.ctx.views["models"]

    @property
    def prompts_dock(self) -> Any:
        return self.ctx.views["prompts"]

    @property
    def library_dock(self) -> Any:
        return self.ctx.views["library"]

    def view(self, key: str) -> Any:
        return self.ctx.views.get(key)

    # ----------------------------------------------------------- startup
    def finish_startup(self, model: str | None = "embedded", project: str | None = None) -> None:
        """Second half of startup, after the window is shown: build lazy views, open the
        project (imports the store), list model sources, start loading the model.

        (Starting the model load first and the rest after it was measured: no difference to
        the time until the model is ready, so the simple order stays.)"""
        for kind, spec in self._pending_views:
            try:
                self._add_dock(spec) if kind == "dock" else self._add_panel(spec)
            except Exception as e:  # noqa: BLE001 - a broken extension must not stop the app
                self.ctx.errors.handle(e, f"building the {spec.title} view")
        self._pending_views = []
        self._restore_layout()
        long_lived()
        ok = self.ctx.project.open(project, confirm=False) if project else False
        if not ok:
            self.ctx.project.new(confirm=False)
        self.prompts_dock.load_builtin_sets()
        self.models_dock.refresh_sources()
        if model:
            self.models_dock.load(None if model == "embedded" else model)
        if not ok:  # the model loads meanwhile; a crashed session's work is offered back
            try:
                recovered = self.ctx.project.recover_scratch()
                if not recovered:  # nothing to recover: the last project, if the user likes
                    self.ctx.project.offer_last_project()
            except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
                self.ctx.errors.handle(e, "looking for unsaved work from the last session")

    # ------------------------------------------------------------ layout
    def _restore_layout(self) -> None:
        s = settings()
        geo, st = s.value("window/geometry"), s.value("window/state")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        if isinstance(st, QByteArray):
            self.restoreState(st, LAYOUT_VERSION)
        self.fit_to_screen()

    def fit_to_screen(self) -> None:
        """Keep the window (frame included) inside its screen's available area: a size saved
        on a bigger screen, or the default size, must not leave docks beyond the screen edge."""
        if self.isMaximized() or self.isFullScreen():
            return
        center = self.frameGeometry().center()  # the screen a restored geometry lies on
        screen = QGuiApplication.screenAt(center) or self.screen()
        screen = screen or QGuiApplication.primaryScreen()
        if screen is None:
            return
        avail = screen.availableGeometry()
        frame = self.frameGeometry()
        geo = self.geometry()
        extra_w = max(0, frame.width() - geo.width())
        extra_h = max(0, frame.height() - geo.height())
        w = min(geo.width(), avail.width() - extra_w)
        h = min(geo.height(), avail.height() - extra_h)
        w, h = max(w, self.minimumWidth()), max(h, self.minimumHeight())
        if (w, h) != (geo.width(), geo.height()):
            self.resize(w, h)
        frame = self.frameGeometry()
        x = min(max(frame.x(), avail.left()), max(avail.left(), avail.right() + 1 - frame.width()))
        y = min(max(frame.y(), avail.top()), max(avail.top(), avail.bottom() + 1 - frame.height()))
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def save_layout(self) -> None:
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(LAYOUT_VERSION))
        s.sync()
        p = self.ctx.state.project
        if p is not None and not p.read_only:
            with contextlib.suppress(Exception):  # layout is a nicety; never fail closing over it
                p.set_setting(
                    "window_state", bytes(self.saveState(LAYOUT_VERSION).toBase64().data()).decode()
                )

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.setVisible(True)
            dock.setFloating(False)

    def _on_project_changed(self, project: Any) -> None:
        name = "no project"
        if project is not None:
            name = (
                "Untitled (scratch)"
                if self.ctx.state.project_is_scratch
                else Path(project.path).name
            )
        from ui import file_dialogs

        # file dialogs start beside the project (unless a folder was used since)
        where = None if project is None or self.ctx.state.project_is_scratch else project.path
        file_dialogs.project_file = lambda: str(where) if where else None
        ro = " [read-only]" if project is not None and project.read_only else ""
        self.setWindowTitle(f"{name}{ro} — Concept Workbench")

    def _restore_project_layout(self) -> None:
        """The dock layout kept in the project (a step of its own while a project opens: with
        the views full it takes tens of milliseconds)."""
        project = self.ctx.state.project
        if project is None:
            return
        stored = None
        with contextlib.suppress(Exception):
            stored = project.get_setting("window_state")
        if stored and stored != bytes(self.saveState(LAYOUT_VERSION).toBase64().data()).decode():
            self.restoreState(QByteArray.fromBase64(stored.encode()), LAYOUT_VERSION)

    # ------------------------------------------------------- drag & drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_dropped(url.toLocalFile())
        event.acceptProposedAction()

    def open_dropped(self, path: str) -> None:
        """A dropped file: a project opens, a vector file is imported, anything else is read
        as a prompt set (CSV, JSON, text)."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".wbproj":
            self.ctx.project.open(p)
        elif suffix in (".safetensors", ".gguf", ".pt", ".pth", ".npy", ".npz", ".svec") or (
            p.is_dir() and (p / "cfg.json").exists()
        ):
            self.library_dock.import_vector(str(p))
        else:
            self.prompts_dock.import_file(str(p))

    # ------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        from ui.closing import CloseGuard

        guard = getattr(self, "_close_guard", None)
        if guard is None:
            guard = self._close_guard = CloseGuard(self)
        if not guard.may_close():  # a job runs: asked, and stopping it first (see ui.closing)
            event.ignore()
            return
        if not self.ctx.project.maybe_discard():
            self.setEnabled(True)
            event.ignore()
            return
        self.save_layout()
        for view in self.ctx.views.values():
            if hasattr(view, "shutdown"):
                view.shutdown()
        self.ctx.executor.shutdown()
        self.ctx.project.close()
        self.ctx.state.models = ()  # let the models go
        event.accept()
        QTimer.singleShot(0, self.deleteLater) if self.testAttribute(
            Qt.WidgetAttribute.WA_DeleteOnClose
        ) else None
