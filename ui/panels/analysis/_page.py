"""The common frame of an analysis page: settings, run/cancel, progress, figure, export, store.

A subclass builds its settings into :attr:`AnalysisPage.form` and implements :meth:`job`
(the engine job to run and its arguments, read from the settings; raise with a clear message on
a bad input) and :meth:`describe` (what a result says in one line). The engine job returns a
result with ``to_dict()``, ``figure_spec()`` and a ``kind``; the page draws the spec (the same
matplotlib figure the command line writes), exports it as PNG/SVG/PDF and stores the run and its
figure in the open project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ui.file_dialogs import save_path
from ui.widgets import end_progress, show_progress
from workbench.jobs import Job, Progress


@dataclass(frozen=True)
class PageRun:
    """What a page's job hands back: the engine result, its figure spec and rendered files."""

    result: Any
    spec: dict[str, Any]
    files: dict[str, bytes]


def job_with_figure(job_fn: Callable[..., Job[Any]], *args: Any, **kwargs: Any) -> Job[PageRun]:
    """Run an engine job, then draw its figure spec as PNG (screen), SVG and PDF (store)."""
    result = yield from job_fn(*args, **kwargs)
    yield Progress(1, 1, "drawing the figure")
    from workbench.figures import render

    spec = result.figure_spec()
    files = {fmt: render(spec, fmt) for fmt in ("png", "svg", "pdf")}
    return PageRun(result, spec, files)


