"""The Diffusion panel's left column: prompt, level, the edit's terms, sampling, Generate and
its progress (a view of :class:`DiffusionState`; the panel runs the jobs)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ui.binding import bind_combo_data, bind_line, bind_plain_text
from ui.panels.diffusion import jobs
from ui.panels.diffusion.model import ENCODE, GENERATE, DiffusionState
from ui.panels.diffusion.sampling import SamplingBox
from ui.panels.diffusion.widgets import TermListWidget
from ui.widgets import hint, primary, title


class EditForm(QWidget):
    """Prompt, negative prompt, level, terms, the neuron edit, sampling, Generate/Cancel."""

    generate_requested = Signal()
    cancel_requested = Signal()
    encode_requested = Signal()

    def __init__(self, state: DiffusionState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        ll = QVBoxLayout(self)
        ll.setContentsMargins(0, 0, 6, 0)
        head = QHBoxLayout()
        head.addWidget(title("Prompt"), 1)
        self.encode_button = QPushButton("Encode as concept")
        self.encode_button.setToolTip(
            "Put the prompt's embedding (at this level: token sequence and pooled vector "
            "together, or token embeddings) into the concept library, marked with this model"
        )
        self.encode_button.clicked.connect(self.encode_requested.emit)
        head.addWidget(self.encode_button)
        ll.addLayout(head)
        self.prompt = QPlainTextEdit()
        self.prompt.setMaximumHeight(64)
        self.prompt.setToolTip("The baseline image's prompt; the edit terms are added to it.")
        ll.addWidget(self.prompt)
        self.negative = QLineEdit()
        self.negative.setPlaceholderText("negative prompt (optional)")
        self.negative.setToolTip(
            "What classifier-free guidance steers away from (empty: the pipeline's default)"
        )
        ll.addWidget(self.negative)
        row = QHBoxLayout()
        self.level = QComboBox()
        for i, (key, (name, tip)) in enumerate(jobs.LEVELS.items()):
            self.level.addItem(name, key)
            self.level.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        row.addWidget(QLabel("Level"))
        row.addWidget(self.level, 1)
        ll.addLayout(row)
        box = QGroupBox("Edit: terms added to the prompt")
        box.setToolTip(
            "edited = prompt + Σ coefficient × term, at the chosen level; the baseline is the "
            "prompt alone, from the same seed"
        )
        bl = QVBoxLayout(box)
        self.terms = TermListWidget()
        bl.addWidget(self.terms)
        ll.addWidget(box)
        ll.addWidget(self._neuron_box())
        self.sampling = SamplingBox(state)
        ll.addWidget(self.sampling)
        row = QHBoxLayout()
        self.generate_button = primary("Generate", "Baseline and edited images from the same seed")
        self.generate_button.clicked.connect(self.generate_requested.emit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop at the next denoising step")
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        row.addWidget(self.generate_button)
        row.addWidget(self.cancel_button)
        ll.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self.progress.setToolTip("Denoising steps: the baseline's, then the edited image's")
        ll.addWidget(self.progress)
        self.status = hint(state.status)
        ll.addWidget(self.status)
        ll.addStretch(1)

        bind_plain_text(self.prompt, state, "prompt")
        bind_line(self.negative, state, "negative")
        bind_combo_data(self.level, state, "level")
        self.terms.changed.connect(self._terms_to_state)
        ev = state.events
        ev.terms.connect(self._on_terms_changed)
        ev.level.connect(self._on_level_changed)
        ev.neurons.connect(self._on_neurons_changed)
        ev.done.connect(lambda v: self.progress.setValue(int(v)))
        ev.total.connect(lambda v: self.progress.setMaximum(max(1, int(v))))
        ev.status.connect(lambda text: self.status.setText(text))
        ev.running.connect(self._on_running_changed)
        ev.dm.connect(lambda *_: self._on_running_changed(state.running))
        self.progress.setRange(0, max(1, state.total))
        self.progress.setValue(state.done)
        self._on_level_changed(state.level)
        self._on_neurons_changed(state.neurons)
        self._on_running_changed(state.running)

    def _neuron_box(self) -> QGroupBox:
        self.neuron_box = QGroupBox("Concept neurons switched off or scaled")
        self.neuron_box.setToolTip(
            "The 'Concept neurons' level: the prompt alone, with the chosen cross-attention "
            "key/value neurons scaled (0 switches them off); the baseline is the plain prompt "
            "from the same seed."
        )
        lay = QHBoxLayout(self.neuron_box)
        self.neuron_label = QLabel()
        self.neuron_label.setWordWrap(True)
        self.neuron_scale = QDoubleSpinBox()
        self.neuron_scale.setRange(-100.0, 100.0)
        self.neuron_scale.setSingleStep(0.5)
        self.neuron_scale.setDecimals(2)
        self.neuron_scale.setToolTip("Scale of the chosen neurons: 0 off, 1 unchanged, >1 boosted")
        self.neuron_scale.valueChanged.connect(self._scale_to_state)
        lay.addWidget(self.neuron_label, 1)
        lay.addWidget(QLabel("scale"))
        lay.addWidget(self.neuron_scale)
        return self.neuron_box

    # ------------------------------------------------------------- model -> view
    def _on_terms_changed(self, terms: tuple[jobs.TermRow, ...]) -> None:
        if tuple(self.terms.terms()) != terms:
            self.terms.set_terms([(t.coefficient, t.text) for t in terms])

    def _on_level_changed(self, level: str) -> None:
        self.level.setToolTip(jobs.LEVELS[level][1])
        self.neuron_box.setVisible(level == "neurons")

    def _on_neurons_changed(self, edit: Any) -> None:
        if edit is None:
            self.neuron_label.setText(
                "No neurons chosen: score them in the Concept neurons tab, then 'Use in "
                "generation'."
            )
            self.neuron_scale.setEnabled(False)
            return
        self.neuron_label.setText(edit.describe())
        self.neuron_scale.setEnabled(True)
        if self.neuron_scale.value() != edit.scale:
            self.neuron_scale.blockSignals(True)
            self.neuron_scale.setValue(edit.scale)
            self.neuron_scale.blockSignals(False)

    def _on_running_changed(self, running: tuple[str, ...]) -> None:
        loaded = self.state.loaded
        self.generate_button.setEnabled(loaded and GENERATE not in running)
        self.cancel_button.setEnabled(GENERATE in running)
        self.encode_button.setEnabled(loaded and ENCODE not in running)

    # ------------------------------------------------------------- view -> model
    def _terms_to_state(self) -> None:
        self.state.terms_error = self.terms.error
        self.state.terms = tuple(self.terms.terms())

    def _scale_to_state(self, value: float) -> None:
        edit = self.state.neurons
        if edit is not None and edit.scale != value:
            self.state.neurons = edit.with_scale(float(value))

    def scrolled(self) -> QScrollArea:
        """This form in a vertical scroll area (the panel's left column)."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self)
        scroll.setMinimumWidth(self.minimumSizeHint().width() + 8)
        return scroll
