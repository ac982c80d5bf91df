"""Concept neurons (Cones): score the cross-attention key/value neurons of a concept, see the
ablation check, and hand the top set to generation (switched off or scaled) — a view of
:class:`DiffusionState`; the engine's ``workbench.diffusion.cones`` computes everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.panels.diffusion.model import CONES, DiffusionState
from ui.panels.diffusion.widgets import ImageLabel
from ui.widgets import hint, primary

PROJECTIONS = {"keys and values": ("k", "v"), "keys": ("k",), "values": ("v",)}
TABLE_ROWS = 50


class ConesView(QWidget):
    score_requested = Signal()
    stop_requested = Signal()
    use_requested = Signal(object)  # a workbench.diffusion.cones.NeuronEdit

    def __init__(self, state: DiffusionState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        # the whole view scrolls: at 1366x768 nothing is squeezed below its height
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 4, 0)
        form = QFormLayout()
        self.concept = QLineEdit("a dog")
        self.concept.setToolTip("The prompt that carries the concept")
        self.base = QLineEdit()
        self.base.setPlaceholderText("empty: the unconditional prompt")
        self.base.setToolTip(
            "The same prompt without the concept (e.g. 'an animal' for 'a dog'); the concept "
            "measure is how far the concept prompt moves the noise prediction from this one's"
        )
        form.addRow("Concept prompt", self.concept)
        form.addRow("Base prompt", self.base)
        grid = QGridLayout()
        self.steps = QSpinBox()
        self.steps.setRange(1, 200)
        self.steps.setValue(10)
        self.steps.setToolTip(
            "Sampling steps of the concept's own trajectory; the denoiser's input at each step "
            "is one point of the measure (seed, guidance and size come from Sampling)"
        )
        self.projections = QComboBox()
        for label, value in PROJECTIONS.items():
            self.projections.addItem(label, value)
        self.projections.setToolTip("Which projections' output channels are the neurons")
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 100000)
        self.top_k.setValue(10)
        self.top_k.setToolTip("Size of the top set the ablation check switches off")
        self.random_sets = QSpinBox()
        self.random_sets.setRange(1, 100)
        self.random_sets.setValue(8)
        self.random_sets.setToolTip("Random sets of the same size to compare the top set with")
        self.exact_check = QSpinBox()
        self.exact_check.setRange(0, 10000)
        self.exact_check.setValue(16)
        self.exact_check.setToolTip(
            "How many top neurons (and as many random ones) are also switched off one at a "
            "time, to check the gradient's estimate against the exact drop"
        )
        cells = (
            ("Steps", self.steps),
            ("Neurons", self.projections),
            ("Top k", self.top_k),
            ("Random sets", self.random_sets),
            ("Exact check", self.exact_check),
        )
        for i, (label, w) in enumerate(cells):  # three pairs a row: fits a narrow panel
            text = QLabel(label)
            text.setToolTip(w.toolTip())
            grid.addWidget(text, i // 3, 2 * (i % 3))
            grid.addWidget(w, i // 3, 2 * (i % 3) + 1)
        grid.setColumnStretch(6, 1)
        form.addRow(grid)
        lay.addLayout(form)

        run = QHBoxLayout()
        self.score_button = primary(
            "Score neurons",
            "Gradient × activation of the concept measure for every key/value neuron, then "
            "the ablation and exact checks",
        )
        self.score_button.clicked.connect(self.score_requested.emit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_requested.emit)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m passes")
        self.progress.setToolTip(
            "Denoiser passes: sampling, one backward per step, the sets, the exact checks"
        )
        run.addWidget(self.score_button)
        run.addWidget(self.stop_button)
        run.addWidget(self.progress, 1)
        lay.addLayout(run)
        self.status = hint(
            "Scores the cross-attention key/value neurons (to_k/to_v of the UNet's attn2, or "
            "SD3's add_k_proj/add_v_proj) by how much switching each off lowers the concept "
            "measure."
        )
        lay.addWidget(self.status)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)

        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["rank", "neuron", "predicted drop", "exact drop"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumWidth(160)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep ...attn2.to_v:7
        self.table.setMinimumHeight(150)
        split.addWidget(self.table)
        self.figure = ImageLabel("The scores by rank appear here.")
        self.figure.setMinimumHeight(180)
        split.addWidget(self.figure)
        split.setSizes([220, 260])
        lay.addWidget(split, 1)

        use = QHBoxLayout()
        self.use_k = QSpinBox()
        self.use_k.setRange(1, 100000)
        self.use_k.setValue(10)
        self.use_k.setToolTip("How many of the top neurons to switch")
        self.use_scale = QDoubleSpinBox()
        self.use_scale.setRange(-100.0, 100.0)
        self.use_scale.setSingleStep(0.5)
        self.use_scale.setValue(0.0)
        self.use_scale.setToolTip("0 switches them off, 1 leaves them, above 1 boosts them")
        self.use_button = QPushButton("Use in generation")
        self.use_button.setToolTip(
            "Generate with these neurons switched off or scaled (level: Concept neurons), "
            "beside the plain prompt from the same seed"
        )
        self.use_button.clicked.connect(self._use)
        self.export_button = QPushButton("Export figure…")
        self.export_button.setToolTip("PNG, SVG or PDF (from the file name's extension)")
        self.export_button.clicked.connect(lambda: self.export_figure())
        use.addWidget(QLabel("Top"))
        use.addWidget(self.use_k)
        use.addWidget(QLabel("scale"))
        use.addWidget(self.use_scale)
        use.addWidget(self.use_button)
        use.addStretch(1)
        use.addWidget(self.export_button)
        lay.addLayout(use)
        self.summary.setMinimumWidth(120)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        ev = state.events
        ev.last_cones.connect(self._on_last_cones_changed)
        ev.running.connect(self._on_running_changed)
        ev.dm.connect(lambda *_: self._on_running_changed(state.running))
        self._on_running_changed(state.running)
        self._on_last_cones_changed(state.last_cones)

    # ------------------------------------------------------------------ spec
    def spec(self) -> Any:
        """The engine's ConesSpec from these fields and the panel's sampling settings."""
        from workbench.diffusion.cones import ConesSpec

        st = self.state
        return ConesSpec(
            concept=self.concept.text().strip(),
            base=self.base.text().strip(),
            steps=self.steps.value(),
            guidance=st.guidance,
            seed=st.seed,
            width=st.width or None,
            height=st.height or None,
            projections=self.projections.currentData(),
            top_k=self.top_k.value(),
            random_sets=self.random_sets.value(),
            exact_check=self.exact_check.value(),
        )

    # ------------------------------------------------------------- reactions
    def started(self) -> None:
        self.progress.setValue(0)
        self.status.setText("Sampling the concept's trajectory…")

    def show_progress(self, p: Any) -> None:
        if p.total:
            self.progress.setMaximum(int(p.total))
        self.progress.setValue(int(p.done))
        self.status.setText(f"{p.message}…")

    def finished(self) -> None:
        if self.status.text().endswith("…"):
            self.status.setText(f"Stopped after {self.progress.value()} passes.")

    def _on_running_changed(self, running: tuple[str, ...]) -> None:
        busy = CONES in running
        self.score_button.setEnabled(self.state.loaded and not busy)
        self.stop_button.setEnabled(busy)
        has = self.state.last_cones is not None
        self.use_button.setEnabled(has and self.state.loaded)
        self.export_button.setEnabled(has)

    def _on_last_cones_changed(self, out: Any) -> None:
        self._on_running_changed(self.state.running)
        if out is None:
            return
        from PIL import Image

        r = out.scores
        a = r.ablation
        d = a.drop_random
        verdict = "beats every random set" if a.beats_random else "does NOT beat every random set"
        self.summary.setText(
            f"<b>{r.concept!r}</b> vs {r.spec.base or 'the unconditional prompt'!r}: "
            f"{len(r.neurons)} neurons; concept measure {r.measure:.4g}. Top {a.k} off: "
            f"−{a.drop_top:.1%}; random {a.k}: −{sum(d) / len(d):.1%} on average, at most "
            f"−{max(d):.1%} ({verdict}). Exact vs gradient (the top {len(r.exact.neurons) // 2} "
            f"and as many random): r = {r.exact.pearson:.2f}."
        )
        exact = dict(zip(r.exact.neurons, r.exact.exact, strict=True))
        order = r.ranking()[:TABLE_ROWS]
        self.table.setRowCount(len(order))
        for row, i in enumerate(order):
            n = r.neurons[i]
            cells = [
                str(row + 1),
                f"{n[0]}:{n[1]}",
                f"{r.scores[i]:.4g}",
                f"{exact[n]:.4g}" if n in exact else "",
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        import io

        self.figure.set_image(Image.open(io.BytesIO(out.figure_files["png"])))
        self.use_k.setValue(a.k)

    def _use(self) -> None:
        out = self.state.last_cones
        if out is None:
            return
        k = min(self.use_k.value(), len(out.scores.neurons))
        self.use_requested.emit(
            out.scores.edit(k, self.use_scale.value(), run_id=self.state.last_cones_id)
        )

    def export_figure(self, path: str | None = None) -> str | None:
        out = self.state.last_cones
        if out is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self,
                "Export the concept-neuron figure",
                str(Path.home() / "concept-neurons.png"),
                "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)",
            )
            if not path:
                return None
        fmt = Path(path).suffix.lower().lstrip(".") or "png"
        if fmt not in out.figure_files:
            path, fmt = f"{path}.png", "png"
        try:
            Path(path).write_bytes(out.figure_files[fmt])
        except OSError as e:
            self.status.setText(f"Not saved: {e}")
            return None
        self.status.setText(f"Exported {Path(path).name}.")
        return path
