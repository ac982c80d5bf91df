"""The Training page (Analyses tab): LoFiT head offsets or a steering vector trained with a loss,
on a demonstration set, with a live loss curve, held-out metrics against the baselines, and the
result saved as a concept (with its run and loss curve) in the open project.

The engine does the work (:func:`workbench.training.train_head_offsets_job`,
:func:`workbench.training.train_steering_vector_job`); this page reads the settings, starts the
job through the executor (cancellable), draws each step's loss and shows the result.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.widgets import end_progress, show_progress

MODES = {
    "offsets": "Head offsets (LoFiT)",
    "vector": "Trained steering vector",
}
METRIC_ROWS = {
    "zero_shot": "zero-shot",
    "few_shot": "few-shot prompting",
    "function_vector": "function vector (same heads)",
    "head_offsets": "head offsets",
    "unsteered": "unsteered",
    "trained_vector": "trained vector",
}


class TrainingPage(QWidget):
    """Settings, run/cancel, a live loss curve and the held-out metrics table."""

    title = "Training"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.result: Any = None
        self.losses: list[float] = []
        self.run_id: int | None = None
        self.concept_name: str | None = None
        self.mode = QComboBox()
        for key, label in MODES.items():
            self.mode.addItem(label, key)
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.task = QComboBox()
        self.task.setToolTip("A demonstrations set: its pairs are split into training and held-out")
        for name in _demonstration_sets():
            self.task.addItem(name)
        self.heads = QLineEdit()
        self.heads.setPlaceholderText("e.g. L9H3,L12H4 (empty: choose the top k)")
        self.k = QSpinBox()
        self.k.setRange(1, 512)
        self.k.setValue(8)
        self.select = QComboBox()
        self.select.addItems(["gradient", "attribution"])
        self.select.setToolTip(
            "gradient: the training loss's gradient at each head's offset; attribution: "
            "attribution patching on few-shot prompts (the function vectors' indirect effect)"
        )
        self.layer = QSpinBox()
        self.layer.setRange(0, 999)
        self.layer.setValue(10)
        self.kl_weight = QDoubleSpinBox()
        self.kl_weight.setRange(0.0, 100.0)
        self.kl_weight.setValue(1.0)
        self.kl_weight.setToolTip("Weight of KL(unsteered ‖ steered) on neutral prompts")
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setValue(40)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(4)
        self.lr.setRange(0.0001, 10.0)
        self.lr.setSingleStep(0.005)
        self.lr.setValue(0.01)
        self.batch = QSpinBox()
        self.batch.setRange(1, 1024)
        self.batch.setValue(8)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        form = QFormLayout()
        form.addRow("Train", self.mode)
        form.addRow("Demonstrations", self.task)
        form.addRow("Heads", self.heads)
        form.addRow("Top k heads by", self._row(self.k, self.select))
        form.addRow("Layer (resid_post)", self.layer)
        form.addRow("KL weight", self.kl_weight)
        form.addRow("Steps · learning rate", self._row(self.steps, self.lr))
        form.addRow("Batch · seed", self._row(self.batch, self.seed))
        self.form = form
        self.run_button = QPushButton("Train")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        from ui.plots import LinePlotWidget

        self.curve = LinePlotWidget()
        self.curve.setMinimumHeight(200)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["accuracy", "log-prob"])
        self.table.setToolTip(
            "On the held-out pairs: the share whose top next token is the answer's first token, "
            "and that token's mean log-probability"
        )
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setFixedHeight(160)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.table)  # the result first, then how the loss went
        lay.addWidget(self.curve, 1)
        self._on_mode()

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        for x in widgets:
            h.addWidget(x)
        return w

    def _on_mode(self, *_: Any) -> None:
        offsets = self.mode.currentData() == "offsets"
        mine: list[QWidget] = [self.heads, self.k, self.select]
        theirs: list[QWidget] = [self.layer, self.kl_weight]
        for w in mine:
            w.setEnabled(offsets)
        for w in theirs:
            w.setEnabled(not offsets)
        # the rates that worked on the embedded model (README): offsets 0.01, a vector 0.05
        self.lr.setValue(0.01 if offsets else 0.05)

    # ------------------------------------------------------------------ running
    @property
    def channel(self) -> str:
        return "analysis.TrainingPage"

    def job(self, hm: Any) -> tuple[Any, tuple, dict]:
        """The engine job and its arguments, from the settings (a bad input raises, with a
        message saying what to change)."""
        from workbench.training import (
            TrainingSpec,
            task_from,
            train_head_offsets_job,
            train_steering_vector_job,
        )

        spec = TrainingSpec(
            self.steps.value(), self.lr.value(), self.batch.value(), self.seed.value()
        )
        spec.check()
        task = task_from(self.task.currentText())
        if self.mode.currentData() == "offsets":
            heads = None
            if self.heads.text().strip():
                from workbench.heads import parse_heads

                try:
                    heads = parse_heads(self.heads.text())
                except ValueError as e:
                    raise ValueError(f"Heads: {e}") from None
            kw = {"heads": heads, "k": self.k.value(), "select": self.select.currentText(),
                  "spec": spec}  # fmt: skip
            return train_head_offsets_job, (task,), kw
        if not 0 <= self.layer.value() < hm.n_layers:
            raise ValueError(
                f"Layer {self.layer.value()}: the model has layers 0-{hm.n_layers - 1}."
            )
        kw = {"layer": self.layer.value(), "kl_weight": self.kl_weight.value(), "spec": spec}
        return train_steering_vector_job, (task,), kw

    def start(self) -> int | None:
        m = self.ctx.state.model()
        try:
            if m is None:
                raise RuntimeError("No model is loaded. Load one in the Models dock (Ctrl+L).")
            fn, args, kwargs = self.job(m.hm)
        except Exception as e:  # noqa: BLE001 - any bad input becomes a message, never a traceback
            self.ctx.errors.handle(e, "starting the training")
            return None
        self.losses = []
        self.result = None
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status.setText("Training…")
        self._draw()
        return int(
            self.ctx.executor.submit(
                self.channel,
                fn,
                m.hm,
                *args,
                label="Training",
                on_progress=self._on_progress,
                on_result=lambda r, name=m.name: self._on_result(r, name),
                on_done=self._on_done,
                **kwargs,
            )
        )

    def cancel(self) -> None:
        self.ctx.executor.cancel(self.channel)

    def _on_progress(self, p: Any) -> None:
        show_progress(self.progress, p)
        payload = p.payload if isinstance(p.payload, dict) else {}
        if payload.get("loss") is not None and payload.get("step"):
            self.losses.append(float(payload["loss"]))
            self._draw()

    def _draw(self) -> None:
        self.curve.set_spec(
            {
                "kind": "line",
                "title": "Training loss",
                "xlabel": "step",
                "ylabel": "loss",
                "x": list(range(1, len(self.losses) + 1)),
                "series": {"loss": list(self.losses)},
            }
        )

    def _on_result(self, result: Any, model_name: str) -> None:
        self.result = result
        self.losses = list(result.curve.losses)
        self._draw()
        rows = list(result.metrics.items())
        self.table.setRowCount(len(rows))
        self.table.setVerticalHeaderLabels([METRIC_ROWS.get(k, k) for k, _ in rows])
        for i, (_, m) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(f"{m['accuracy']:.3f}"))
            self.table.setItem(i, 1, QTableWidgetItem(f"{m['target_logprob']:.2f}"))
        saved = ""
        self.run_id = self.concept_name = None
        p = self.ctx.state.project
        if p is not None:
            from ui.commands import add_concept

            concept = add_concept(self.ctx, result.concept)
            self.concept_name = concept.name
            d = result.to_dict()
            d["concept"] = concept.name
            kind = "head_offsets" if self.mode.currentData() == "offsets" else "trained_vector"

            def save() -> int:
                return int(
                    p.add_run(
                        kind,
                        f"{concept.name} · {model_name}",
                        d.get("settings", {}),
                        d,
                        result.curve.run_tensors(),
                    )  # fmt: skip
                )

            self.run_id = self.ctx.project.write("saving the training run", save)
            saved = f" Saved as concept {concept.name!r}" + (
                f" and run #{self.run_id}." if self.run_id is not None else "."
            )
        first, last = result.curve.losses[0], result.curve.losses[-1]
        self.status.setText(f"Done. Loss {first:.3f} → {last:.3f}.{saved}")

    def _on_done(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        end_progress(self.progress, self.status)


def _demonstration_sets() -> list[str]:
    from workbench.concepts.prompt_sets import builtin_sets

    names = [n for n, ps in builtin_sets().items() if ps.kind == "demonstrations"]
    return sorted(names, key=lambda n: (n != "antonyms", n))
