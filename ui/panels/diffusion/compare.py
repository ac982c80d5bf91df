"""Baseline | edited: the two images from one seed, live x0 previews while they render, what
made each, and PNG export with provenance (a view of :class:`DiffusionState`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ui.panels.diffusion.model import DiffusionState
from ui.panels.diffusion.widgets import ImageColumn


def caption(info: dict[str, Any]) -> str:
    """What made an image, in one line (from its provenance)."""
    w, h = info.get("size", ["?", "?"])
    text = (
        f"{info.get('expression')}  ·  {info.get('level')}  ·  seed {info.get('seed')}  ·  "
        f"{info.get('steps')} steps  ·  CFG {info.get('guidance'):g}  ·  {w}×{h}"
    )
    neurons = info.get("neurons")
    if neurons:
        text += f"  ·  {neurons.get('label', 'neurons')} × {neurons.get('scale'):g}"
    if (info.get("model") or {}).get("source", "").startswith("demo:"):
        text += "  ·  demo pipeline (random weights)"
    return text


class CompareView(QWidget):
    save_requested = Signal(str)  # "edited" | "baseline"

    def __init__(self, state: DiffusionState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        lay = QVBoxLayout(self)
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
        self.save_button.clicked.connect(lambda: self.save_requested.emit("edited"))
        self.save_baseline_button = QPushButton("Save baseline…")
        self.save_baseline_button.setToolTip("The baseline image as PNG with its provenance")
        self.save_baseline_button.clicked.connect(lambda: self.save_requested.emit("baseline"))
        for b in (self.save_button, self.save_baseline_button):
            b.setEnabled(False)
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        state.events.last.connect(self._on_last_changed)

    def started(self, spec: Any) -> None:
        """A generation began: captions say what is coming, the save buttons wait."""
        for b in (self.save_button, self.save_baseline_button):
            b.setEnabled(False)
        self.edited_col.caption.setText(spec.expression)
        self.baseline_col.caption.setText(spec.prompt)

    def show_preview(self, preview: Any) -> None:
        """A per-step x0 estimate (a StepPreview) in its column."""
        if not preview.images:
            return
        col = self.baseline_col if preview.part == "baseline" else self.edited_col
        col.view.set_image(preview.images[0], smooth=False)
        col.caption.setText(f"x0 estimate after step {preview.step}/{preview.steps}")

    def _on_last_changed(self, r: Any) -> None:
        if r is None:
            return
        c = r.comparison
        self.baseline_col.view.set_image(c.baseline.image)
        self.edited_col.view.set_image(c.edited.image)
        self.baseline_col.caption.setText(caption(c.baseline.info))
        self.edited_col.caption.setText(caption(c.edited.info))
        self.save_button.setEnabled(True)
        self.save_baseline_button.setEnabled(True)
