"""One head's OV view: the output tokens its effective OV circuit raises for each input token
(``workbench.analysis.components.head_ov_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLineEdit, QSpinBox, QWidget

from ui.panels.analysis._page import AnalysisPage


class HeadOvPage(AnalysisPage):
    """Top output tokens of one head's OV circuit."""

    title = "Head OV circuit"
    run_label = "Show the OV circuit"
    figure_kind = "head_ov"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.layer = QSpinBox()
        self.layer.setRange(0, 999)
        self.head = QSpinBox()
        self.head.setRange(0, 999)
        self.tokens = QLineEdit("France, Italy, Germany, Spain, Japan, one, two, Monday")
        self.tokens.setToolTip("Comma-separated words; words that are not one token are skipped")
        self.k = QSpinBox()
        self.k.setRange(1, 30)
        self.k.setValue(6)
        self.form.addRow("Layer", self.layer)
        self.form.addRow("Head", self.head)
        self.form.addRow("Input tokens", self.tokens)
        self.form.addRow("Outputs per input", self.k)

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.analysis.components import head_ov_job

        words = [w.strip() for w in self.tokens.text().split(",") if w.strip()]
        if not words:
            raise ValueError("Type some input words, separated by commas.")
        args = (self.layer.value(), self.head.value(), words, self.k.value())
        return head_ov_job, args, {}

    def describe(self, result: Any) -> str:
        copies = sum(r == 1 for r in result.copy_rank)
        text = (
            f"L{result.layer}H{result.head}: {copies}/{len(result.tokens)} inputs copy themselves."
        )
        if result.skipped:
            text += f" Not one token, skipped: {', '.join(result.skipped)}."
        return text
