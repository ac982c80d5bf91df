"""Sweep: steer a prompt or a prompt set over layers × coefficients with the engine's batched
sweep (``workbench.concepts.steering_sweep``); a grid of texts and a heatmap of a metric (KL to
baseline, log-prob of target words, task accuracy, base perplexity of the steered text). The
engine saves it as a run, and every cell as a generation with provenance."""

from __future__ import annotations

import csv
import functools
import math
import re
import sys
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui import glossary
from ui.context import AppContext
from ui.docks.generations_dock import generations_changed
from ui.errors import first_line
from ui.paged_model import recent_runs
from ui.widgets import hint, run_stop_row, title

SITE_KINDS = ("resid_post", "resid_pre", "resid_mid", "attn_out", "mlp_out")
ONE_PROMPT = "the prompt above"


def parse_numbers(text: str, integer: bool = False) -> list[float]:
    """``"-8, -4, 0, 4"``; ranges ``"0..12:3"`` (from..to:step), and for layers also ``"2-10:2"``."""
    out: list[float] = []
    num = r"-?\d+(?:\.\d+)?"
    for part in re.split(r"[,;\s]+", text.strip()):
        if not part:
            continue
        m = re.fullmatch(rf"({num})\.\.({num})(?::({num}))?", part)
        if m is None and integer:
            m = re.fullmatch(r"(\d+)-(\d+)(?::(\d+))?", part)
        if m:
            lo, hi, step = float(m[1]), float(m[2]), abs(float(m[3] or 1)) or 1.0
            x = lo
            while x <= hi + 1e-9:
                out.append(x)
                x += step
        else:
            out.append(float(part))
    return [int(x) for x in out] if integer else out


