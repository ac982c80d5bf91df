"""A stored image generation seen again: its baseline and edited images side by side, with
what made them (the expression, seed, steps) and a way to save the PNGs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.widgets import hint, title
from workbench.store.records import GenerationInfo


class ImagePairDialog(QDialog):
    def __init__(
        self,
        generation: GenerationInfo,
        baseline: bytes | None,
        edited: bytes,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        from PIL import Image

        from ui.panels.diffusion.widgets import ImageLabel

        self.generation = generation
        self.pngs = {"baseline": baseline, "edited": edited}
        prov = generation.provenance or {}
        self.setWindowTitle(f"Generation {generation.id}: {generation.prompt[:60]}")
        self.resize(900, 560)
        lay = QVBoxLayout(self)
        grid = QGridLayout()
        self.views: dict[str, Any] = {}
        for col, key in enumerate(("baseline", "edited")):
            grid.addWidget(title("Baseline" if key == "baseline" else "Edited"), 0, col)
            view = ImageLabel("no baseline image was stored" if key == "baseline" else "")
            data = self.pngs[key]
            if data is not None:
                view.set_image(Image.open(io.BytesIO(data)).convert("RGB"))
            grid.addWidget(view, 1, col)
            self.views[key] = view
        grid.setRowStretch(1, 1)
        lay.addLayout(grid, 1)
        facts = [
            f"<b>{prov.get('expression') or generation.prompt}</b>",
            *(f"{k}: {prov[k]}" for k in ("seed", "steps", "guidance", "level") if k in prov),
        ]
        info = hint(" · ".join(facts))
        info.setToolTip(json.dumps(prov, indent=1, default=str)[:4000])
        lay.addWidget(info)
        row = QHBoxLayout()
        row.addStretch(1)
        save = QPushButton("Save PNGs…")
        save.setToolTip("Write both images (with their provenance in PNG text chunks) to a folder")
        save.clicked.connect(lambda: self.save_pngs())
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row.addWidget(save)
        row.addWidget(close)
        lay.addLayout(row)

    def save_pngs(self, folder: str | None = None) -> list[Path]:
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save the images to")
            if not folder:
                return []
        out = []
        for key, data in self.pngs.items():
            if data is None:
                continue
            path = Path(folder) / f"generation-{self.generation.id}-{key}.png"
            path.write_bytes(data)  # the stored bytes, provenance chunks and all
            out.append(path)
        return out


__all__ = ["ImagePairDialog"]
