"""The logit lens page: a prompt and a target, a layers × positions map with the top token in
each cell (``workbench.analysis.logit_lens_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox, QWidget

from ui.panels.analysis._page import AnalysisPage


class LogitLensPage(AnalysisPage):
    """Logit lens of a prompt, layer by layer."""

    title = "Logit lens"
    run_label = "Run the logit lens"
    figure_kind = "logit_lens"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.prompt = QLineEdit("The capital of France is")
        self.target = QLineEdit(" Paris")
        self.target.setToolTip("Its first token is scored; start a word with a space: ' Paris'")
        self.k = QSpinBox()
        self.k.setRange(1, 50)
        self.k.setValue(5)
        self.form.addRow("Prompt", self.prompt)
        self.form.addRow("Target (optional)", self.target)
        self.scale = QComboBox()
        self.scale.addItem("Probability", "prob")
        self.scale.addItem("log10 probability", "log10")
        self.form.addRow("Top tokens per cell", self.k)
        self.form.addRow("Colour", self.scale)

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.analysis import logit_lens_job

        prompt = self.prompt.text()
        if not prompt.strip():
            raise ValueError("Type a prompt first, e.g. 'The capital of France is'.")
        target = self.target.text() or None
        return logit_lens_job, (prompt, target, self.k.value(), self.scale.currentData()), {}

    def describe(self, result: Any) -> str:
        s = result.summary()
        last = s["rows"][-1]
        text = f"Last position: top token {last['top']!r} ({last['top_prob']:.2f})"
        if result.target_rank is not None:
            ranks = [r["target_rank"] for r in s["rows"]]
            first = next((s["rows"][i]["row"] for i, r in enumerate(ranks) if r == 1), None)
            text += f"; {result.target_token!r} P={last['target_prob']:.3f}, rank {ranks[-1]}"
            text += f", first top-1 at layer {first}" if first is not None else ", never top-1"
        return text + (f". {result.note}" if result.note else ".")
