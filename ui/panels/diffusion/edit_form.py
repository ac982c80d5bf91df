"""How the Diffusion panel is laid out (a mixin of :class:`DiffusionPanel`): the pipeline
bar on top, prompt, level, terms and sampling on the left, baseline | edited in the middle."""

from __future__ import annotations

import random

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.panels import diffusion_jobs as jobs
from ui.panels.diffusion_widgets import ImageColumn, TermListWidget
from ui.widgets import hint, primary, title


class DiffusionLayoutMixin:
    """Builds the widgets; the panel wires them."""

    def _pipeline_bar(self) -> QWidget:
        box = QGroupBox("Pipeline")
        grid = QVBoxLayout(box)
        row = QHBoxLayout()
        self.pipeline = QComboBox()
        self.pipeline.setMinimumContentsLength(16)
        self.pipeline.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.pipeline.setToolTip(
            "Local diffusers pipelines: folders you opened before and pipelines in the local "
            "Hugging Face cache (SD 1.x/2.x, SDXL, SD3, Flux). Nothing is ever downloaded."
        )
        self.refresh_button = QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("Look for pipelines in the Hugging Face cache again")
        self.refresh_button.clicked.connect(lambda: self.refresh_pipelines())
        self.open_button = QPushButton("Open pipeline folder/file…")
        menu = QMenu(self.open_button)
        menu.addAction("Pipeline folder (model_index.json)…", lambda: self.open_dialog(folder=True))
        menu.addAction(
            "Single checkpoint file + local config…", lambda: self.open_dialog(folder=False)
        )
        self.open_button.setMenu(menu)
        self.open_button.setToolTip(
            "A diffusers folder (the one with model_index.json), or a single .safetensors/.ckpt "
            "checkpoint together with a local diffusers folder of the same family for its configs "
            "and tokenizers"
        )
        self.load_button = primary("Load", "Load the chosen pipeline in the background")
        self.load_button.clicked.connect(lambda: self.load())
        row.addWidget(QLabel("Model"))
        row.addWidget(self.pipeline, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(self.open_button)
        row.addWidget(self.load_button)
        grid.addLayout(row)
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
        for label, w in (("Device", self.device), ("dtype", self.dtype), ("", self.offload)):
            if label:
                row2.addWidget(QLabel(label))
            row2.addWidget(w)
        from superqt import QElidingLabel

        self.load_status = QElidingLabel("No pipeline loaded.")
        self.load_status.setObjectName("hint")
        row2.addSpacing(12)
        row2.addWidget(self.load_status, 1)
        grid.addLayout(row2)
        return box

    def _left_column(self) -> QWidget:
        body = QWidget()
        ll = QVBoxLayout(body)
        ll.setContentsMargins(0, 0, 6, 0)
        head = QHBoxLayout()
        head.addWidget(title("Prompt"), 1)
        self.encode_button = QPushButton("Encode as concept")
        self.encode_button.setToolTip(
            "Put the prompt's embedding (at this level: token sequence and pooled vector "
            "together, or token embeddings) into the concept library, marked with this model"
        )
        self.encode_button.clicked.connect(lambda: self.encode_concept())
        head.addWidget(self.encode_button)
        ll.addLayout(head)
        self.prompt = QPlainTextEdit("a castle on a hill")
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
        self.level.currentIndexChanged.connect(
            lambda *_: self.level.setToolTip(jobs.LEVELS[self.level.currentData()][1])
        )
        self.level.setToolTip(jobs.LEVELS["text_encoder"][1])
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
        ll.addWidget(self._sampling_box())
        row = QHBoxLayout()
        self.generate_button = primary("Generate", "Baseline and edited images from the same seed")
        self.generate_button.clicked.connect(lambda: self.generate())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop at the next denoising step")
        self.cancel_button.clicked.connect(lambda: self.cancel())
        row.addWidget(self.generate_button)
        row.addWidget(self.cancel_button)
        ll.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self.progress.setValue(0)
        ll.addWidget(self.progress)
        self.status = hint("Load a pipeline, write a prompt, add terms, then Generate.")
        ll.addWidget(self.status)
        ll.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        scroll.setMinimumWidth(body.minimumSizeHint().width() + 8)
        return scroll

    def _sampling_box(self) -> QGroupBox:
        box = QGroupBox("Sampling")
        grid = QGridLayout(box)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip(
            "One torch.Generator('cpu').manual_seed(seed) per image: the same seed gives the "
            "same starting noise on every device, so baseline and edited differ by the edit only"
        )
        dice = QToolButton()
        dice.setText("Random")
        dice.setToolTip("A random seed")
        dice.clicked.connect(lambda: self.seed.setValue(random.randrange(2**31 - 1)))
        self.steps = QSpinBox()
        self.steps.setRange(1, 500)
        self.steps.setValue(30)
        self.steps.setToolTip("Denoising steps")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, 50.0)
        self.guidance.setSingleStep(0.5)
        self.guidance.setValue(7.5)
        self.guidance.setToolTip(
            "Classifier-free guidance scale g: ε = ε(∅) + g·(ε(c) − ε(∅)). 1 turns it off; "
            "noise-level composition needs more than 1"
        )
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for s, name in ((self.width_spin, "Width"), (self.height_spin, "Height")):
            s.setRange(0, 4096)
            s.setSingleStep(64)
            s.setSpecialValueText("default")
            s.setToolTip(f"{name} in pixels, a multiple of 8 (default: the model's own size)")
        self.preview_every = QSpinBox()
        self.preview_every.setRange(0, 100)
        self.preview_every.setValue(1)
        self.preview_every.setSpecialValueText("off")
        self.preview_every.setToolTip(
            "Show the x0 estimate (what the image would be if denoising stopped now) every n "
            "steps: a cheap latent-to-RGB map, at the latent's size"
        )
        seed_row = QHBoxLayout()
        seed_row.setSpacing(2)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(dice)
        cells = [
            [("Seed", seed_row)],
            [("Steps", self.steps), ("Guidance", self.guidance)],
            [("Width", self.width_spin), ("Height", self.height_spin)],
            [("Previews", self.preview_every)],
        ]
        for r, row in enumerate(cells):
            for c, (label, w) in enumerate(row):
                text = QLabel(label)
                text.setToolTip(w.toolTip() if isinstance(w, QWidget) else self.seed.toolTip())
                grid.addWidget(text, r, 2 * c)
                if isinstance(w, QWidget):
                    grid.addWidget(w, r, 2 * c + 1)
                else:  # the seed row spans both columns
                    grid.addLayout(w, r, 1, 1, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        return box

    def _compare_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        self.baseline_col = ImageColumn(
            "Baseline", "The prompt alone.", "The baseline image (the prompt alone) appears here."
        )
        self.edited_col = ImageColumn(
            "Edited",
            "The prompt plus the terms, at the chosen level, from the same seed.",
            "The edited image appears here, updating at every step.",
        )
        row.addWidget(self.baseline_col, 1)
        row.addWidget(self.edited_col, 1)
        lay.addLayout(row, 1)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save PNG with provenance…")
        self.save_button.setToolTip(
            "The edited image as PNG; text chunks carry how it was made: 'parameters' "
            "(AUTOMATIC1111's line, read by many tools) and 'workbench' (full JSON)"
        )
        self.save_button.clicked.connect(lambda: self.save_png())
        self.save_baseline_button = QPushButton("Save baseline…")
        self.save_baseline_button.setToolTip("The baseline image as PNG with its provenance")
        self.save_baseline_button.clicked.connect(lambda: self.save_png(which="baseline"))
        for b in (self.save_button, self.save_baseline_button):
            b.setEnabled(False)
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        return w
