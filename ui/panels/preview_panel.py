"""Preview: a prompt, a vector, a site and a coefficient; baseline and steered continuations
side by side, streamed token by token; every generation goes into the project."""

from __future__ import annotations

import functools
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ui import glossary
from ui.context import AppContext
from ui.docks.generations_dock import record_text_generation, stream_into
from ui.errors import first_line
from ui.panels.sampling import SamplingWidget
from ui.panels.scale_warning import ScaleWarningLabel
from ui.widgets import CoefficientWidget, hint, run_stop_row, title

CANVAS = "⟨canvas result⟩"


def provenance(
    model: Any,
    concept: Any,
    sites: list[str],
    coefficient: float,
    settings: Any,
    extra: dict | None = None,
) -> dict:
    """What it takes to make a generation again (the engine's record, for a loaded model)."""
    from workbench.concepts.provenance import text_generation_provenance

    return text_generation_provenance(model.ref, concept, sites, coefficient, settings, extra)


class PreviewPanel(QWidget):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.last: Any = None  # last Comparison
        self.last_generation_id: int | None = None
        self._rid: int | None = None
        lay = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(title("Prompt"))
        self.prompt = QPlainTextEdit("I think that this movie was")
        self.prompt.setMaximumHeight(90)
        ll.addWidget(self.prompt)
        box = QGroupBox("Steering")
        form = QFormLayout(box)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Which loaded model generates")
        self.vector = QComboBox()
        self.vector.setToolTip("A library concept, or the vector canvas's current result")
        self.vector.currentTextChanged.connect(self._on_vector)
        self.use_selected_button = QPushButton("Use selected")
        self.use_selected_button.setToolTip(
            "Steer with the concept selected in the library (the form changes only when you "
            "ask it to)"
        )
        self.use_selected_button.clicked.connect(self.use_selected)
        vector_row = QHBoxLayout()
        vector_row.setContentsMargins(0, 0, 0, 0)
        vector_row.addWidget(self.vector, 1)
        vector_row.addWidget(self.use_selected_button)
        self.site = QComboBox()
        self.site.setToolTip("Where the vector is added. " + glossary.SITES["resid_post"])
        self.coef = CoefficientWidget(4.0, limit=20.0)
        self.coef.setToolTip(glossary.TERMS["coefficient"])
        form.addRow("Model", self.model_combo)
        form.addRow("Vector", vector_row)
        form.addRow("Site", self.site)
        form.addRow("Coefficient", self.coef)
        from ui.panels.weighting import TokenWeightingWidget

        self.weighting = TokenWeightingWidget()  # per-token weights (issue 13 item 6)
        form.addRow("Token weights", self.weighting)
        # |coefficient|·‖v‖ against the stream's norm; under the box, not in the form: a
        # wrapped label in a form row got one line's height and was cut
        self.scale_warning = ScaleWarningLabel()
        self._residual: dict[tuple[str, str], float] = {}  # (model key, site) -> typical norm
        self._measuring: tuple[str, str] | None = None  # the (model key, site) being measured
        ll.addWidget(box)
        ll.addWidget(self.scale_warning)
        sbox = QGroupBox("Sampling")
        sl = QVBoxLayout(sbox)
        self.sampling = SamplingWidget(32)
        sl.addWidget(self.sampling)
        ll.addWidget(sbox)
        row, self.generate_button, self.stop_button = run_stop_row(
            "Generate",
            "Baseline and steered continuations from the same seed (Ctrl+Enter)",
            self.generate,
            lambda: ctx.executor.cancel("preview"),
        )
        ll.addLayout(row)
        self.status = hint("Load a model and pick a concept, then Generate.")
        ll.addWidget(self.status)
        ll.addStretch(1)
        split.addWidget(left)
        right = QWidget()
        rl = QHBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.baseline = self._text_column(rl, "Baseline", "baselineText", "The model as it is.")
        self.steered = self._text_column(
            rl, "Steered", "steeredText", "With coefficient × vector added at the site."
        )
        split.addWidget(right)
        split.setSizes([340, 760])
        lay.addWidget(split)
        ctx.state.events.concepts.connect(self._refill_vectors)
        # The form follows the library's selection only through "Use selected".
        ctx.state.events.selected_concepts.connect(self._on_selection)
        ctx.state.canvas.use_in_preview.connect(self.use_canvas)
        ctx.state.canvas.changed.connect(self._on_canvas_changed)
        ctx.state.events.models.connect(self._refill_models)
        ctx.state.events.active_model.connect(self._refill_models)
        self._refill_vectors()
        self._refill_models()
        self._bind_form()
        self._on_selection()

    def _bind_form(self) -> None:
        """Every control of the form is a view of one field of :class:`PreviewForm`."""
        from ui.binding import bind_combo_data, bind_combo_text, bind_plain_text
        from ui.panels.forms import PreviewForm

        self.form = f = PreviewForm(
            prompt=self.prompt.toPlainText(),
            model_key=self.model_combo.currentData(),
            vector=self.vector.currentText(),
            site=self.site.currentText(),
            coefficient=self.coef.value(),
        )
        bind_plain_text(self.prompt, f, "prompt")
        bind_combo_data(self.model_combo, f, "model_key")
        bind_combo_text(self.vector, f, "vector")
        bind_combo_text(self.site, f, "site")
        self.coef.valueChanged.connect(lambda v: setattr(f, "coefficient", float(v)))
        f.events.coefficient.connect(
            lambda v: self.coef.setValue(v) if self.coef.value() != v else None
        )
        for name in ("model_key", "vector", "site", "coefficient"):
            getattr(f.events, name).connect(lambda *_: self.check_scale())
        self.ctx.state.canvas.changed.connect(self.check_scale)
        self.check_scale()

    # -------------------------------------------------------------- scale
    def _vector_norm(self, name: str, site: str, m: Any) -> float | None:
        """‖v‖ at ``site`` of the chosen vector in ``m``'s space (the library's stored norm, or
        the canvas result's), or None when it cannot steer ``m``."""
        if name == CANVAS:
            try:
                c = self.concept()
            except Exception:  # noqa: BLE001 - the canvas shows why it cannot combine
                return None
            if c is None or site not in c.vectors or not m.ref.same_space(c.model):
                return None
            return float(c.vectors[site].float().norm())
        info = self.ctx.state.concept_info(name)
        if info is None or site not in info.norms or not m.ref.same_space(info.model_ref):
            return None
        return float(info.norms[site])

    def check_scale(self) -> None:
        """Warn when |coefficient| × ‖v‖ is large next to the residual stream's norm at the
        site (the engine's numbers; the stream's norm is measured once per model and site)."""
        from workbench.concepts.steering_scale import SteeringScale, residual_norms_job

        f = self.form
        m = self.ctx.state.model(f.model_key) if f.model_key else None
        norm = self._vector_norm(f.vector, f.site, m) if m is not None and f.site else None
        if m is None or norm is None:
            self.scale_warning.show_scale(None)
            return
        key = (m.key, f.site)
        if key not in self._residual:
            self.scale_warning.show_scale(None)
            if key == self._measuring:  # asked already (a slider tick): no second job
                return

            def got(norms: dict[str, float], key: tuple[str, str] = key) -> None:
                if key[1] in norms:
                    self._residual[key] = norms[key[1]]
                    self.check_scale()

            def done(key: tuple[str, str] = key) -> None:
                if self._measuring == key:
                    self._measuring = None

            self._measuring = key
            self.ctx.executor.submit(
                "preview_scale",
                residual_norms_job,
                m.hm,
                [f.site],
                label="Residual norm",
                on_result=got,
                on_error=lambda e: self.ctx.errors.handle(e, "measuring the residual norm"),
                on_done=done,
            )
            return
        self.scale_warning.show_scale(
            SteeringScale(f.site, float(f.coefficient), norm, self._residual[key])
        )

    def _text_column(self, parent: QHBoxLayout, name: str, obj: str, tip: str) -> QPlainTextEdit:
        col = QVBoxLayout()
        label = title(name)
        label.setToolTip(tip)
        col.addWidget(label)
        edit = QPlainTextEdit()
        edit.setObjectName(obj)
        edit.setReadOnly(True)
        edit.setPlaceholderText(tip)
        col.addWidget(edit, 1)
        parent.addLayout(col, 1)
        return edit

    # ------------------------------------------------------------ choices
    def _refill_models(self, *_: Any) -> None:
        keep = self.model_combo.currentData()
        self.model_combo.clear()
        for m in self.ctx.state.models:
            self.model_combo.addItem(m.name, m.key)
        i = self.model_combo.findData(keep if keep else self.ctx.state.active_model)
        j = self.model_combo.findData(self.ctx.state.active_model)
        self.model_combo.setCurrentIndex(i if i >= 0 and keep else max(j, 0))

    def _refill_vectors(self, *_: Any) -> None:
        keep = self.vector.currentText()
        self.vector.blockSignals(True)
        self.vector.clear()
        self.vector.addItems(self.ctx.state.concept_names())
        self.vector.addItem(CANVAS)
        self.vector.blockSignals(False)
        if keep and self.vector.findText(keep) >= 0:
            self.vector.setCurrentText(keep)
        self._on_vector(self.vector.currentText())

    def _on_selection(self, names: tuple = ()) -> None:
        names = names or self.ctx.state.selected_concepts
        usable = bool(names) and self.vector.findText(names[0]) >= 0
        self.use_selected_button.setEnabled(usable)

    def use_selected(self) -> None:
        """Take the library's selected concept into the form (the user asked for it)."""
        names = self.ctx.state.selected_concepts
        if names and self.vector.findText(names[0]) >= 0:
            self.form.vector = names[0]

    def _on_canvas_changed(self) -> None:
        if self.vector.currentText() == CANVAS:
            self._on_vector(CANVAS)

    def use_canvas(self) -> None:
        self.form.vector = CANVAS

    def _on_vector(self, name: str) -> None:
        sites = []
        if name == CANVAS:
            names = self.ctx.state.canvas.concept_names()
            info = self.ctx.state.concept_info(names[0]) if names else None
            sites = list(info.sites) if info else []
        else:
            info = self.ctx.state.concept_info(name)
            sites = list(info.sites) if info else []
        keep = self.site.currentText()
        self.site.clear()
        self.site.addItems(sites)
        if keep in sites:
            self.site.setCurrentText(keep)
        elif sites:
            self.site.setCurrentIndex(len(sites) * 2 // 3 if len(sites) > 2 else len(sites) - 1)

    def concept(self) -> Any:
        name = self.vector.currentText()
        if name == CANVAS:
            return self.ctx.state.canvas.to_concept(self.ctx.concepts.get)
        return self.ctx.concepts.get(name) if name else None

    # ----------------------------------------------------------- generate
    def generate(self) -> int | None:
        from workbench.models.generation import steered_generate_job
        from workbench.models.interventions import AddVector

        key = self.model_combo.currentData()
        m = self.ctx.state.model(key)
        prompt = self.prompt.toPlainText()
        try:
            if m is None:
                raise RuntimeError("No model is loaded. Load one in the Models dock (Ctrl+L).")
            if not prompt.strip():
                raise ValueError("The prompt is empty: type a prompt to continue.")
            concept = self.concept()
            if concept is None:
                raise RuntimeError(
                    "Choose a concept to steer with (extract one in the library first)."
                )
            if not m.ref.same_space(concept.model):
                width = int(next(iter(concept.vectors.values())).shape[-1])
                if width != m.ref.d_model:
                    raise ValueError(
                        f"{concept.name!r} has width {width}, but {m.name} has d_model "
                        f"{m.ref.d_model}: it cannot steer this model. Choose another concept, "
                        "or load a model of that width."
                    )
                raise ValueError(
                    f"{concept.name!r} belongs to {concept.model.name}; choose that model or another concept."
                )
            site = self.site.currentText()
            if not site:
                raise ValueError(
                    f"Choose a site to add {concept.name!r} at (the Site box is empty: pick a "
                    "concept with vectors at this model's layers)."
                )
            vec = concept.vector(site)
            weights = self.weighting.token_weights(vec)
        except Exception as e:  # noqa: BLE001 - shown in the status line and by the error handler
            self.status.setText(f"Not started: {first_line(e)}")
            self.ctx.errors.handle(e, "generating")
            return None
        settings = self.sampling.settings()
        coef = self.coef.value()
        ivs = [AddVector(site, vector=vec, coefficient=coef, token_weights=weights)]
        self.baseline.setPlainText(prompt)
        self.steered.setPlainText(prompt)
        for edit in (self.baseline, self.steered):
            edit.moveCursor(QTextCursor.MoveOperation.End)
        self.generate_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText(f"Generating with {concept.name} × {coef:g} at {site}…")
        prov = provenance(m, concept, [site], coef, settings)
        self._rid = self.ctx.executor.submit(
            "preview",
            steered_generate_job,
            m.hm,
            prompt,
            ivs,
            settings,
            label="Generating",
            on_progress=self._on_progress,
            on_result=functools.partial(self._on_result, prov=prov),
            on_error=self._on_error,
            on_done=self._on_done,
        )
        return self._rid

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText(f"Failed: {first_line(exc)}")
        self.ctx.errors.handle(exc, "generating")

    def _on_progress(self, p: Any) -> None:
        if p.payload:
            stream_into((self.baseline, self.steered), p.payload)

    def _on_result(self, comparison: Any, prov: dict) -> None:
        self.last = comparison
        self.baseline.setPlainText(comparison.prompt + comparison.baseline)
        self.steered.setPlainText(comparison.prompt + comparison.steered)
        self.last_generation_id = record_text_generation(self.ctx, comparison, prov)
        self.status.setText("Done. Saved to the project's generations.")

    def _on_done(self) -> None:
        self.generate_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if self.status.text().endswith("…"):
            self.status.setText("Stopped.")