class FigureView(QScrollArea):
    """The rendered figure, scaled to the view's width (it scrolls when taller)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel("The figure appears here.")
        self.label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setWidget(self.label)
        self.setWidgetResizable(True)
        self.setMinimumHeight(300)
        self._pix: QPixmap | None = None

    def set_png(self, png: bytes) -> None:
        pix = QPixmap()
        pix.loadFromData(png, "PNG")
        self._pix = pix
        self._fit()

    def pixmap(self) -> QPixmap:
        return self.label.pixmap()

    def _fit(self) -> None:
        if self._pix is None or self._pix.isNull():
            return
        dpr = self.devicePixelRatioF()
        # drawn at 200 dpi: never wider than the view, never larger than half its pixels
        width = min(self.viewport().width() - 4, self._pix.width() // 2)
        scaled = self._pix.scaledToWidth(
            max(50, int(width * dpr)), Qt.TransformationMode.SmoothTransformation
        )
        scaled.setDevicePixelRatio(dpr)
        self.label.setPixmap(scaled)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()


class AnalysisPage(QWidget):
    """Base class of the Analyses tab's pages (see the module docstring)."""

    title = "Analysis"
    run_label = "Run"
    figure_kind = ""  # the ``figure`` of this page's specs: its stored figures are listed

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.last: PageRun | None = None
        self.run_id: int | None = None
        self.figure_id: int | None = None
        self.spec: dict[str, Any] | None = None  # the figure on show (exported from it)
        self.form = QFormLayout()
        self.run_button = QPushButton(self.run_label)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export figure…")
        self.export_button.setEnabled(False)
        self.export_button.setToolTip("Save the figure as PNG, SVG or PDF")
        self.export_button.clicked.connect(self.export_dialog)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figure = FigureView()
        scroll = self.figure
        buttons = QHBoxLayout()
        for b in (self.run_button, self.cancel_button, self.export_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.stored = QComboBox()
        self.stored.setToolTip("This analysis's figures stored in the project: pick one to show")
        self.stored.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.stored.setMinimumContentsLength(12)
        self.stored.activated.connect(self._show_stored)
        buttons.addWidget(QLabel("Stored:"))
        buttons.addWidget(self.stored)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(scroll, 1)
        if hasattr(ctx, "project") and hasattr(ctx.project, "project_changed"):
            ctx.project.project_changed.connect(self.refresh_stored)
        self.refresh_stored()

    # ------------------------------------------------------------ for subclasses
    def job(self, hm: Any) -> tuple[Callable[..., Job[Any]], tuple, dict]:
        """``(engine job function, args, kwargs)`` for model ``hm``, from the settings."""
        raise NotImplementedError

    def describe(self, result: Any) -> str:
        """One line on a finished result."""
        return ""

    # ------------------------------------------------------------------- running
    @property
    def channel(self) -> str:
        return f"analysis.{type(self).__name__}"

    def start(self) -> int | None:
        m = self.ctx.state.model()
        try:
            if m is None:
                raise RuntimeError("No model is loaded. Load one in the Models dock (Ctrl+L).")
            fn, args, kwargs = self.job(m.hm)
        except Exception as e:  # noqa: BLE001 - any bad input becomes a message, never a traceback
            self.ctx.errors.handle(e, f"starting the {self.title.lower()}")
            return None
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status.setText(f"Running the {self.title.lower()}…")
        return self.ctx.executor.submit(
            self.channel,
            job_with_figure,
            fn,
            m.hm,
            *args,
            label=self.title,
            on_progress=self._on_progress,
            on_result=lambda r, name=m.name: self._on_result(r, name),
            on_done=self._on_done,
            **kwargs,
        )

    def cancel(self) -> None:
        self.ctx.executor.cancel(self.channel)

    def _on_progress(self, p: Progress) -> None:
        show_progress(self.progress, p)

    def _on_result(self, run: PageRun, model_name: str) -> None:
        self.last = run
        self.spec = run.spec
        self.show_figure(run.files["png"])
        self.export_button.setEnabled(True)
        self.run_id = self.figure_id = None
        p = self.ctx.state.project
        saved = ""
        if p is not None:
            name = f"{self.title} · {model_name}"

            def save() -> int:
                d = run.result.to_dict()
                rid = p.add_run(run.result.kind, name, d.get("settings", {}), d)
                spec = {**run.spec, "run_id": rid}
                self.figure_id = p.add_figure(f"{name} (run {rid})", spec, run.files)
                return rid

            self.run_id = self.ctx.project.write(f"saving the {self.title.lower()}", save)
            if self.run_id is not None:
                saved = f" Saved as run #{self.run_id}."
        self.status.setText(f"Done. {self.describe(run.result)}{saved}")
        self.refresh_stored()

    def _on_done(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        end_progress(self.progress, self.status)

    # -------------------------------------------------------------------- figure
    def show_figure(self, png: bytes) -> None:
        self.figure.set_png(png)

    # -------------------------------------------------------------- stored runs
    def refresh_stored(self) -> None:
        """List this analysis's figures in the open project, newest first."""
        self.stored.clear()
        self._stored_specs: dict[int, Any] = {}  # figure id -> spec, for _show_stored
        p = self.ctx.state.project
        if p is None or not self.figure_kind:
            return
        try:
            figs = p.figures()
        except Exception as e:  # noqa: BLE001 - a project that cannot be read says so once
            self.ctx.errors.handle(e, "listing stored figures")
            return
        for f in reversed(figs):
            spec = f.spec or {}
            if spec.get("figure") == self.figure_kind:
                self._stored_specs[f.id] = spec
                self.stored.addItem(f"#{f.id} {f.name}", f.id)
        self.stored.setCurrentIndex(-1)

    def _show_stored(self, index: int) -> None:
        p = self.ctx.state.project
        fid = self.stored.itemData(index)
        if p is None or fid is None:
            return
        try:
            spec = self._stored_specs[fid]  # listed by refresh_stored
            png = p.figure_file(fid, "png")
        except Exception as e:  # noqa: BLE001 - a missing or unreadable figure is a message
            self.ctx.errors.handle(e, "showing a stored figure")
            return
        self.spec = dict(spec)
        self.show_figure(png)
        self.export_button.setEnabled(True)
        self.status.setText(f"Stored figure #{fid}: {self.stored.itemText(index)}.")

    def export_dialog(self) -> None:
        if self.spec is None:
            return
        title = (self.spec.get("title") or "figure").splitlines()[0]
        name = title.replace("/", "-").replace(" ", "_")
        path, _ = save_path(  # starts where file dialogs do, as the plots' own export
            self, "Export figure", f"{name}.png", "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)"
        )
        if path:
            self.export(path)

    def export(self, path: str) -> str:
        """Write the figure (PNG, SVG or PDF by the extension)."""
        from workbench.figures import export

        assert self.spec is not None
        try:
            return str(export(self.spec, path))
        except Exception as e:  # noqa: BLE001 - a refused path or a full disk becomes a message
            self.ctx.errors.handle(e, "exporting the figure")
            return ""
