"""Head interventions on the selected heads: ablate or scale them while generating (baseline vs
intervened, streamed), add an offset at their outputs, scale their attention to the first token
(ZeroTuning), or build a function vector from their mean outputs, which becomes a concept in the
library. The computations are the engine's (``workbench.heads.head_interventions`` and
``function_vector_concept_job``); this widget builds their specs and shows their results."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.docks.generations_dock import record_text_generation, stream_into
from ui.panels.heads.jobs import HeadsState
from ui.widgets import hint, run_stop_row, title
from workbench.heads.actions import ACTIONS, intervention_label

# The actions' names, titles and labels are spelled once, in the engine (torch-free).
act_label = intervention_label


class HeadActionsWidget(QGroupBox):
    def __init__(self, ctx: AppContext, state: HeadsState):
        super().__init__("Act on selected heads")
        self.ctx, self.state = ctx, state
        self.last: Any = None  # last Comparison
        self.last_fv: Any = None  # last FunctionVectorResult
        lay = QVBoxLayout(self)
        self.heads_label = hint("No heads selected: click cells of the map or use Top-k.")
        lay.addWidget(self.heads_label)
        form = QFormLayout()
        self.action = QComboBox()
        for i, (key, (text, tip)) in enumerate(ACTIONS.items()):
            self.action.addItem(text, key)
            self.action.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.action.currentIndexChanged.connect(self._on_action)
        self.value = QDoubleSpinBox()
        self.value.setRange(-1000.0, 1000.0)
        self.value.setDecimals(2)
        self.value.setSingleStep(0.25)
        self.prompt = QLineEdit("The capital of France is")
        self.prompt.setToolTip("The prompt to continue, with and without the action")
        self.tokens = QSpinBox()
        self.tokens.setRange(1, 512)
        self.tokens.setValue(24)
        self.tokens.setToolTip("New tokens (greedy, same seed for both columns)")
        form.addRow("Action", self.action)
        form.addRow("Value", self.value)
        form.addRow("Prompt", self.prompt)
        form.addRow("New tokens", self.tokens)
        lay.addLayout(form)
        row, self.generate_button, self.stop_button = run_stop_row(
            "Generate",
            "Baseline and acted-on continuations of the prompt, side by side",
            self.generate,
            lambda: ctx.executor.cancel("heads-act"),
        )
        lay.addLayout(row)
        texts = QGridLayout()
        self.baseline = self._text("The model as it is")
        self.acted = self._text("With the action on the selected heads")
        for col, (name, edit) in enumerate((("Baseline", self.baseline), ("Acted", self.acted))):
            label = title(name)
            label.setToolTip(edit.toolTip())
            texts.addWidget(label, 0, col)
            texts.addWidget(edit, 1, col)
        lay.addLayout(texts, 1)
        lay.addWidget(self._fv_box())
        self.status = hint("")
        lay.addWidget(self.status)
        state.events.selected.connect(self._on_selected)
        self._on_action()

    def _text(self, placeholder: str) -> QPlainTextEdit:
        e = QPlainTextEdit()
        e.setReadOnly(True)
        e.setPlaceholderText(placeholder)
        e.setToolTip(placeholder)
        e.setMinimumHeight(70)
        return e

    def _fv_box(self) -> QWidget:
        box = QGroupBox("Function vector")
        box.setToolTip(
            "Todd et al. 2024: the sum of the selected heads' mean outputs (through W_O) at the "
            "last token of in-context prompts; added at a layer's residual stream it makes the "
            "model do the task zero-shot."
        )
        form = QFormLayout(box)
        self.fv_demos = QComboBox()
        self.fv_demos.setToolTip("Demonstrations (input → output pairs) from the Prompts dock")
        self.fv_shots = QSpinBox()
        self.fv_shots.setRange(1, 32)
        self.fv_shots.setValue(5)
        self.fv_prompts = QSpinBox()
        self.fv_prompts.setRange(1, 512)
        self.fv_prompts.setValue(24)  # workbench.heads.function_vector.FV_PROMPTS, as the CLI
        self.fv_layer = QSpinBox()
        self.fv_layer.setToolTip(
            "Add it at blocks.{layer}.hook_resid_post (Todd et al.: ~n_layers/3)"
        )
        self.fv_name = QLineEdit()
        self.fv_name.setPlaceholderText("fv:<task>")
        self.fv_measure = QCheckBox("measure held-out zero-shot accuracy")
        self.fv_measure.setToolTip(
            "30% of the set's pairs are held out (seeded): the vector is built from the others "
            "and its accuracy measured on these"
        )
        self.fv_measure.setChecked(True)
        self.fv_button = QPushButton("Build function vector → library")
        self.fv_button.clicked.connect(lambda: self.build_function_vector())
        self.fv_shots.setToolTip(
            "Demonstrations in each in-context prompt, written 'Q: input / A: output' as the "
            "command line does"
        )
        self.fv_prompts.setToolTip("In-context prompts whose head outputs are averaged")
        form.addRow("Demos", self.fv_demos)
        form.addRow("Shots", self.fv_shots)
        form.addRow("Prompts", self.fv_prompts)
        form.addRow("Layer", self.fv_layer)
        form.addRow("Name", self.fv_name)
        form.addRow("", self.fv_measure)
        form.addRow(self.fv_button)
        self.ctx.state.events.prompt_sets.connect(self._refill_demos)
        self.ctx.state.events.active_model.connect(self._on_model)
        self._refill_demos()
        self._on_model()
        return box

    # ------------------------------------------------------------ choices
    def _refill_demos(self, *_: Any) -> None:
        keep = self.fv_demos.currentData() or "antonyms"
        self.fv_demos.clear()
        for p in self.ctx.state.prompt_sets:
            if p["kind"] == "demonstrations":
                self.fv_demos.addItem(p["name"], p["name"])
        self.fv_demos.setCurrentIndex(max(self.fv_demos.findData(keep), 0))

    def _on_model(self, *_: Any) -> None:
        m = self.ctx.state.model()
        if m is not None:
            n = m.hm.n_layers
            self.fv_layer.setRange(0, n - 1)
            self.fv_layer.setValue(n // 3)

    def _on_action(self, *_: Any) -> None:
        a = self.action.currentData()
        self.action.setToolTip(ACTIONS[a][1])
        self.value.setEnabled(a not in ("ablate_zero", "ablate_mean"))
        if a == "zero_tuning":
            self.value.setValue(2.0)
            self.value.setToolTip("Factor on the attention to the first token (1 changes nothing)")
        elif a == "scale":
            self.value.setValue(0.5)
            self.value.setToolTip("Factor on the heads' outputs z (1 changes nothing, 0 ablates)")
        elif a.startswith("offset"):
            self.value.setValue(4.0)
            self.value.setToolTip("Coefficient: length of the offset added to each head's z")

    def _on_selected(self, heads: tuple) -> None:
        if not heads:
            self.heads_label.setText("No heads selected: click cells of the map or use Top-k.")
        else:
            names = ", ".join(f"L{L}H{h}" for L, h in heads[:12])
            more = f" … (+{len(heads) - 12})" if len(heads) > 12 else ""
            self.heads_label.setText(f"{len(heads)} selected: {names}{more}")

    def _heads(self, what: str) -> tuple[Any, list]:
        m = self.ctx.state.model()
        if m is None:
            raise RuntimeError("No model is loaded. Load one in the Models dock (Ctrl+L).")
        heads = list(self.state.selected)
        if not heads:
            raise ValueError(f"Select heads first to {what}: click cells of the map, or use Top-k.")
        bad = [(L, h) for L, h in heads if m.hm.n_layers <= L or h >= m.hm.n_heads]
        if bad:
            raise ValueError(f"Heads {bad} are not in {m.name}; run a score with this model first.")
        return m, heads

    # ----------------------------------------------------------- generate
    def generate(self) -> int | None:
        from workbench.heads.head_interventions import (
            HeadInterventionSpec,
            head_intervention_generate_job,
            head_intervention_provenance,
        )
        from workbench.models.generation import SamplingSettings

        prompt = self.prompt.text()
        try:
            m, heads = self._heads("act on them")
            if not prompt.strip():
                raise ValueError("The prompt is empty: type a prompt to continue.")
            action = self.action.currentData()
            spec = HeadInterventionSpec(action, tuple(heads), self.value.value(), seed=0)
            spec.check(m.hm)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "acting on heads")
            return None
        settings = SamplingSettings(max_new_tokens=self.tokens.value())
        for edit in (self.baseline, self.acted):
            edit.setPlainText(prompt)
        self.generate_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText(f"Generating with {ACTIONS[action][0].lower()} on {len(heads)} heads…")
        scores = self.state.scores
        prov = head_intervention_provenance(
            m.ref,
            spec,
            settings,
            head_scores_run=self.state.run_id,
            head_scores_kind=None if scores is None else scores.kind,
        )
        return self.ctx.executor.submit(
            "heads-act",
            head_intervention_generate_job,
            m.hm,
            prompt,
            spec,
            settings,
            label="Generating (heads)",
            on_progress=self._on_progress,
            on_result=lambda c, prov=prov: self._on_result(c, prov),
            on_done=self._on_done,
        )

    def _on_progress(self, p: Any) -> None:
        if isinstance(p.payload, (list, tuple)) and len(p.payload) == 2:
            stream_into((self.baseline, self.acted), p.payload)

    def _on_result(self, c: Any, prov: dict) -> None:
        self.last = c
        self.baseline.setPlainText(c.prompt + c.baseline)
        self.acted.setPlainText(c.prompt + c.steered)
        record_text_generation(self.ctx, c, prov)
        self.status.setText("Done. Saved to the project's generations.")

    def _on_done(self) -> None:
        self.generate_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if self.status.text().endswith("…"):
            self.status.setText("Stopped.")

    # ---------------------------------------------------- function vector
    def build_function_vector(self) -> int | None:
        from workbench.heads import ICLTask, function_vector_concept_job
        from workbench.heads.function_vector import FV_SEPARATOR, FV_TEMPLATE

        try:
            m, heads = self._heads("build a function vector")
            name = self.fv_demos.currentData()
            p = self.ctx.state.prompt_set(name) if name else None
            if p is None:
                raise ValueError(
                    "Pick a demonstration set (antonyms, country → capital…); add one in the "
                    "Prompts dock."
                )
            if len(p["set"]) < self.fv_shots.value() + 1:
                raise ValueError(
                    f"{name!r} has {len(p['set'])} pairs; {self.fv_shots.value()} shots need "
                    f"{self.fv_shots.value() + 1}. Use fewer shots."
                )
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "building a function vector")
            return None
        self.fv_button.setEnabled(False)
        self.status.setText(f"Building a function vector of {name} from {len(heads)} heads…")
        return self.ctx.executor.submit(
            "heads-fv",
            function_vector_concept_job,
            m.hm,
            heads,
            ICLTask.from_prompt_set(p["set"], FV_TEMPLATE, FV_SEPARATOR),  # as the CLI does
            self.fv_prompts.value(),
            self.fv_shots.value(),
            self.fv_layer.value(),
            self.fv_name.text().strip(),
            1.0,
            self.fv_measure.isChecked(),
            label="Function vector",
            on_result=self._on_fv,
            on_done=lambda: self.fv_button.setEnabled(True),
        )

    def _on_fv(self, r: Any) -> None:
        self.last_fv = r
        from ui.commands import add_concept

        name = add_concept(self.ctx, r.concept).name
        acc = r.accuracy
        msg = f"Added {name!r} to the library (blocks.{r.layer}.hook_resid_post)."
        if acc:
            msg += (
                f" Held-out zero-shot accuracy ({r.held_out} words it was not built from): "
                f"{acc['zero_shot']:.0%} → {acc['with_fv']:.0%} with it."
            )
        self.status.setText(msg)
