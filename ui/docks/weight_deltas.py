"""Load option: weight deltas added to the model in memory as it loads (θ + c·Δ), each with a
coefficient and, optionally, only its attention or MLP tensors. The Models dock passes
:meth:`WeightDeltasWidget.deltas` to ``load_language_model_job(..., deltas=...)``; the loaded
model's source and ``info["deltas"]`` record them."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

KINDS = {"all tensors": (), "attention only": ("attention",), "MLP only": ("mlp",)}


class _DeltaRow(QWidget):
    def __init__(self, path: str, on_remove: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.path = path
        name = path.rstrip("/").rsplit("/", 1)[-1]
        self.label = QLabel(name)
        self.label.setToolTip(path)
        self.coefficient = QDoubleSpinBox()
        self.coefficient.setRange(-100.0, 100.0)
        self.coefficient.setDecimals(2)
        self.coefficient.setSingleStep(0.25)
        self.coefficient.setValue(1.0)
        self.coefficient.setToolTip("c in θ + c·Δ (negative: subtract the task)")
        self.kinds = QComboBox()
        self.kinds.addItems(list(KINDS))
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip("Do not add this delta")
        remove.clicked.connect(lambda: on_remove(self))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.coefficient)
        lay.addWidget(self.kinds)
        lay.addWidget(remove)

    def spec(self) -> tuple[str, float, dict[str, Any]]:
        return (self.path, self.coefficient.value(), {"kinds": KINDS[self.kinds.currentText()]})


class WeightDeltasWidget(QWidget):
    """A list of delta files, each with a coefficient and a tensor kind, and "Add delta…"."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[_DeltaRow] = []
        self._box = QVBoxLayout()
        self._box.setContentsMargins(0, 0, 0, 0)
        add = QPushButton("Add delta…")
        add.setToolTip(
            "A .safetensors file written by `workbench weights diff` (θ_A − θ_B); added to the "
            "next model loaded, times its coefficient"
        )
        add.clicked.connect(self.add_dialog)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self._box)
        lay.addWidget(add)

    def add_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a weight delta", "", "Weight delta (*.safetensors)"
        )
        if path:
            self.add(path)

    def add(self, path: str, coefficient: float = 1.0, kinds: str = "all tensors") -> _DeltaRow:
        row = _DeltaRow(path, self.remove)
        row.coefficient.setValue(coefficient)
        row.kinds.setCurrentText(kinds)
        self.rows.append(row)
        self._box.addWidget(row)
        return row

    def remove(self, row: _DeltaRow) -> None:
        self.rows.remove(row)
        row.setParent(None)
        row.deleteLater()

    def deltas(self) -> list[tuple[str, float, dict[str, Any]]]:
        """``[(file, c, {"kinds": ...})]`` for ``load_language_model_job(deltas=...)``."""
        return [r.spec() for r in self.rows]
