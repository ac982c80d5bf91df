"""Subspace patching with the interpretability-illusion control: the patch along a direction,
its row-space part and its nullspace part, beside the clean, corrupted and full-patch
baselines (``workbench.analysis.subspace.subspace_patching_job``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox, QWidget

from ui.panels.analysis._page import AnalysisPage
from ui.widgets import hint

PAIR = "Prompt pair A − B (below)"


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
        self.concept = QComboBox()  # v: a concept of the project, or a prompt pair
        self.concept.setToolTip(
            "The direction v: a concept's vector at the block output of the chosen layer, or "
            "the activation difference of prompts A and B below"
        )
        self.concept.currentIndexChanged.connect(lambda *_: self._on_concept())
        self.dir_a = QLineEdit("The language of France is")
        self.dir_b = QLineEdit("The language of Italy is")
        for w in (self.dir_a, self.dir_b):
            w.setPlaceholderText("empty: the patched pair's own difference")
        self.concept_note = hint("")
        for combo in (self.site, self.concept):  # long items elide: the page fits 1366×768
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(16)
        self.form.addRow("Clean prompt", self.clean)
        self.form.addRow("Corrupted prompt", self.corrupted)
        self.form.addRow("Target / foil", _pair(self.target, self.foil))
        self.form.addRow("Site", self.site)
        self.form.addRow("Layer", self.layer)
        self.form.addRow("Direction v", self.concept)
        self.form.addRow("", self.concept_note)
        self.form.addRow("Prompt A − prompt B", _pair(self.dir_a, self.dir_b))
        ctx.state.events.concepts.connect(self._refill_concepts)
        self._refill_concepts()

    # ----------------------------------------------------------- concepts
    def _refill_concepts(self, *_: Any) -> None:
        keep = self.concept.currentData()
        self.concept.blockSignals(True)
        self.concept.clear()
        self.concept.addItem(PAIR, "")
        for name in self.ctx.state.concept_names():
            self.concept.addItem(name, name)
        i = self.concept.findData(keep) if keep else 0
        self.concept.setCurrentIndex(max(i, 0))
        self.concept.blockSignals(False)
        self._on_concept()

    def _on_concept(self) -> None:
        """A concept is read in the residual stream: the site follows, the layer goes to one
        where the concept has a vector, and the prompt pair is not used."""
        from ui.docks.concept_details import layer_of

        name = self.concept.currentData()
        for w in (self.dir_a, self.dir_b):
            w.setEnabled(not name)
        if not name:
            self.concept_note.setText("")
            return
        info = self.ctx.state.concept_info(name)
        layers = sorted(
            {L for s in (info.sites if info else ()) if s.endswith("hook_resid_post")
             for L in [layer_of(s)] if L is not None}
        )  # fmt: skip
        self.site.setCurrentIndex(self.site.findData("resid_post"))
        if layers and self.layer.value() not in layers:
            self.layer.setValue(layers[len(layers) // 2])
        self.concept_note.setText(
            f"v = {name!r} at the block output; it has vectors at layer"
            f"{'s' if len(layers) != 1 else ''} {_ranges(layers)}."
            if layers
            else f"{name!r} has no vector at a block output: choose another concept."
        )

    def _direction(self, hm: Any) -> Any:
        """The chosen concept's vector at ``blocks.LAYER.hook_resid_post``, or None (the
        prompt pair), with a clear message for every way it cannot be used."""
        from workbench.models.sites import resid_post

        name = self.concept.currentData()
        if not name:
            return None
        if self.site.currentData() != "resid_post":
            raise ValueError(
                f"{name!r} is a residual-stream vector: choose the site 'Block output', or "
                "'Prompt pair' as the direction for the MLP's hidden activations."
            )
        concept = self.ctx.concepts.get(name)
        if not hm.ref.same_space(concept.model):
            raise ValueError(
                f"{name!r} belongs to {concept.model.name}; load that model, or choose a "
                "concept of the loaded one."
            )
        site = resid_post(self.layer.value())
        if site not in concept.vectors:
            raise ValueError(
                f"{name!r} has no vector at {site}; it has {', '.join(concept.vectors)}. "
                "Choose a layer where it has one."
            )
        return concept.vectors[site]

    def job(self, hm: Any) -> tuple[Callable[..., Any], tuple, dict]:
        from workbench.analysis.subspace import subspace_patching_job

        direction = self._direction(hm)
        a, b = self.dir_a.text(), self.dir_b.text()
        if direction is None and bool(a.strip()) != bool(b.strip()):
            raise ValueError("Give both direction prompts, or neither.")
        kwargs: dict[str, Any] = {"layer": self.layer.value(), "site": self.site.currentData()}
        if direction is not None:
            kwargs |= {"direction": direction, "direction_name": self.concept.currentData()}
        else:
            kwargs["direction_pair"] = (a, b) if a.strip() else None
        args = (self.clean.text(), self.corrupted.text(), self.target.text(),
                self.foil.text() or None)  # fmt: skip
        return subspace_patching_job, args, kwargs

    def describe(self, result: Any) -> str:
        n = result.normalized()
        parts = ", ".join(f"{k} {v:.0%}" for k, v in n.items() if k != "corrupted")
        text = f"Share of the clean − corrupted gap restored: {parts}."
        return text + (f" {result.note}" if result.note else "")


def _ranges(layers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0–2, 5"``."""
    runs: list[list[int]] = []
    for L in layers:
        if runs and runs[-1][-1] == L - 1:
            runs[-1].append(L)
        else:
            runs.append([L])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _pair(a: QWidget, b: QWidget) -> QWidget:
    from PySide6.QtWidgets import QHBoxLayout

    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(a)
    lay.addWidget(b)
    return w
