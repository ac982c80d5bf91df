"""Sampling settings (seed, steps, guidance, size, previews): a view of :class:`DiffusionState`."""

from __future__ import annotations

import random

from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ui.binding import bind_spin
from ui.panels.diffusion.model import DiffusionState


class SamplingBox(QGroupBox):
    def __init__(self, state: DiffusionState, parent: QWidget | None = None):
        super().__init__("Sampling", parent)
        grid = QGridLayout(self)
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
        self.steps.setToolTip("Denoising steps")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, 50.0)
        self.guidance.setSingleStep(0.5)
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
        self.preview_every.setSpecialValueText("off")
        self.preview_every.setToolTip(
            "Show the x0 estimate (what the image would be if denoising stopped now) every n "
            "steps: a cheap latent-to-RGB map, at the latent's size"
        )
        seed_row = QHBoxLayout()
        seed_row.setSpacing(2)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(dice)
        seed_label = QLabel("Seed")
        seed_label.setToolTip(self.seed.toolTip())
        grid.addWidget(seed_label, 0, 0)
        grid.addLayout(seed_row, 0, 1, 1, 3)
        cells: list[list[tuple[str, QWidget]]] = [
            [("Steps", self.steps), ("Guidance", self.guidance)],
            [("Width", self.width_spin), ("Height", self.height_spin)],
            [("Previews", self.preview_every)],
        ]
        for r, row in enumerate(cells, start=1):
            for c, (label, w) in enumerate(row):
                text = QLabel(label)
                text.setToolTip(w.toolTip())
                grid.addWidget(text, r, 2 * c)
                grid.addWidget(w, r, 2 * c + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        for spin, name in (
            (self.seed, "seed"),
            (self.steps, "steps"),
            (self.guidance, "guidance"),
            (self.width_spin, "width"),
            (self.height_spin, "height"),
            (self.preview_every, "preview_every"),
        ):
            bind_spin(spin, state, name)
