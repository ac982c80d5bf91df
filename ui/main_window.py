"""The main window: docks around a tab of panels, menus, shortcuts, drag and drop, layout memory.

Only PySide6 and light ``ui`` modules are imported here, so the window shows before torch,
SQLAlchemy, superqt or pyqtgraph are imported; :meth:`MainWindow.finish_startup` does the rest
once the window is on screen.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
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
# Tabs that are not on screen at first are built when first shown or asked for, or once the
# model load at start has ended (MainWindow.build_panel, finish_startup).
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

    # builds the panel of a page that holds a placeholder (MainWindow.build_panel, by key)
    build: Callable[[str], QWidget | None] | None = None

    def _panel(self, page: QWidget | None) -> QWidget | None:
        panel = page.widget() if isinstance(page, QScrollArea) else None
        if panel is not None:
            name = panel.objectName()
            if self.build is not None and name.startswith("placeholder_"):
                return self.build(name.removeprefix("placeholder_")) or panel
            return panel
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


class LazyViews(dict):
    """``ctx.views``: key -> view. A tab that has not been built yet is built the first time
    it is asked for by key (``views[key]``, ``views.get(key)``), and ``key in views`` holds for
    it; iterating gives the views built so far (what a theme change and shutdown visit)."""

    def __init__(
        self, built: dict[str, Any], build: Callable[[str], Any], pending: Callable[[str], bool]
    ):
        super().__init__(built)
        self._build = build
        self._pending = pending

    def __missing__(self, key: str) -> Any:
        view = self._build(key) if self._pending(key) else None
        if view is None:
            raise KeyError(key)
        return view

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and self._pending(key))


class PanelMap(Mapping[str, QWidget]):
    """``MainWindow.panels``: every central tab by key, in tab order; looking one up builds it
    if it has not been built yet (``key in panels`` does not)."""

    def __init__(self, window: MainWindow):
        self._window = window

    def __getitem__(self, key: str) -> QWidget:
        panel = self._window.build_panel(key)
        if panel is None:
            raise KeyError(key)
        return panel

    def _keys(self) -> list[str]:  # a tab that failed to build has no panel
        return [k for k in self._window._panel_specs if k not in self._window._failed_panels]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __contains__(self, key: object) -> bool:
        return key in self._keys()


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
        # Tabs: every one is in the tab bar from the first paint; a lazy one is an empty page
        # until it is first shown or asked for (build_panel), or the app is idle after start-up.
        self._panel_specs: dict[str, registry.ViewSpec] = {}
        self._placeholders: dict[str, QScrollArea] = {}
        self._building: set[str] = set()
        self._failed_panels: set[str] = set()  # shown once; asked for again: None
        self._has_closed = False
        self.panels = PanelMap(self)
        self.tabs.build = self.build_panel
        ctx.views = LazyViews(ctx.views, self.build_panel, self._pending)
        self._pending_docks: list[registry.ViewSpec] = []  # lazy docks: after the first paint
        for spec in registry.docks():
            self._add_dock(spec) if not spec.lazy else self._pending_docks.append(spec)
        for spec in registry.panels():
            self._add_panel(spec)
        self.tabs.currentChanged.connect(self._on_tab_changed)
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

    def _add_panel(self, spec: registry.ViewSpec) -> None:
        """A tab for ``spec``: its panel now, or (``spec.lazy``) an empty page that
        :meth:`build_panel` fills."""
        self._panel_specs[spec.key] = spec
        if spec.lazy:
            placeholder = QWidget()
            placeholder.setObjectName(f"panel_{spec.key}")  # the page's name, as when built
            self.tabs.add_panel(placeholder, spec.title)
            placeholder.setObjectName(f"placeholder_{spec.key}")
            page = self.tabs.page(placeholder)
            assert isinstance(page, QScrollArea)
            self._placeholders[spec.key] = page
        else:
            widget = spec.build(self.ctx)
            widget.setObjectName(f"panel_{spec.key}")
            self.tabs.add_panel(widget, spec.title)  # in a scroll page: see PanelTabs
            self.ctx.views[spec.key] = widget
        if spec.shortcut:
            act = QAction(spec.title, self)
            act.setShortcut(QKeySequence(spec.shortcut))
            act.triggered.connect(lambda _=False, key=spec.key: self.show_panel(key))
            self.addAction(act)

    def _pending(self, key: str) -> bool:
        """Tab ``key`` is not built yet, and building it has not failed."""
        return key in self._placeholders and key not in self._failed_panels

    def build_panel(self, key: str) -> QWidget | None:
        """The panel of tab ``key``, built into its page now if it was not yet; None for no
        such tab, or one whose construction failed (the error was shown)."""
        if key in self._panel_specs and key not in self._placeholders:  # built already
            return dict.get(self.ctx.views, key)
        page = self._placeholders.get(key)
        if page is None or key in self._building or key in self._failed_panels:
            return None  # unknown, asked for while being built, or failed (shown once)
        spec = self._panel_specs[key]
        self._building.add(key)
        try:
            widget = spec.build(self.ctx)
        except Exception as e:  # noqa: BLE001 - a broken extension must not stop the app
            self._failed_panels.add(key)
            self.ctx.errors.handle(e, f"building the {spec.title} view")
            return None
        finally:
            self._building.discard(key)
        widget.setObjectName(f"panel_{key}")
        del self._placeholders[key]
        page.setWidget(widget)  # the placeholder goes (QScrollArea deletes it)
        widget.setAutoFillBackground(False)  # as PanelTabs.add_panel does
        dict.__setitem__(self.ctx.views, key, widget)
        return widget

    def _on_tab_changed(self, index: int) -> None:
        self.tabs.widget(index)  # a placeholder's tab builds its panel (PanelTabs._panel)

    def build_remaining_panels(self, one_per_turn: bool = True) -> None:
        """Build the tabs not built yet, one per turn of the event loop (the window stays
        responsive) and only while no job runs, so that a first click on a tab does not wait
        for it and a job started meanwhile is not slowed by it."""
        if self._closed():
            return
        todo = [k for k in self._placeholders if self._pending(k)]
        if not todo:
            long_lived()  # the tabs stay for the session, like the window
            return
        if one_per_turn and self.ctx.executor.busy:  # a job runs: it goes first
            QTimer.singleShot(250, self, self.build_remaining_panels)
            return
        self.build_panel(todo[0])
        if one_per_turn:  # the window as context: no call once it is gone
            QTimer.singleShot(0, self, self.build_remaining_panels)
        else:
            self.build_remaining_panels(one_per_turn=False)

    def _initial_sizes(self) -> None:
        d = self.docks
        side = [x for x in (d.get("models"), d.get("library")) if x]
        self.resizeDocks(side, [300] * len(side), Qt.Orientation.Horizontal)
        if "generations" in d:
            self.resizeDocks([d["generations"]], [150], Qt.Orientation.Vertical)
        if "models" in d and "prompts" in d:
            self.resizeDocks([d["models"], d["prompts"]], [330, 420], Qt.Orientation.Vertical)

    def show_panel(self, key: str) -> None:
        panel = self.build_panel(key)
        if panel is not None:
            self.tabs.setCurrentWidget(panel)

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
    def finish_startup(
        self, model: str | None = "embedded", project: str | None = None, recover: bool = True
    ) -> None:
        """Second half of startup, after the window is shown: start loading the model, open
        the project asked for, and once the load is over (at once without one) start a scratch
        project if none is open, offer back a crashed session's work or the last project
        (``recover``), list model sources and build the tabs not shown yet.

        Everything here runs in this process while the model's imports run in a worker thread,
        and Python runs one thread at a time: a second of work here is about a second later
        that the model is ready. So what the first screen does not need waits until the load
        has ended: an empty scratch project (0.7 s: the store's imports and schema), the hidden
        tabs (0.9 s), the scan for other models (0.2 s). A project named on the command line
        opens at once, and a tab asked for earlier (clicked, or ``ctx.views[key]``) is built
        at once.
        """
        for spec in self._pending_docks:
            try:
                self._add_dock(spec)
            except Exception as e:  # noqa: BLE001 - a broken extension must not stop the app
                self.ctx.errors.handle(e, f"building the {spec.title} view")
        self._pending_docks = []
        self._restore_layout()
        long_lived()
        if model:
            try:
                self.models_dock.load(None if model == "embedded" else model)
            except Exception as e:  # noqa: BLE001 - shown; the rest of the start goes on
                self.ctx.errors.handle(e, "starting to load the model")
        opened = bool(project) and self.ctx.project.open(project, confirm=False)
        self.prompts_dock.load_builtin_sets()
        self.after_loading(lambda: self._finish_idle(scratch=not opened, recover=recover))

    def _closed(self) -> bool:
        """Closed (or its Qt object gone): work queued for later has nothing to do."""
        from shiboken6 import isValid

        return not isValid(self) or self._has_closed

    def after_loading(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once no model is loading: now if none is, else from the event loop
        when the load has ended (loaded, failed or cancelled)."""
        state = self.ctx.state
        if state.loading is None:
            fn()
            return

        def on_loading(name: Any) -> None:
            if name is None:
                state.events.loading.disconnect(on_loading)
                QTimer.singleShot(0, self, fn)

        state.events.loading.connect(on_loading)

    def _finish_idle(self, scratch: bool = True, recover: bool = True) -> None:
        if self._closed():  # closed before the load ended (a user, tests, the self-test)
            return
        if scratch and self.ctx.state.project is None:  # none opened or written meanwhile
            self.ctx.project.new(confirm=False)
            if recover and not self._closed():  # a crashed session's work, or the last project
                try:
                    recovered = self.ctx.project.recover_scratch()
                    if not recovered:
                        self.ctx.project.offer_last_project()
                except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
                    self.ctx.errors.handle(e, "looking for unsaved work from the last session")
        self.models_dock.refresh_sources()
        self.build_remaining_panels()

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
        self._initial_sizes()  # the default split, whatever the window's size is now

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
        self._has_closed = True  # what waits for the model load (finish_startup) is dropped
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
