"""The selected concept: its recipe, norm per layer and logit-lens tokens."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui import glossary
from ui.context import AppContext
from ui.widgets import hint, tokens_html
from workbench.models.sites import readout_site
from workbench.store.records import ConceptInfo


def layer_of(site: str) -> int | None:
    parts = site.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[0] == "blocks" and parts[1].isdigit() else None


def norm_spec(title: str, infos: list[ConceptInfo]) -> dict:
    """The engine's norm-per-layer line spec of concept infos (one series per concept)."""
    from workbench.figures import norms_per_layer_spec

    return norms_per_layer_spec(title, {i.name: dict(i.norms) for i in infos})


def recipe_text(info: ConceptInfo, concept: Any = None) -> str:
    recipe = dict(getattr(concept, "recipe", {}) or {})
    prompts = recipe.pop("prompts", None)
    lines = [
        f"{info.name}",
        f"model: {info.model}",
        f"method: {info.method}",
        f"sites: {len(info.sites)} ({info.sites[0]} … {info.sites[-1]})"
        if info.sites
        else "sites: none",
        f"created: {info.created}",
    ]
    if isinstance(prompts, (list, tuple)):  # a plain list of prompts (function vectors, CLI)
        lines.append(f"prompts: {len(prompts)}")
    elif prompts:
        n = len(prompts.get("pairs") or prompts.get("items") or prompts.get("texts") or [])
        lines.append(f"prompt set: {prompts.get('name')} ({prompts.get('kind')}, {n} items)")
    rest = {k: v for k, v in recipe.items() if k not in ("sites", "method")}
    if rest:
        lines.append(json.dumps(rest, indent=1, default=str)[:3000])
    return "\n".join(lines)


class ConceptDetailsWidget(QTabWidget):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.setDocumentMode(True)
        self.recipe = QPlainTextEdit()
        self.recipe.setReadOnly(True)
        self.recipe.setPlaceholderText("Select a concept to see how it was made.")
        self.addTab(self.recipe, "Recipe")
        self.norm_stack = QStackedWidget()
        self.norm_stack.addWidget(hint("Select a concept to plot its norm per layer."))
        self.norm_plot: Any = None
        self.addTab(self.norm_stack, "Norms")
        self.setTabToolTip(1, glossary.TERMS["norm"])
        lens = QWidget()
        ll = QVBoxLayout(lens)
        row = QHBoxLayout()
        row.addWidget(QLabel("Site"))
        self.lens_site = QComboBox()
        self.lens_site.currentTextChanged.connect(lambda *_: self.update_lens())
        row.addWidget(self.lens_site, 1)
        ll.addLayout(row)
        self.lens_text = QLabel("Select a concept and load its model to read its top tokens.")
        self.lens_text.setWordWrap(True)
        self.lens_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.lens_text.setToolTip(glossary.TERMS["logit_lens"])
        ll.addWidget(self.lens_text, 1)
        self.addTab(lens, "Logit lens")
        self.setTabToolTip(2, glossary.TERMS["logit_lens"])
        self._concept: Any = None
        ctx.state.events.selected_concepts.connect(self._on_selected_concepts_changed)
        ctx.state.events.concepts.connect(
            lambda *_: self._on_selected_concepts_changed(ctx.state.selected_concepts)
        )
        ctx.state.events.models.connect(lambda *_: self.update_lens())

    def _ensure_plot(self) -> Any:
        if self.norm_plot is None:
            from ui.plots import LinePlotWidget

            self.norm_plot = LinePlotWidget()
            self.norm_stack.addWidget(self.norm_plot)
        self.norm_stack.setCurrentWidget(self.norm_plot)
        return self.norm_plot

    def _on_selected_concepts_changed(self, names: tuple) -> None:
        infos = [i for i in (self.ctx.state.concept_info(n) for n in names) if i]
        if not infos:
            self._concept = None
            self.recipe.setPlainText("")
            self.norm_stack.setCurrentIndex(0)
            self.lens_site.clear()
            return
        try:
            self._concept = self.ctx.concepts.get(infos[0].name)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "loading the concept")
            return
        self.recipe.setPlainText(recipe_text(infos[0], self._concept))
        title = "Norm per layer" if len(infos) == 1 else "Norm per layer (selected)"
        self._ensure_plot().set_spec(norm_spec(title, infos))
        self.lens_site.blockSignals(True)
        self.lens_site.clear()
        self.lens_site.addItems(self._concept.sites)
        mid = readout_site(self._concept.sites) if self._concept.sites else ""
        self.lens_site.setCurrentText(mid)
        self.lens_site.blockSignals(False)
        self.update_lens()

    def update_lens(self) -> None:
        c = self._concept
        if c is None:
            return
        m = self.ctx.model_for(c)
        site = self.lens_site.currentText()
        if m is None:
            self.lens_text.setText(f"Load {c.model.name} to read this concept's top tokens.")
            return
        if not site:
            return
        from ui.model_jobs import logit_lens_job

        self.lens_text.setText("Reading tokens…")
        self.ctx.executor.submit(
            "lens", logit_lens_job, m.hm, c, site, label="Logit lens", on_result=self._show_lens
        )

    def _show_lens(self, r: dict) -> None:
        top, bottom = tokens_html(r["top"]), tokens_html(r["bottom"])
        self.lens_text.setText(f"<b>Promotes</b><br>{top}<br><br><b>Suppresses</b><br>{bottom}")

    def refresh_theme(self) -> None:
        if self.norm_plot is not None:
            self.norm_plot.refresh_theme()
