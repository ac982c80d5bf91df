"""The Task vectors page (Analyses tab): Δ = θ_A − θ_B between two checkpoints, θ_base + c·Δ
written to disk, and a coefficient sweep of a delta on the loaded model (held-out accuracy and
answer log-prob on a demonstration set), stored as runs in the open project.

The engine does the work (:func:`workbench.weights.diff_job`, :func:`workbench.weights.apply_job`,
:func:`workbench.weights.evaluate.coefficient_sweep_job`); a model loaded with deltas is the
Models dock's Load options → Weight deltas.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.file_dialogs import open_path, save_path, start_folder
from ui.widgets import end_progress, show_progress

KINDS = {"all tensors": (), "attention only": ("attention",), "MLP only": ("mlp",)}


def _path_row(edit: QLineEdit, pick: Any) -> QWidget:
    w = QWidget()
    h = QHBoxLayout(w)
    h.setContentsMargins(0, 0, 0, 0)
    h.addWidget(edit, 1)
    b = QPushButton("…")
    b.setFixedWidth(28)
    b.clicked.connect(pick)
    h.addWidget(b)
    return w


class TaskVectorPage(QWidget):
    """Diff, apply and sweep weight deltas."""

    title = "Task vectors"

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.last: Any = None
        self.run_id: int | None = None
        # -- diff
        self.a, self.b, self.delta_out = QLineEdit(), QLineEdit(), QLineEdit()
        self.a.setPlaceholderText("checkpoint A: a model folder, .safetensors or .gguf")
        self.b.setPlaceholderText("checkpoint B of the same architecture ('embedded': the default)")
        self.delta_out.setPlaceholderText("delta.safetensors to write")
        self.diff_button = QPushButton("Diff: Δ = A − B")
        self.diff_button.clicked.connect(self.start_diff)
        diff_box = QGroupBox("Make a delta")
        f = QFormLayout(diff_box)
        f.addRow("A", _path_row(self.a, lambda: self._pick_folder(self.a)))
        f.addRow("B", _path_row(self.b, lambda: self._pick_folder(self.b)))
        f.addRow("Write", _path_row(self.delta_out, lambda: self._pick_save(self.delta_out)))
        f.addRow(self.diff_button)
        # -- apply
        self.base, self.delta, self.merged_out = QLineEdit(), QLineEdit(), QLineEdit()
        self.base.setPlaceholderText("base checkpoint")
        self.delta.setPlaceholderText("a delta written by Diff or `workbench weights diff`")
        self.merged_out.setPlaceholderText("folder (or .safetensors for a one-file base)")
        self.coefficient = QDoubleSpinBox()
        self.coefficient.setRange(-100.0, 100.0)
        self.coefficient.setSingleStep(0.25)
        self.coefficient.setValue(1.0)
        self.kinds = QComboBox()
        self.kinds.addItems(list(KINDS))
        self.apply_button = QPushButton("Write θ_base + c·Δ")
        self.apply_button.clicked.connect(self.start_apply)
        apply_box = QGroupBox("Apply a delta, or sweep its coefficient on the loaded model")
        g = QFormLayout(apply_box)
        g.addRow("Delta", _path_row(self.delta, lambda: self._pick_open(self.delta)))
        g.addRow("Coefficient · tensors", self._row(self.coefficient, self.kinds))
        g.addRow("Base", _path_row(self.base, lambda: self._pick_folder(self.base)))
        g.addRow("Write", _path_row(self.merged_out, lambda: self._pick_folder(self.merged_out)))
        g.addRow(self.apply_button)
        # -- sweep
        self.coefficients = QLineEdit("-1 -0.5 0 0.5 1 1.5")
        self.task = QComboBox()
        from ui.panels.training.training_page import _demonstration_sets

        self.task.addItems(_demonstration_sets())
        self.sweep_button = QPushButton("Sweep on the loaded model")
        self.sweep_button.clicked.connect(self.start_sweep)
        g.addRow("Coefficients", self.coefficients)
        g.addRow("Demonstrations", self.task)
        g.addRow(self.sweep_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.ctx.executor.cancel(self.channel))
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(
            ["held-out acc.", "held-out logp", "train acc.", "train logp"]
        )
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay = QVBoxLayout(self)
        lay.addWidget(diff_box)
        lay.addWidget(apply_box)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        lay.addWidget(self.status)
        lay.addWidget(self.table, 1)

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        for x in widgets:
            h.addWidget(x)
        return w

    # the dialogs start where file dialogs do (ui.file_dialogs), not in the working directory
    def _pick_folder(self, edit: QLineEdit) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a model folder", start_folder())
        if path:
            edit.setText(path)

    def _pick_open(self, edit: QLineEdit) -> None:
        path, _ = open_path(self, "Choose a delta", "Delta (*.safetensors)")
        if path:
            edit.setText(path)

    def _pick_save(self, edit: QLineEdit) -> None:
        path, _ = save_path(self, "Write the delta", "delta.safetensors", "Delta (*.safetensors)")
        if path:
            edit.setText(path)

    # ------------------------------------------------------------------ running
    @property
    def channel(self) -> str:
        return "analysis.TaskVectorPage"

    def _filter(self) -> Any:
        from workbench.weights import TensorFilter

        return TensorFilter(kinds=KINDS[self.kinds.currentText()])

    def _need(self, **fields: QLineEdit) -> list[str]:
        empty = [k for k, e in fields.items() if not e.text().strip()]
        if empty:
            raise ValueError(f"Fill in {', '.join(empty)} first.")
        return [e.text().strip() for e in fields.values()]

    def start_diff(self) -> int | None:
        from workbench.weights import diff_job

        try:
            a, b, out = self._need(A=self.a, B=self.b, Write=self.delta_out)
        except ValueError as e:
            self.ctx.errors.handle(e, "making a delta")
            return None
        return self._submit("Diff", diff_job, (a, b, out), {}, "weights_diff", {"a": a, "b": b})

    def start_apply(self) -> int | None:
        from workbench.weights import apply_job

        try:
            base, delta, out = self._need(Base=self.base, Delta=self.delta, Write=self.merged_out)
        except ValueError as e:
            self.ctx.errors.handle(e, "applying a delta")
            return None
        kw = {"coefficient": self.coefficient.value(), "tensor_filter": self._filter()}
        settings = {"base": base, "delta": delta, "coefficient": kw["coefficient"],
                    "filter": kw["tensor_filter"].to_dict()}  # fmt: skip
        return self._submit("Apply", apply_job, (base, delta, out), kw, "weights_apply", settings)

    def start_sweep(self) -> int | None:
        from workbench.training import task_from
        from workbench.weights.evaluate import coefficient_sweep_job

        m = self.ctx.state.model()
        try:
            if m is None:
                raise RuntimeError("No model is loaded. Load one in the Models dock (Ctrl+L).")
            (delta,) = self._need(Delta=self.delta)
            try:
                cs = [float(x) for x in self.coefficients.text().replace(",", " ").split()]
            except ValueError:
                raise ValueError(
                    f"Coefficients {self.coefficients.text()!r}: write numbers, e.g. -1 0 1."
                ) from None
            task = task_from(self.task.currentText())
        except Exception as e:  # noqa: BLE001 - any bad input becomes a message, never a traceback
            self.ctx.errors.handle(e, "sweeping a delta")
            return None
        kw = {"tensor_filter": self._filter()}
        settings = {"delta": delta, "coefficients": cs, "task": task.name,
                    "filter": kw["tensor_filter"].to_dict(), "model": m.name}  # fmt: skip
        return self._submit(
            "Sweep", coefficient_sweep_job, (m.hm, delta, cs, task), kw, "weights_sweep", settings
        )

    def _submit(self, what: str, fn: Any, args: tuple, kw: dict, kind: str, settings: dict) -> int:
        for b in (self.diff_button, self.apply_button, self.sweep_button):
            b.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status.setText(f"{what}…")
        return int(
            self.ctx.executor.submit(
                self.channel,
                fn,
                *args,
                label=what,
                on_progress=self._on_progress,
                on_result=lambda r: self._on_result(r, what, kind, settings),
                on_done=self._on_done,
                **kw,
            )
        )

    def _on_progress(self, p: Any) -> None:
        show_progress(self.progress, p, (p.message or "")[:80])

    def _on_result(self, result: Any, what: str, kind: str, settings: dict) -> None:
        self.last = result
        d = result.to_dict()
        if kind == "weights_sweep":
            cs = result.coefficients
            h, t = result.metrics["held_out"], result.metrics["train"]
            self.table.setRowCount(len(cs))
            self.table.setVerticalHeaderLabels([f"c = {c:g}" for c in cs])
            for i in range(len(cs)):
                vals = (h["accuracy"][i], h["target_logprob"][i], t["accuracy"][i],
                        t["target_logprob"][i])  # fmt: skip
                for j, v in enumerate(vals):
                    self.table.setItem(i, j, QTableWidgetItem(f"{v:.3f}"))
            line = f"Swept {result.delta['path']} on {result.task}."
        elif kind == "weights_diff":
            line = (
                f"Wrote {d['path']}: {d['n_tensors']} tensors, {d['bytes_written'] / 2**20:.1f} MB."
            )
            self.delta.setText(d["path"])
        else:
            line = f"Wrote {d['path']}: {d['n_changed']} tensors changed, {d['n_unchanged']} as they were."
        self.run_id = None
        p = self.ctx.state.project
        if p is not None:
            name = f"{what} · {settings.get('delta') or settings.get('a', '')}"
            self.run_id = self.ctx.project.write(
                f"saving the {what.lower()}", lambda: int(p.add_run(kind, name, settings, d))
            )
            if self.run_id is not None:
                line += f" Saved as run #{self.run_id}."
        self.status.setText(f"Done. {line}")

    def _on_done(self) -> None:
        for b in (self.diff_button, self.apply_button, self.sweep_button):
            b.setEnabled(True)
        self.cancel_button.setEnabled(False)
        end_progress(self.progress, self.status)
