"""The activation patching page: clean and corrupted prompts, the component, the metric; a
layers × positions map of the restored fraction with the clean and corrupted baselines
(``workbench.analysis.activation_patching_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QLineEdit, QWidget

from ui.panels.analysis._page import AnalysisPage


class PatchingPage(AnalysisPage):
    """Causal tracing: clean → corrupted at every layer × position."""

    title = "Activation patching"
    run_label = "Patch every layer × position"
    figure_kind = "activation_patching"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.clean = QLineEdit("The capital of France is")
        self.corrupted = QLineEdit("The capital of Italy is")
        self.target = QLineEdit(" Paris")
        self.foil = QLineEdit(" Rome")
        self.component = QComboBox()
        for key, label in (("resid_pre", "Residual stream (block input)"),
                           ("attn_out", "Attention output"), ("mlp_out", "MLP output")):  # fmt: skip
            self.component.addItem(label, key)
        self.metric_box = QComboBox()
        for key, label in (("logit_diff", "Logit difference target − foil"),
                           ("prob", "Target probability"), ("logprob", "Target log-probability"),
                           ("logit", "Target logit")):  # fmt: skip
            self.metric_box.addItem(label, key)
        self.form.addRow("Clean prompt", self.clean)
        self.form.addRow("Corrupted prompt (same token count)", self.corrupted)
        self.form.addRow("Target (clean answer)", self.target)
        self.form.addRow("Foil (corrupted answer)", self.foil)
        self.form.addRow("Patch", self.component)
        self.form.addRow("Metric", self.metric_box)

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.analysis import activation_patching_job

        if not self.clean.text().strip() or not self.corrupted.text().strip():
            raise ValueError("Type a clean and a corrupted prompt first.")
        args = (self.clean.text(), self.corrupted.text(), self.target.text(),
                self.foil.text() or None, self.component.currentData(),
                self.metric_box.currentData())  # fmt: skip
        return activation_patching_job, args, {}

    def describe(self, result: Any) -> str:
        best = result.best(1)[0]
        return (
            f"Clean {result.clean_metric:.3f}, corrupted {result.corrupted_metric:.3f}; the "
            f"strongest cell, layer {best['layer']} at {best['token']!r}, gives "
            f"{best['value']:.3f} ({best['normalized']:.0%} of the gap)."
        )
