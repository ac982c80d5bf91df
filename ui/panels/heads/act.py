"""Head interventions on the selected heads: ablate or scale them while generating (baseline vs
intervened, streamed), add an offset at their outputs, scale their attention to the first token
(ZeroTuning). The computations are the engine's (``workbench.heads.head_interventions``); this
widget builds their specs and shows their results. Function vectors have a tab of their own
(:mod:`ui.panels.heads.function_vector`)."""

from __future__ import annotations

import functools
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
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
            on_result=functools.partial(self._on_result, prov=prov),
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
