"""The pipeline bar: which pipeline, where it runs, Load; and, until a real pipeline is found,
what can be loaded and where the workbench looks (a view of :class:`DiffusionState`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QElidingLabel

from ui.binding import bind_combo_data, bind_combo_text
from ui.panels.diffusion.model import LOAD, DiffusionState, PipelineEntry
from ui.widgets import primary


def sources_help(cache_dir: str | None) -> str:
    from workbench.diffusion.catalog import pipeline_sources_help

    return pipeline_sources_help(cache_dir)


class PipelineBar(QGroupBox):
    """Emits what the user asks for; the panel runs it."""

    load_requested = Signal()
    refresh_requested = Signal()
    open_requested = Signal(bool)  # True: a folder; False: a checkpoint file and its config

    def __init__(self, state: DiffusionState, parent: QWidget | None = None):
        super().__init__("Pipeline", parent)
        self.state = state
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.pipeline = QComboBox()
        self.pipeline.setMinimumContentsLength(16)
        self.pipeline.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.pipeline.setToolTip(
            "Local diffusers pipelines: folders you opened before, pipelines in the local "
            "Hugging Face cache (SD 1.x/2.x, SDXL, SD3, Flux), and a demo pipeline with random "
            "weights. Nothing is ever downloaded."
        )
        self.refresh_button = QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("Look for pipelines in the Hugging Face cache again")
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        self.open_button = QPushButton("Open pipeline folder/file…")
        menu = QMenu(self.open_button)
        menu.addAction(
            "Pipeline folder (model_index.json)…", lambda: self.open_requested.emit(True)
        )
        menu.addAction(
            "Single checkpoint file + local config…", lambda: self.open_requested.emit(False)
        )
        self.open_button.setMenu(menu)
        self.open_button.setToolTip(
            "A diffusers folder (the one with model_index.json), or a single .safetensors/.ckpt "
            "checkpoint together with a local diffusers folder of the same family for its configs "
            "and tokenizers"
        )
        self.load_button = primary("Load", "Load the chosen pipeline in the background")
        self.load_button.clicked.connect(self.load_requested.emit)
        self.help_button = QToolButton()
        self.help_button.setText("?")
        self.help_button.setCheckable(True)
        self.help_button.setToolTip("What can be loaded, and where the workbench looks")
        row.addWidget(QLabel("Model"))
        row.addWidget(self.pipeline, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(self.open_button)
        row.addWidget(self.load_button)
        row.addWidget(self.help_button)
        lay.addLayout(row)

        row2 = QHBoxLayout()
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setToolTip("auto: a CUDA GPU if there is one, else Apple MPS, else the CPU")
        self.dtype = QComboBox()
        self.dtype.addItems(["auto", "float32", "float16", "bfloat16"])
        self.dtype.setToolTip(
            "auto: float32 on the CPU; float16 (SD, SDXL) or bfloat16 (SD3, Flux) on a GPU"
        )
        self.offload = QComboBox()
        self.offload.addItem("no offload", False)
        self.offload.addItem("model offload", "model")
        self.offload.addItem("sequential offload", "sequential")
        self.offload.setToolTip(
            "CPU offload keeps weights in CPU memory and moves them to the GPU when used: whole "
            "components (model; a little slower) or layer by layer (sequential; slowest, least "
            "GPU memory). Needs a GPU device."
        )
        row2.addWidget(QLabel("Device"))
        row2.addWidget(self.device)
        row2.addWidget(QLabel("dtype"))
        row2.addWidget(self.dtype)
        row2.addWidget(self.offload)
        self.load_status = QElidingLabel(state.load_status)
        self.load_status.setObjectName("hint")
        row2.addSpacing(12)
        row2.addWidget(self.load_status, 1)
        lay.addLayout(row2)

        self.help = QLabel(sources_help(state.cache_dir))
        self.help.setObjectName("hint")
        self.help.setWordWrap(True)
        self.help.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.help)
        self.help_button.toggled.connect(lambda on: self._show_help())

        bind_combo_text(self.device, state, "device")
        bind_combo_text(self.dtype, state, "dtype")
        bind_combo_data(self.offload, state, "offload")
        self.pipeline.currentIndexChanged.connect(self._on_index)
        ev = state.events
        ev.entries.connect(self._on_entries_changed)
        ev.chosen.connect(self._on_chosen_changed)
        ev.running.connect(self._update_load_button)
        ev.load_status.connect(self._on_load_status_changed)
        ev.dm.connect(self._on_dm_changed)
        ev.cache_dir.connect(lambda d: self.help.setText(sources_help(d)))
        self._on_entries_changed(state.entries)

    # ------------------------------------------------------------- model -> view
    def _on_entries_changed(self, entries: tuple[PipelineEntry, ...]) -> None:
        self.pipeline.blockSignals(True)
        self.pipeline.clear()
        for i, e in enumerate(entries):
            self.pipeline.addItem(e.label, e.data())
            self.pipeline.setItemData(i, e.tip, Qt.ItemDataRole.ToolTipRole)
            if not e.loadable:
                item = self.pipeline.model().item(i)  # type: ignore[attr-defined]
                item.setEnabled(False)
        self.pipeline.setCurrentIndex(self.state.chosen)
        self.pipeline.blockSignals(False)
        self._update_load_button()
        self._show_help()

    def _on_chosen_changed(self, index: int) -> None:
        if self.pipeline.currentIndex() != index:
            self.pipeline.setCurrentIndex(index)
        self._update_load_button()

    def _on_load_status_changed(self, text: str) -> None:
        self.load_status.setText(text)

    def _on_dm_changed(self, dm: Any) -> None:
        self.load_status.setToolTip(dm.ref.source if dm is not None else "")
        self._show_help()

    def _update_load_button(self, *_: Any) -> None:
        e = self.state.entry
        self.load_button.setEnabled(self.state.can_load)
        if e is None or not e.loadable:
            self.load_button.setToolTip(
                "Choose a pipeline in the list first (or Open pipeline folder/file…, or the "
                "demo pipeline); press ? for what works."
            )
        elif LOAD in self.state.running:
            self.load_button.setToolTip("A pipeline is loading")
        else:
            self.load_button.setToolTip(f"Load {e.label.strip()} in the background")

    def _show_help(self) -> None:
        """The help shows on demand, and by itself while only the demo can be loaded."""
        real = any(e.loadable and not e.demo for e in self.state.entries)
        self.help.setVisible(self.help_button.isChecked() or (not real and not self.state.loaded))

    # ------------------------------------------------------------- view -> model
    def _on_index(self, index: int) -> None:
        self.state.chosen = index
