"""The concept-depth page: probe accuracy by layer, plain and under input noise and quantized
weights, with error bars over folds (``workbench.concepts.depth.concept_depth_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox, QWidget

from ui.panels.analysis._page import AnalysisPage


def _levels(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.replace(",", " ").split())
    except ValueError:
        raise ValueError(f"{what}: give numbers separated by commas, e.g. 0.1, 0.3.") from None


class DepthPage(AnalysisPage):
    """Concept depth under perturbation."""

    title = "Concept depth"
    run_label = "Probe every layer"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        from workbench.concepts.prompt_sets import builtin_sets

        self.prompt_set = QComboBox()
        for name, ps in builtin_sets().items():
            if ps.kind in ("labelled", "contrastive"):
                self.prompt_set.addItem(name)
        i = self.prompt_set.findText("sentiment")
        if i >= 0:
            self.prompt_set.setCurrentIndex(i)
        self.layers = QLineEdit("all")
        self.layers.setToolTip("all, 12, 10-14 or 0,4,8")
        self.token_noise = QLineEdit("0.1, 0.3")
        self.token_noise.setToolTip("Fractions of tokens replaced by random tokens")
        self.embed_noise = QLineEdit("")
        self.embed_noise.setToolTip("Gaussian noise on the embeddings, in units of their RMS")
        self.bits = QLineEdit("8, 4")
        self.bits.setToolTip("Bit widths of a quantized copy's linear layers (per channel)")
        self.folds = QSpinBox()
        self.folds.setRange(2, 10)
        self.folds.setValue(5)
        self.form.addRow("Prompt set", self.prompt_set)
        self.form.addRow("Layers", self.layers)
        self.form.addRow("Token noise", self.token_noise)
        self.form.addRow("Embedding noise", self.embed_noise)
        self.form.addRow("Weight bits", self.bits)
        self.form.addRow("Folds", self.folds)

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.cli.concepts import parse_layers
        from workbench.concepts.depth import DepthSpec, concept_depth_job
        from workbench.concepts.prompt_sets import resolve_prompt_set

        if self.prompt_set.count() == 0:
            raise ValueError("No labelled or contrastive prompt set is available.")
        ps = resolve_prompt_set(self.prompt_set.currentText())
        layers = parse_layers(self.layers.text(), hm.n_layers)
        bad = [L for L in layers if not 0 <= L < hm.n_layers]
        if bad:
            raise ValueError(f"Layers {bad}: this model has layers 0-{hm.n_layers - 1}.")
        bits = _levels(self.bits.text(), "Weight bits")
        if any(b != int(b) for b in bits):
            raise ValueError("Weight bits: give whole numbers, e.g. 8, 4.")
        spec = DepthSpec(
            token_noise=_levels(self.token_noise.text(), "Token noise"),
            embed_noise=_levels(self.embed_noise.text(), "Embedding noise"),
            bits=tuple(int(b) for b in bits),
            layers=tuple(layers) or None,
            folds=self.folds.value(),
        )
        return concept_depth_job, (ps, spec), {}

    def describe(self, result: Any) -> str:
        parts = []
        for label, curve in zip(result.labels, result.curves, strict=True):
            L, acc = curve.best
            parts.append(f"{label}: best L{L} {acc:.2f}")
        return "; ".join(parts) + f" (chance {result.curves[0].chance:.2f})."
