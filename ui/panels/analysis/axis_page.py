"""The axis-projection page (Labor Space): items on an A–B axis of two text groups or two
concepts, a 1-D strip or, with a second axis, a 2-D scatter
(``workbench.concepts.axis.axis_projection_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QLineEdit, QPlainTextEdit, QWidget

from ui.panels.analysis._page import AnalysisPage

POLE_HELP = "Comma-separated texts (their mean activation), or =NAME for a concept of the project"


class AxisPage(AnalysisPage):
    """Axis projection of many items."""

    title = "Axis projection"
    run_label = "Place the items"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.items = QPlainTextEdit("nurse\nsurgeon\nwelder\nminer\nteacher\nfarmer")
        self.items.setToolTip("One item per line")
        self.items.setMaximumHeight(110)
        self.poles = []
        for text in ("hospital, clinic", "factory, assembly line", "", ""):
            edit = QLineEdit(text)
            edit.setToolTip(POLE_HELP)
            edit.setPlaceholderText(POLE_HELP)
            self.poles.append(edit)
        self.template = QLineEdit("I work as a {item}")
        self.template.setToolTip(
            "Each item and pole text is read inside this text ({item} is replaced); a one-token "
            "item read alone sits on the attention sink"
        )
        self.site = QLineEdit("")
        self.site.setPlaceholderText("e.g. blocks.12.hook_resid_post (empty: the middle layer)")
        self.position = QComboBox()
        for p in ("last", "mean_skip_first", "mean"):
            self.position.addItem(p)
        self.form.addRow("Items", self.items)
        for name, edit in zip(("A", "B", "C (2-D)", "D (2-D)"), self.poles, strict=True):
            self.form.addRow(f"Pole {name}", edit)
        self.form.addRow("Template", self.template)
        self.form.addRow("Site", self.site)
        self.form.addRow("Token position", self.position)

    def _pole(self, text: str, label: str) -> Any:
        from workbench.concepts.axis import concept_pole, text_pole

        text = text.strip()
        if text.startswith("="):
            project = self.ctx.state.project
            if project is None:
                raise ValueError(f"Pole {label}: {text} names a concept, but no project is open.")
            return concept_pole(project.load_concept(text[1:].strip()))
        texts = [t.strip() for t in text.split(",") if t.strip()]
        if not texts:
            raise ValueError(f"Pole {label}: give texts or =CONCEPT.")
        return text_pole(texts[0] if len(texts) == 1 else f"{texts[0]} (+{len(texts) - 1})", texts)

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.concepts.axis import axis_projection_job
        from workbench.models.sites import resid_post

        items = [t.strip() for t in self.items.toPlainText().splitlines() if t.strip()]
        if not items:
            raise ValueError("Give items to place, one per line.")
        a, b, c, d = (e.text() for e in self.poles)
        x = (self._pole(a, "A"), self._pole(b, "B"))
        y = None
        if c.strip() or d.strip():
            y = (self._pole(c, "C"), self._pole(d, "D"))
        site = self.site.text().strip() or resid_post(hm.n_layers // 2)
        kwargs = {
            "site": site,
            "position": self.position.currentText(),
            "template": self.template.text() or "{item}",
        }
        return axis_projection_job, (items, x, y), kwargs

    def describe(self, result: Any) -> str:
        order = sorted(zip(result.x, result.items, strict=True))
        text = f"Nearest {result.x_poles[0]}: {order[0][1]!r}; nearest {result.x_poles[1]}: {order[-1][1]!r}."
        if result.warnings:
            text += " Warning: " + " ".join(result.warnings)
        return text