class SweepPanel(QWidget):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.result: Any = None
        self._live: object | None = None  # token of the sweep being run and shown
        self.run_id: int | None = None
        self._collected: Any = None  # a PartialSweep while a sweep runs (kept if it stops)
        self._partial: dict[str, Any] | None = None  # the grid shown: layers, coefs, metrics
        self._deferred_run: int | None = None  # a saved sweep shown when the tab first shows
        lay = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(title("Sweep layers × coefficients"))
        form = QFormLayout()
        self.prompt = QLineEdit("I think that this movie was")
        self.prompt_source = QComboBox()
        self.prompt_source.setToolTip(
            "Sweep the prompt above, or every prompt of a set (all rows of one batch); a "
            "demonstration set gives its zero-shot queries and measures task accuracy"
        )
        self.concept = QComboBox()
        self.concept.currentTextChanged.connect(self._on_concept)
        self.use_selected_button = QPushButton("Use selected")
        self.use_selected_button.setToolTip(
            "Sweep the concept selected in the library (the form changes only when you ask)"
        )
        self.use_selected_button.clicked.connect(self.use_selected)
        concept_row = QHBoxLayout()
        concept_row.setContentsMargins(0, 0, 0, 0)
        concept_row.addWidget(self.concept, 1)
        concept_row.addWidget(self.use_selected_button)
        self.site_kind = QComboBox()
        self.site_kind.addItems(SITE_KINDS)
        self.layers = QLineEdit()
        self.layers.setToolTip("Layers, e.g. 2, 4, 6 or 0-12:3 (from-to:step)")
        self.coefs = QLineEdit("-8, -4, 0, 4, 8")
        self.coefs.setToolTip(glossary.TERMS["coefficient"])
        self.tokens = QSpinBox()
        self.tokens.setRange(1, 256)
        self.tokens.setValue(12)
        self.targets = QLineEdit("great, wonderful, terrible")
        self.targets.setToolTip(glossary.METRICS["target_logprob"][1])
        self.heatmap_metric = QComboBox()
        for i, (k, (name, tip)) in enumerate(glossary.METRICS.items()):
            self.heatmap_metric.addItem(name, k)
            self.heatmap_metric.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.heatmap_metric.currentIndexChanged.connect(lambda *_: self._draw_heatmap())
        form.addRow("Prompt", self.prompt)
        form.addRow("Prompts", self.prompt_source)
        form.addRow("Concept", concept_row)
        form.addRow("Site", self.site_kind)
        form.addRow("Layers", self.layers)
        form.addRow("Coefficients", self.coefs)
        from ui.panels.weighting import TokenWeightingWidget

        self.weighting = TokenWeightingWidget()  # per-token weights (issue 13 item 6)
        form.addRow("Token weights", self.weighting)
        form.addRow("New tokens", self.tokens)
        form.addRow("Target words", self.targets)
        form.addRow("Heatmap", self.heatmap_metric)
        ll.addLayout(form)
        row, self.run_button, self.stop_button = run_stop_row(
            "Run sweep",
            "Greedy, same seed in every cell (Ctrl+Shift+Enter)",
            self.run,
            lambda: ctx.executor.cancel("sweep"),
        )
        ll.addLayout(row)
        self.status = hint("Each cell steers the prompt at one layer with one coefficient.")
        ll.addWidget(self.status)
        exp = QHBoxLayout()
        self.export_fig = QPushButton("Export heatmap…")
        self.export_csv_button = QPushButton("Export grid CSV…")
        self.export_csv_button.clicked.connect(lambda: self.export_csv())
        exp.addWidget(self.export_fig)
        exp.addWidget(self.export_csv_button)
        ll.addLayout(exp)
        ll.addWidget(title("Saved sweeps"))
        self.runs = QComboBox()
        self.runs.setToolTip("Sweeps saved in this project; pick one to show its grid and heatmap")
        self.runs.setPlaceholderText("none yet")
        self.runs.activated.connect(lambda *_: self.show_run(self.runs.currentData()))
        ll.addWidget(self.runs)
        ll.addStretch(1)
        split.addWidget(left)
        right = QSplitter(Qt.Orientation.Vertical)
        self.grid = QTableWidget(0, 0)
        self.grid.setWordWrap(True)
        self.grid.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        right.addWidget(self.grid)
        self.heat_stack = QStackedWidget()
        self.heat_placeholder = hint("The heatmap appears as cells finish.")
        self.heat_stack.addWidget(self.heat_placeholder)
        self.heatmap: Any = None
        right.addWidget(self.heat_stack)
        right.setSizes([420, 300])
        split.addWidget(right)
        split.setSizes([330, 770])
        lay.addWidget(split)
        ctx.state.events.concepts.connect(self._refill)
        ctx.state.events.prompt_sets.connect(self._refill_sets)
        ctx.state.events.project.connect(self._on_project)
        # The form follows the library's selection only through "Use selected".
        ctx.state.events.selected_concepts.connect(self._on_selection)
        self._refill()
        self._refill_sets()
        self._bind_form()
        self._on_project()
        self._on_selection()

    def _bind_form(self) -> None:
        """Every control of the form is a view of one field of :class:`SweepForm`."""
        from ui.binding import (
            bind_combo_data,
            bind_combo_text,
            bind_line,
            bind_spin,
        )
        from ui.panels.forms import SweepForm

        self.form = f = SweepForm(
            prompt=self.prompt.text(),
            concept=self.concept.currentText(),
            site_kind=self.site_kind.currentText(),
            layers=self.layers.text(),
            coefficients=self.coefs.text(),
            new_tokens=self.tokens.value(),
            targets=self.targets.text(),
            heatmap_metric=self.heatmap_metric.currentData() or "kl",
        )
        bind_line(self.prompt, f, "prompt")
        bind_combo_data(self.prompt_source, f, "prompt_source")
        bind_combo_text(self.concept, f, "concept")
        bind_combo_text(self.site_kind, f, "site_kind")
        bind_line(self.layers, f, "layers")
        bind_line(self.coefs, f, "coefficients")
        bind_spin(self.tokens, f, "new_tokens")
        bind_line(self.targets, f, "targets")
        bind_combo_data(self.heatmap_metric, f, "heatmap_metric")

    def _refill_sets(self, *_: Any) -> None:
        keep = self.prompt_source.currentData()
        self.prompt_source.clear()
        self.prompt_source.addItem(ONE_PROMPT, "")
        for p in self.ctx.state.prompt_sets:
            self.prompt_source.addItem(f"set: {p['name']} ({p['kind']})", p["name"])
        i = self.prompt_source.findData(keep) if keep else 0
        self.prompt_source.setCurrentIndex(max(0, i))

    def _prompts(self, concept: Any) -> Any:
        """The engine's :class:`SweepPrompts` for the prompt source (a function vector on a
        demonstration set is swept as its held-out accuracy was measured)."""
        from workbench.concepts.steering_sweep import SweepPrompts, sweep_prompts_for

        name = self.prompt_source.currentData()
        if not name:
            return SweepPrompts([self.prompt.text()], [], "all", "1 prompt")
        self.ctx.state.check_prompt_set_saved(name)  # as the Prompts dock shows it, or refused
        entry = self.ctx.state.prompt_set(name)
        if entry is None or entry.get("set") is None:
            raise ValueError(f"The prompt set {name!r} is not usable: edit it in the Prompts dock.")
        return sweep_prompts_for(concept, entry["set"])

    def _refill(self, *_: Any) -> None:
        keep = self.concept.currentText()
        self.concept.clear()
        self.concept.addItems(self.ctx.state.concept_names())
        if keep:
            self.concept.setCurrentText(keep)

    def _on_selection(self, names: tuple = ()) -> None:
        names = names or self.ctx.state.selected_concepts
        self.use_selected_button.setEnabled(bool(names) and self.concept.findText(names[0]) >= 0)

    def use_selected(self) -> None:
        """Take the library's selected concept into the form (the user asked for it)."""
        names = self.ctx.state.selected_concepts
        if names and self.concept.findText(names[0]) >= 0:
            self.form.concept = names[0]

    def _on_concept(self, name: str) -> None:
        from ui.docks.concept_details import layer_of

        info = self.ctx.state.concept_info(name)
        if not info:
            return
        layers = sorted({L for s in info.sites if (L := layer_of(s)) is not None})
        kinds = sorted({s.rsplit("hook_", 1)[-1] for s in info.sites})
        if kinds and self.site_kind.currentText() not in kinds:
            self.site_kind.setCurrentText(kinds[0])
        if layers and not self.layers.text().strip():
            step = max(1, len(layers) // 5)
            self.layers.setText(", ".join(str(L) for L in layers[::step][:6]))

    # ---------------------------------------------------------------- run
    def run(self) -> int | None:
        from workbench.concepts.steering_sweep import (
            SteeringSweepSpec,
            default_vector_site,
            steering_sweep_job,
        )
        from workbench.concepts.sweep_partial import PartialSweep
        from workbench.models.generation import SamplingSettings

        m = self.ctx.state.model()
        try:
            if m is None:
                raise RuntimeError("No model is loaded. Load one in the Models dock (Ctrl+L).")
            if not self.concept.currentText():
                raise ValueError(
                    "Choose a concept to sweep: extract one in the Concept library (Ctrl+E), "
                    "or select one there and press Use selected."
                )
            concept = self.ctx.concepts.get(self.concept.currentText())
            layers = [int(x) for x in parse_numbers(self.layers.text(), integer=True)]
            coefs = parse_numbers(self.coefs.text())
            chosen = self._prompts(concept)
            prompts, answers, label = chosen.prompts, chosen.answers, chosen.note
            kind = self.site_kind.currentText()
            # A concept made at one site (a function vector, say) is added at every swept layer.
            vector_site = default_vector_site(concept, kind, layers)
            if vector_site:
                label += f"; the vector of {vector_site} at every layer"
            spec = SteeringSweepSpec(
                layers=tuple(layers),
                coefficients=tuple(coefs),
                prompts=tuple(prompts),
                site_kind=kind,
                targets=tuple(t.strip() for t in self.targets.text().split(",") if t.strip()),
                answers=tuple(answers),
                settings=SamplingSettings(max_new_tokens=self.tokens.value()),
                vector_site=vector_site,
                positions=chosen.positions,
                weighting=self.weighting.weighting(),
            )
            spec.check(m.hm, concept)
        except Exception as e:  # noqa: BLE001 - shown in the status line and by the error handler
            self.status.setText(f"Not started: {first_line(e)}")
            self.ctx.errors.handle(e, "starting the sweep")
            return None
        self.result = None
        self._reset_grid(layers, coefs)
        self._partial = {
            "layers": layers,
            "coefs": coefs,
            "metrics": {k: [[math.nan] * len(coefs) for _ in layers] for k in glossary.METRICS},
            "concept": concept.name,  # the heatmap's title, whatever the combo shows later
            "site_kind": spec.site_kind,
        }
        # The running sweep, its project (its results go there, whatever opens meanwhile) and
        # a token: callbacks of a sweep the display was taken from are ignored.
        self._job = (m, concept, self.ctx.state.project)
        self._collected = PartialSweep(concept, spec)  # kept if the sweep stops part-way
        token = self._live = object()
        self.runs.setEnabled(False)  # saved sweeps can be looked at when this one ends
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText(
            f"Running {len(layers) * len(coefs)} cells × {label}, as rows of one batch…"
        )
        from ui.dialogs.preferences import cluster_address

        return self.ctx.executor.submit(
            "sweep",
            steering_sweep_job,
            m.hm,
            concept,
            spec,
            cluster_address(),  # Preferences: None runs here, an address on a Ray cluster
            label="Sweep",
            on_progress=functools.partial(self._if_live, token, self._on_progress),
            on_result=functools.partial(self._if_live, token, self._on_result),
            on_error=self._on_error,
            on_done=self._on_done,
        )

    def _if_live(self, token: object, callback: Any, value: Any) -> None:
        """Call back only for the sweep being shown (not one the display was taken from)."""
        if token is self._live:
            callback(value)

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText(f"Failed: {first_line(exc)}")
        self.ctx.errors.handle(exc, "sweeping")
        self._keep_partial("failed")

    def _on_progress(self, p: Any) -> None:
        collected = self._collected
        if collected is not None:
            collected.add(p)
        if not p.payload:
            return
        if p.payload[0] == "baseline":
            self.status.setText(f"Baseline: {p.payload[1][0][:80]}")
            return
        _, i, j, texts, cell = p.payload
        self._set_cell(i, j, texts, cell)
        if self._partial is not None:
            for k, v in cell.items():
                self._partial["metrics"][k][i][j] = v
        self._draw_heatmap()

    def _on_result(self, r: Any) -> None:
        self._collected = None  # finished: nothing partial to keep
        self.result = r
        self._draw_heatmap()
        m, concept, p = self._job
        if p is None or p is not self.ctx.state.project:
            return
        self.run_id = self.ctx.project.write(
            "saving the sweep", lambda: r.save_to_project(p, m.ref, concept)
        )
        n = len(r.layers) * len(r.coefficients)
        if self.run_id is None:  # the write was refused (a read-only project) and said why
            self.status.setText(f"Done: {n} cells, not saved: the project did not take them.")
            return
        self._refresh_runs(self.run_id)
        generations_changed(self.ctx)
        many = (
            " Cells show the first prompt's text; hover a cell for every prompt's."
            if len(r.prompts) > 1
            else ""
        )
        self.status.setText(
            f"Done: {n} cells × {len(r.prompts)} prompt(s) saved to the project."
            + self._baseline_note(r)
            + many
        )

    @staticmethod
    def _baseline_note(r: Any) -> str:
        acc = r.baseline_metrics.get("accuracy")
        best = r.best("accuracy") if "accuracy" in r.metrics else None
        if acc is None or best is None:
            return ""
        return (
            f" Accuracy: unsteered {acc:.0%}; best {best[2]:.0%} at layer {best[0]}, "
            f"coefficient {best[1]:g} ({len(r.prompts)} queries)."
        )

    def _on_done(self) -> None:
        stopped = self._live is not None and self._collected is not None
        self._live = None
        self.runs.setEnabled(True)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if stopped:
            self._keep_partial("stopped")
        if self.status.text().startswith(("Running", "Baseline")):
            self.status.setText("Stopped before any cell finished; nothing was saved.")

    def _keep_partial(self, why: str) -> None:
        """A sweep stopped or failed part-way: its finished cells become a run marked partial
        (in the project it was started in), shown as the current result."""
        collected, self._collected = self._collected, None
        r = collected.result() if collected is not None else None
        if r is None:
            return
        m, concept, p = self._job
        self.result = r
        self._draw_heatmap()
        if p is None or p is not self.ctx.state.project:
            return
        self.run_id = self.ctx.project.write(
            "saving the partial sweep", lambda: r.save_to_project(p, m.ref, concept)
        )
        n = len(r.layers) * len(r.coefficients)
        if self.run_id is None:
            self.status.setText(f"{why.capitalize()}: {r.cells_done()} of {n} cells, not saved.")
            return
        self._refresh_runs(self.run_id)
        generations_changed(self.ctx)
        self.status.setText(
            f"{why.capitalize()} after {r.cells_done()} of {n} cells: they are saved as sweep "
            f"#{self.run_id}, marked partial."
        )

    # ---------------------------------------------------------- the grid
    def _reset_grid(self, layers: list[int], coefs: list[float]) -> None:
        self.grid.clear()
        self.grid.setRowCount(len(layers))
        self.grid.setColumnCount(len(coefs))
        self.grid.setHorizontalHeaderLabels([f"×{c:g}" for c in coefs])
        self.grid.setVerticalHeaderLabels([f"layer {L}" for L in layers])

    def _set_cell(self, i: int, j: int, texts: list[str], cell: dict[str, float]) -> None:
        """A cell shows the first prompt's text; its tooltip every prompt's and the metrics."""
        item = QTableWidgetItem(texts[0].strip() if texts else "")
        shown = "\n---\n".join(t.strip() for t in texts[:8])
        more = f"\n(… {len(texts) - 8} more prompts)" if len(texts) > 8 else ""
        item.setToolTip(
            f"{shown}{more}\n\n"
            + "\n".join(f"{glossary.METRICS[k][0]}: {v:.3f}" for k, v in cell.items() if v == v)
        )
        self.grid.setItem(i, j, item)

    # ------------------------------------------------------- saved sweeps
    def _show_when_visible(self, run_id: int) -> None:
        """Show saved sweep ``run_id`` when this panel is first shown. Reading a sweep imports
        the sweep module and with it torch (seconds on a cold start), which opening a project
        must not wait for while the panel is out of sight."""
        self._deferred_run = run_id
        if self.isVisible():
            self._show_deferred()

    def _show_deferred(self) -> None:
        run_id, self._deferred_run = self._deferred_run, None
        if run_id is not None and self.runs.currentData() == run_id and self._live is None:
            self.show_run(run_id)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._deferred_run is not None:
            self._show_deferred()

    def _on_project(self, *_: Any) -> None:
        """A project opened: list its sweeps and show the newest (nothing is recomputed). A
        sweep still running for the previous project is stopped: its results belong there."""
        if self._live is not None:
            self._live = None
            self.ctx.executor.cancel("sweep")
        newest = self._refresh_runs()
        self._deferred_run = None
        if newest is not None and ("torch" in sys.modules or self.isVisible()):
            self.show_run(newest)
            return
        if newest is not None:
            self._show_when_visible(newest)  # the previous project's sweep is cleared below
        if self.result is not None or getattr(self, "_partial", None) is not None:
            self.result, self._partial, self.run_id = None, None, None
            self.grid.clear()
            self.grid.setRowCount(0)
            self.grid.setColumnCount(0)
            self.heat_stack.setCurrentIndex(0)

    def _refresh_runs(self, select: int | None = None) -> int | None:
        """Refill the saved-sweeps list (newest first); select ``select`` or the newest.
        Returns the newest run's id (None when there is none)."""
        p = self.ctx.state.project
        self.runs.clear()
        if p is None:
            return None
        try:
            runs = recent_runs(p, "sweep")
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "listing the saved sweeps")
            return None
        for r in reversed(runs):
            self.runs.addItem(f"#{r.id} {r.name}", r.id)
        if not runs:
            return None
        i = self.runs.findData(select) if select is not None else 0
        self.runs.setCurrentIndex(max(0, i))
        return runs[-1].id

    def show_run(self, run_id: int | None) -> bool:
        """Show a saved sweep: its settings in the form, its texts in the grid, its heatmap."""
        from workbench.concepts.steering_sweep import SteeringSweepResult

        p = self.ctx.state.project
        if p is None or run_id is None or self._live is not None:
            return False  # (the list is disabled while a sweep runs)
        try:
            rec = p.load_run(int(run_id))
            res, st = dict(rec.result), dict(rec.settings)
            r = SteeringSweepResult.from_dict(res, st)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, f"opening saved sweep #{run_id}")
            return False
        self.result, self.run_id = r, rec.id
        concept = (st.get("concept") or {}).get("name", "")
        self._partial = {
            "layers": r.layers,
            "coefs": r.coefficients,
            "metrics": r.metrics,
            "concept": concept,
            "site_kind": r.site_kind,
        }
        self._reset_grid(r.layers, r.coefficients)
        for i in range(len(r.layers)):
            for j in range(len(r.coefficients)):
                cell = {k: r.metrics[k][i][j] for k in r.metrics}
                self._set_cell(i, j, r.texts[i][j], cell)
        f = self.form  # the widgets follow the form
        f.prompt = r.prompts[0]
        if self.concept.findText(concept) >= 0:
            f.concept = concept
        if r.site_kind:
            f.site_kind = r.site_kind
        f.layers = ", ".join(str(L) for L in r.layers)
        f.coefficients = ", ".join(f"{c:g}" for c in r.coefficients)
        tokens = (st.get("sampling") or {}).get("max_new_tokens")
        if isinstance(tokens, int):
            f.new_tokens = tokens
        f.targets = ", ".join(r.spec.targets)
        i = self.runs.findData(self.run_id)
        if i >= 0:
            self.runs.setCurrentIndex(i)
        self._draw_heatmap()
        self.status.setText(
            f"Saved sweep #{self.run_id} ({rec.name}, {len(r.prompts)} prompt(s)), as it was "
            "run." + self._baseline_note(r)
        )
        return True

    # ------------------------------------------------------------ heatmap
    def heatmap_spec(self) -> dict:
        """The heatmap of the chosen metric; empty when the sweep shown has no such metric."""
        key = self.heatmap_metric.currentData() or "kl"
        part = getattr(self, "_partial", None)
        if part is None:
            return {}
        source = self.result.metrics if self.result is not None else part["metrics"]
        if key not in source:
            return {}
        from workbench.concepts.sweep_metrics import sweep_heatmap_spec

        concept = part.get("concept", self.concept.currentText())
        kind = part.get("site_kind", self.site_kind.currentText())
        return sweep_heatmap_spec(key, concept, kind, part["layers"], part["coefs"], source[key])

    def _draw_heatmap(self) -> None:
        spec = self.heatmap_spec()
        if not spec:
            # Never leave another run's heatmap on screen (nor for "Export heatmap…").
            if getattr(self, "_partial", None) is not None:
                key = self.heatmap_metric.currentData() or "kl"
                self.heat_placeholder.setText(
                    f"This sweep has no {glossary.METRICS[key][0].lower()}: it needs "
                    + ("target words." if key == "target_logprob" else "a demonstration set.")
                    if key in ("target_logprob", "accuracy")
                    else f"This sweep has no {glossary.METRICS[key][0].lower()}."
                )
            self.heat_stack.setCurrentWidget(self.heat_placeholder)
            return
        if self.heatmap is None:
            from ui.plots import HeatmapWidget

            self.heatmap = HeatmapWidget()
            self.heat_stack.addWidget(self.heatmap)
            self.export_fig.clicked.connect(self._export_heatmap)
        self.heat_stack.setCurrentWidget(self.heatmap)
        self.heatmap.set_spec(spec)

    def _export_heatmap(self) -> None:
        if self.heatmap is None or self.heat_stack.currentWidget() is not self.heatmap:
            self.status.setText("No heatmap to export: pick a metric this sweep has.")
            return
        heatmap: Any = self.heatmap
        heatmap.export_dialog()

    def export_csv(self, path: str | None = None) -> str | None:
        r = self.result
        if r is None:
            return None
        if path is None:
            from ui.file_dialogs import save_path

            path, _ = save_path(self, "Export sweep grid", "sweep.csv", "CSV (*.csv)")
            if not path:
                return None
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["layer", "coefficient", "prompt", "text", *r.metrics])
            for i, layer in enumerate(r.layers):
                for j, c in enumerate(r.coefficients):
                    cells = [r.metrics[k][i][j] for k in r.metrics]
                    for prompt, text in zip(r.prompts, r.texts[i][j], strict=True):
                        w.writerow([layer, c, prompt, text, *cells])
        from ui.file_dialogs import saved

        saved(self, path, "Exported")
        return path

    def refresh_theme(self) -> None:
        if self.heatmap is not None:
            self.heatmap.refresh_theme()
