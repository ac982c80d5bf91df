"""The successor-heads page: one head's OV table, mod-10 features on held-out numbers and the
vector arithmetic on them (``workbench.heads.successor.successor_analysis_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLineEdit, QSpinBox, QWidget

from ui.panels.analysis._page import AnalysisPage


class SuccessorPage(AnalysisPage):
    """Successor heads (Gould et al. 2023) for one head."""

    title = "Successor heads"
    run_label = "Analyse the head"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.head = QLineEdit("")
        self.head.setPlaceholderText("e.g. L23H3; empty: the head with the best successor score")
        self.max_number = QSpinBox()
        self.max_number.setRange(2, 100)
        self.max_number.setValue(100)
        self.max_number.setToolTip("Number tokens 0..N-1 in every single-token form")
        self.k = QSpinBox()
        self.k.setRange(1, 20)
        self.k.setValue(5)
        self.form.addRow("Head", self.head)
        self.form.addRow("Numbers up to", self.max_number)
        self.form.addRow("Top tokens per row", self.k)

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.heads.headset import parse_heads
        from workbench.heads.successor import successor_analysis_job

        layer = head = None
        text = self.head.text().strip()
        if text:
            heads = parse_heads(text)  # a ValueError says how to write a head
            if len(heads) != 1:
                raise ValueError(f"{text!r}: give one head, e.g. L23H3.")
            layer, head = heads[0]
        kwargs = {"max_number": self.max_number.value(), "k": self.k.value()}
        return successor_analysis_job, (layer, head), kwargs

    def describe(self, result: Any) -> str:
        p, a = result.probe, result.arithmetic
        accs = ", ".join(f"{m} {v:.2f}" for m, v in p.accuracy.items())
        hits = sum(bool(r.correct) for r in result.table)
        n = sum(r.correct is not None for r in result.table)
        return (
            f"{result.label}: OV top-in-sequence is the successor for {hits}/{n} tokens. "
            f"Mod-10 on {p.n_numbers} held-out numbers: {accs} (chance {p.chance:.2f}). "
            f"Arithmetic e − f_a + f_b: {a.success_rate:.2f} of {a.n_edits} edits (random "
            f"direction {a.control_rate:.2f}; unedited successor {a.successor_rate:.2f})."
        )
