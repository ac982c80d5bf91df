"""Compare concepts: the cosine-similarity matrix at a site, as a heatmap (exportable)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui import glossary
from ui.context import AppContext
from ui.model_jobs import cosine_matrix


class CompareDialog(QDialog):
    def __init__(self, ctx: AppContext, names: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        from ui.plots import HeatmapWidget

        self.ctx = ctx
        self.setWindowTitle("Compare concepts")
        self.resize(640, 560)
        self.concepts = [ctx.concepts.get(n) for n in names]
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Site"))
        self.site = QComboBox()
        shared = [s for s in self.concepts[0].sites if all(s in c.vectors for c in self.concepts)]
        self.site.addItems(shared)
        if shared:
            self.site.setCurrentIndex(len(shared) * 2 // 3)
        self.site.currentTextChanged.connect(self.update_plot)
        self.site.setToolTip(glossary.TERMS["cosine"])
        row.addWidget(self.site, 1)
        export = QPushButton("Export figure…")
        row.addWidget(export)
        lay.addLayout(row)
        self.heatmap = HeatmapWidget()
        export.clicked.connect(self.heatmap.export_dialog)
        lay.addWidget(self.heatmap, 1)
        self.update_plot()

    def update_plot(self, *_: Any) -> None:
        try:
            names, m, site = cosine_matrix(self.concepts, self.site.currentText() or None)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "comparing concepts")
            return
        from workbench.concepts.diagnostics import CosineMatrix

        self.spec = CosineMatrix(names, m.tolist(), [site]).figure_spec()
        self.heatmap.set_spec(self.spec)
