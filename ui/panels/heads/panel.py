"""Heads: score every attention head (layer × head maps), look at one head's attention, pick
heads and act on them.

Left: the score and its settings, Run/Cancel and progress. Centre: the map (click a cell to
select the head, hover to read it) and the top-k list, head sets and their overlap. Right: the
focused head's pattern on a prompt, the tokens it attends to over a prompt set, and what to do
with the selected heads. Every run is saved to the project as a ``head_scores`` run with its
figure (PNG, SVG, PDF).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.eta import ProgressClock
from ui.paged_model import recent_runs
from ui.panels.heads.act import HeadActionsWidget
from ui.panels.heads.function_vector import FunctionVectorWidget
from ui.panels.heads.jobs import KIND_TITLES, HeadsState
from ui.panels.heads.look import HeadLookWidget
from ui.panels.heads.pick import HeadPickWidget
from ui.panels.heads.settings import ScoreSettingsWidget
from ui.widgets import end_progress, hint, primary, show_progress, title
from workbench.store.records import RunInfo

VIEW_SETTING = "heads_view"  # the project setting that keeps the selection and focused head


class HeadsPanel(QWidget):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.state = HeadsState()
        self.run: Any = None  # last ScoreRun (scores, figure spec, rendered files)
        self.figure_id: int | None = None
        # (id, name, created) of the saved run on the map: a project opened under a new name
        # (Save as) still has it, another project's run of the same id is another run.
        self._shown: tuple | None = None
        self._pending_run: int | None = None  # newest run, shown when the panel first shows
        self.map: Any = None  # HeadMapWidget, made on first use (imports pyqtgraph)
        # Drawn in the worker with every run and stored with it. SVG and PDF are drawn from
        # the stored spec when exported: matplotlib holds the GIL for up to 100 ms at a time
        # while writing them, which froze the window for 300 ms after every run.
        self.figure_formats: tuple[str, ...] = ("png",)
        lay = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._left())
        split.addWidget(self._centre())
        split.addWidget(self._right())
        split.setSizes(
            [260, 600, 420]
        )  # the map column widest: its last column and colour bar in view
        lay.addWidget(split)
        # Combo boxes size to their longest item by default, which made the three columns
        # wider than a 1600-pixel window leaves them; let them shrink and elide instead.
        for combo in self.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
            combo.setMinimumWidth(80)
        self.state.events.selected.connect(self._on_selected)
        self.state.events.focus.connect(self._on_focus)
        # the selected heads and the focused head (its pattern) are kept in the project
        self._restoring_view = False
        self.state.events.selected.connect(self._remember_view)
        self.state.events.focus.connect(self._remember_view)
        ctx.state.events.project.connect(self._on_project)
        self._on_project()

    # ------------------------------------------------------------- layout
    def _left(self) -> QWidget:
        w = QWidget()
        ll = QVBoxLayout(w)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(title("Score every head"))
        self.settings = ScoreSettingsWidget(self.ctx)
        ll.addWidget(self.settings)
        row = QHBoxLayout()
        self.run_button = primary("Run", "Score every head of the active model")
        self.run_button.clicked.connect(lambda: self.run_score())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.ctx.executor.cancel("heads"))
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        ll.addLayout(row)
        self.progress = QProgressBar()
        self.clock = ProgressClock()  # share done and time left of the running score
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        ll.addWidget(self.progress)
        self.status = hint("Pick a score and press Run. Hover a score name for what it measures.")
        ll.addWidget(self.status)
        ll.addWidget(title("Saved runs"))
        self.runs = QComboBox()
        self.runs.setToolTip("Head-score runs saved in this project; pick one to show it")
        self.runs.activated.connect(lambda *_: self.show_run(self.runs.currentData()))
        ll.addWidget(self.runs)
        ll.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(w)
        scroll.setMinimumWidth(230)
        return scroll

    def _centre(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        self.map_stack = QStackedWidget()
        self.map_stack.addWidget(
            hint("The layer × head map appears here. Click a cell to select that head.")
        )
        tl.addWidget(self.map_stack, 1)
        row = QHBoxLayout()
        self.hover = hint("")
        self.export_button = QPushButton("Export map…")
        self.export_button.setToolTip("Save the map as PNG, SVG or PDF (matplotlib)")
        self.export_button.clicked.connect(lambda: self.export_map())
        row.addWidget(self.hover, 1)
        row.addWidget(self.export_button)
        tl.addLayout(row)
        split.addWidget(top)
        self.pick = HeadPickWidget(self.ctx, self.state)
        self.pick.head_activated.connect(lambda L, h: setattr(self.state, "focus", (L, h)))
        # Scrolled: its rows (top-k, table, sets, compare) would otherwise set the tab's
        # height, which at 1366×768 pushed the pattern's axis and colour bar below the fold.
        pick_scroll = QScrollArea()
        pick_scroll.setWidgetResizable(True)
        pick_scroll.setFrameShape(QFrame.Shape.NoFrame)
        pick_scroll.setWidget(self.pick)
        pick_scroll.setMinimumHeight(120)
        split.addWidget(pick_scroll)
        split.setSizes([500, 330])  # at 1600×1000 the list's rows all show, unscrolled
        return split

    def _right(self) -> QWidget:
        # Looking at a head, acting on heads and function vectors: a tab each, every one the
        # column's full height (the pattern's token labels and the two texts need it), none
        # below a fold.
        self.look = HeadLookWidget(self.ctx, self.state)
        self.act = HeadActionsWidget(self.ctx, self.state)
        self.fv = FunctionVectorWidget(self.ctx, self.state)
        self.right_tabs = QTabWidget()
        self.right_tabs.setDocumentMode(True)
        self.right_tabs.addTab(self.look, "Look")
        for widget, name in ((self.act, "Act on heads"), (self.fv, "Function vector")):
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(widget)
            self.right_tabs.addTab(scroll, name)
        return self.right_tabs

    def show_function_vector(self) -> None:
        """Bring the function-vector tab to the front."""
        self.right_tabs.setCurrentIndex(2)

    def _ensure_map(self) -> Any:
        if self.map is None:
            from ui.panels.heads.plots import HeadMapWidget

            self.map = HeadMapWidget()
            self.map.head_clicked.connect(self._on_head_clicked)
            self.map.cell_hovered.connect(self.hover.setText)
            self.map_stack.addWidget(self.map)
        self.map_stack.setCurrentWidget(self.map)
        self.hover.setText("")  # a new map: the last one's hovered cell no longer applies
        self.map.plot.setToolTip("")
        return self.map

    # ---------------------------------------------------------------- run
    def run_score(self) -> int | None:
        from ui.panels.heads.jobs import score_with_figures_job

        m = self.ctx.state.model()
        try:
            if m is None:
                raise RuntimeError("No model is loaded. Load one in the Models dock (Ctrl+L).")
            spec, fv_prompts = self.settings.build(m.hm)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "starting the head score")
            return None
        kind = self.settings.current_kind()
        panel = self.settings.snapshot()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.clock.reset()
        self.status.setText(f"Scoring every head: {KIND_TITLES[kind].lower()}…")
        return self.ctx.executor.submit(
            "heads",
            score_with_figures_job,
            m.hm,
            spec,
            fv_prompts,
            self.figure_formats,
            _cluster_address(),
            label=f"Head scores ({KIND_TITLES[kind]})",
            on_progress=self._on_progress,
            on_result=functools.partial(self._on_result, model_name=m.name, panel=panel),
            on_done=self._on_done,
        )

    def _on_progress(self, p: Any) -> None:
        self.clock.add(p)
        text = " · ".join(t for t in (p.message, self.clock.text()) if t)
        show_progress(self.progress, p, text)
        if text:
            self.progress.setToolTip(text)

    def _on_result(self, run: Any, model_name: str, panel: dict | None = None) -> None:
        self.run = run
        s = run.scores
        if panel is not None:  # the panel's own values, put back when the run is shown again
            s.settings["panel"] = panel
        name = f"{KIND_TITLES.get(s.kind, s.kind)} · {model_name}"
        if s.kind == "function_vector":  # the next step: build one from the top heads
            self.show_function_vector()
        p = self.ctx.state.project
        run_id = None
        if p is not None:

            def save() -> int:
                rid = s.save_to_project(p, name)
                run.spec["run_id"] = rid
                self.figure_id = p.add_figure(f"{name} (run {rid})", run.spec, run.files)
                return rid

            run_id = self.ctx.project.write("saving the head scores", save)
        self._pending_run = None
        self._show_scores(s, run_id, run.spec)
        runs = self._refresh_runs()
        self._shown = next((_run_key(r) for r in runs if r.id == run_id), None)
        top = ", ".join(f"L{L}H{h} {v:.2f}" for L, h, v in s.top(3))
        saved = f" Saved as run #{run_id}." if run_id is not None else ""
        self.status.setText(f"Done. Top: {top}.{saved}")

    def _on_done(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        end_progress(self.progress, self.status)

    def _show_scores(self, scores: Any, run_id: int | None, spec: dict) -> None:
        L, H = scores.n_layers, scores.n_heads
        keep = tuple((a, b) for a, b in self.state.selected if a < L and b < H)
        self.state.run_id = run_id
        self.state.scores = scores
        self.state.selected = keep
        self._ensure_map().set_spec(spec)
        self._on_selected(keep)

    # ---------------------------------------------------------- saved runs
    def _on_project(self, *_: Any) -> None:
        """A project was opened (or closed): show its newest saved run, unless the run on the
        map is in it too (the same project saved under a new name)."""
        runs = self._refresh_runs()
        if self._shown is not None and self._shown in {_run_key(r) for r in runs}:
            self.runs.setCurrentIndex(max(self.runs.findData(self._shown[0]), 0))
            return
        self._clear()
        if not runs:
            return
        self._pending_run = runs[-1].id
        self.runs.setCurrentIndex(self.runs.findData(self._pending_run))
        if self.isVisible():  # else on first show: drawing the map imports pyqtgraph
            self._show_pending()

    def _show_pending(self) -> None:
        rid, self._pending_run = self._pending_run, None
        if rid is not None:
            self.show_run(rid)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._show_pending()

    def _clear(self) -> None:
        """Nothing on the map (no project, or one without saved runs)."""
        self._pending_run = None
        self._shown = None
        self.run = None
        self.figure_id = None
        self.state.run_id = None
        self.state.scores = None
        self._restoring_view = True  # another project's heads are not this one's selection
        try:
            self.state.selected = ()
            self.state.focus = None
        finally:
            self._restoring_view = False
        self.map_stack.setCurrentIndex(0)
        self.hover.setText("")
        self.status.setText("Pick a score and press Run. Hover a score name for what it measures.")

    def _refresh_runs(self) -> list[RunInfo]:
        """Fill the saved-runs list (newest first); returns the runs, oldest first."""
        p = self.ctx.state.project
        self.runs.clear()
        self.runs.addItem("—", None)
        runs: list[RunInfo] = []
        if p is not None:
            try:
                runs = recent_runs(p, "head_scores")
            except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
                self.ctx.errors.handle(e, "listing head-score runs")
        for r in reversed(runs):
            self.runs.addItem(f"#{r.id} {r.name}", r.id)
        self.runs.setCurrentIndex(max(self.runs.findData(self.state.run_id), 0))
        self.pick.refresh_sets()
        return runs

    def show_run(self, run_id: int | None) -> None:
        """Show a saved head-score run on the map (nothing is recomputed), and put its score and
        settings in the left column, so that Run would make it again."""
        from ui.panels.heads.jobs import ScoreRun, head_map_spec
        from workbench.heads import HeadScores

        if run_id is None or self.ctx.state.project is None:
            return
        self._pending_run = None
        try:
            stored = self.ctx.state.project.load_run(run_id)
            scores = HeadScores.from_run(stored)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "loading the head scores")
            return
        spec = head_map_spec(scores, run_id)
        self.run = ScoreRun(scores, spec, {})
        self._shown = _run_key(stored)
        self._show_scores(scores, run_id, spec)
        self.runs.setCurrentIndex(max(self.runs.findData(run_id), 0))
        try:
            self.settings.restore(dict(stored.settings or {}))
        except Exception as e:  # noqa: BLE001 - the map is shown; the settings are a convenience
            self.ctx.errors.handle(e, "showing the run's settings")
        self.status.setText(f"Showing saved run #{run_id}: {stored.name}.")
        self._restore_view(int(run_id))

    def _remember_view(self, *_: Any) -> None:
        """Keep the selection and the focused head in the project, with the run they are of."""
        p = self.ctx.state.project
        if self._restoring_view or p is None or p.read_only or self.state.run_id is None:
            return
        view = {
            "run_id": self.state.run_id,
            "selected": [list(h) for h in self.state.selected],
            "focus": list(self.state.focus) if self.state.focus is not None else None,
        }
        self.ctx.project.write(
            "remembering the selected heads", p.set_setting, VIEW_SETTING, json.dumps(view)
        )

    def _restore_view(self, run_id: int) -> None:
        """Put back the selection and the focused head kept with run ``run_id``."""
        p = self.ctx.state.project
        try:
            view = json.loads(p.get_setting(VIEW_SETTING) or "null") if p is not None else None
        except (ValueError, TypeError):
            view = None  # an unreadable note: start without a selection
        if not isinstance(view, dict) or view.get("run_id") != run_id:
            return
        self._restoring_view = True
        try:
            self.state.selected = tuple((int(h[0]), int(h[1])) for h in view.get("selected") or [])
            focus = view.get("focus")
            self.state.focus = (int(focus[0]), int(focus[1])) if focus else None
        finally:
            self._restoring_view = False

    # ------------------------------------------------------------ picking
    def _on_head_clicked(self, layer: int, head: int) -> None:
        self.state.toggle((layer, head))
        self.state.focus = (layer, head)

    def _on_selected(self, heads: tuple) -> None:
        if self.map is not None:
            self.map.set_selection(heads, self.state.focus)

    def _on_focus(self, head: Any) -> None:
        self._on_selected(self.state.selected)

    # ------------------------------------------------------------- export
    def export_map(self, path: str | None = None) -> str | None:
        """Write the map to ``path`` (PNG, SVG or PDF by extension)."""
        from workbench.figures import export

        if self.run is None:
            return None
        if path is None:
            from ui.file_dialogs import save_path

            path, _ = save_path(
                self, "Export map", "head_scores.png", "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)"
            )
            if not path:
                return None
        from ui.file_dialogs import saved

        fmt = Path(path).suffix.lstrip(".").lower()
        if fmt in self.run.files:  # drawn already, in the worker
            Path(path).write_bytes(self.run.files[fmt])
        else:
            path = str(export(self.run.spec, path))
        saved(self, path, "Exported")
        return path

    def refresh_theme(self) -> None:
        if self.map is not None:
            self.map.refresh_theme()
            self.map.set_selection(self.state.selected, self.state.focus)
        if self.look.view is not None:
            self.look.view.refresh_theme()

    def shutdown(self) -> None:
        for ch in ("heads", "heads-pattern", "heads-tokens", "heads-act", "heads-fv"):
            self.ctx.executor.cancel(ch)


def _run_key(run: Any) -> tuple:
    """What tells a stored run (a RunInfo or StoredRun) from another project's."""
    return (run.id, run.name, str(run.created))


def _cluster_address() -> str | None:
    """Preferences → cluster: where ablation and patching sweeps run (None: here)."""
    from ui.dialogs.preferences import cluster_address

    return cluster_address()
