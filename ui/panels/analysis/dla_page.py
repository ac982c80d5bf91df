"""Direct logit attribution per MLP beside the per-head map: a prompt (or several, one per
line), a target and a foil; a layers × (heads, MLP) map
(``workbench.analysis.components.layer_attribution_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLineEdit, QPlainTextEdit, QWidget

from ui.panels.analysis._page import AnalysisPage


class MlpDlaPage(AnalysisPage):
    """Which heads and MLPs write the answer directly."""

    title = "Logit attribution (heads and MLPs)"
    run_label = "Attribute the logit"
    figure_kind = "layer_attribution"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.prompts = QPlainTextEdit("The capital of France is")
        self.prompts.setPlaceholderText("One prompt per line (the map is their mean)")
        self.prompts.setMaximumHeight(70)
        self.target = QLineEdit(" Paris")
        self.foil = QLineEdit(" Rome")
        self.form.addRow("Prompts", self.prompts)
        self.form.addRow("Target", self.target)
        self.form.addRow("Foil (optional)", self.foil)

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.analysis.components import layer_attribution_job

        prompts = [p for p in self.prompts.toPlainText().splitlines() if p.strip()]
        if not prompts:
            raise ValueError("Type at least one prompt.")
        return layer_attribution_job, (prompts, self.target.text(), self.foil.text() or None), {}

    def describe(self, result: Any) -> str:
        mlps = ", ".join(f"MLP{L} {v:+.2f}" for L, v in result.top_mlps(3))
        heads = sorted(
            ((v, L, h) for L, row in enumerate(result.heads) for h, v in enumerate(row)),
            key=lambda t: -abs(t[0]),
        )[:3]
        hs = ", ".join(f"L{L}H{h} {v:+.2f}" for v, L, h in heads)
        return f"Model total {result.total:.3f}. Largest MLPs: {mlps}. Largest heads: {hs}."
