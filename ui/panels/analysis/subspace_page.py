"""Subspace patching with the interpretability-illusion control: the patch along a direction,
its row-space part and its nullspace part, beside the clean, corrupted and full-patch
baselines (``workbench.analysis.subspace.subspace_patching_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox, QWidget

from ui.panels.analysis._page import AnalysisPage


class SubspacePatchingPage(AnalysisPage):
    """Patch along a direction, split by what the next layer reads."""

    title = "Subspace patching"
    run_label = "Patch along the direction"
    figure_kind = "subspace_patching"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.clean = QLineEdit("The capital of France is")
        self.corrupted = QLineEdit("The capital of Italy is")
        self.target = QLineEdit(" Paris")
        self.foil = QLineEdit(" Rome")
        self.site = QComboBox()
        self.site.addItem("MLP hidden activations (read by W_out)", "mlp_post")
        self.site.addItem(
            "Block output (residual stream: no nullspace before the last block)", "resid_post"
        )
        self.layer = QSpinBox()
        self.layer.setRange(0, 999)
        self.dir_a = QLineEdit("The language of France is")
        self.dir_b = QLineEdit("The language of Italy is")
        for w in (self.dir_a, self.dir_b):
            w.setPlaceholderText("empty: the patched pair's own difference")
        self.form.addRow("Clean prompt", self.clean)
        self.form.addRow("Corrupted prompt", self.corrupted)
        self.form.addRow("Target / foil", _pair(self.target, self.foil))
        self.form.addRow("Site", self.site)
        self.form.addRow("Layer", self.layer)
        self.form.addRow("Direction: prompt A − prompt B", _pair(self.dir_a, self.dir_b))

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.analysis.subspace import subspace_patching_job

        a, b = self.dir_a.text(), self.dir_b.text()
        if bool(a.strip()) != bool(b.strip()):
            raise ValueError("Give both direction prompts, or neither.")
        kwargs = {
            "layer": self.layer.value(),
            "site": self.site.currentData(),
            "direction_pair": (a, b) if a.strip() else None,
        }
        args = (self.clean.text(), self.corrupted.text(), self.target.text(),
                self.foil.text() or None)  # fmt: skip
        return subspace_patching_job, args, kwargs

    def describe(self, result: Any) -> str:
        n = result.normalized()
        parts = ", ".join(f"{k} {v:.0%}" for k, v in n.items() if k != "corrupted")
        text = f"Share of the clean − corrupted gap restored: {parts}."
        return text + (f" {result.note}" if result.note else "")


def _pair(a: QWidget, b: QWidget) -> QWidget:
    from PySide6.QtWidgets import QHBoxLayout

    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(a)
    lay.addWidget(b)
    return w
