"""The Diffusion panel's sweep tab: a term's coefficient over a range (columns) and an optional
second axis (rows: another coefficient, steps or guidance), rendered as a labelled grid."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.panels.diffusion.widgets import ImageLabel
from ui.panels.sweep_panel import parse_numbers
from ui.widgets import hint, primary

AXES = {
    "coefficient": "Coefficient of",
    "steps": "Steps",
    "guidance": "Guidance (CFG scale)",
    "neuron_scale": "Concept-neuron scale",
}
DEFAULT_VALUES = {
    "coefficient": "-1, -0.5, 0, 0.5, 1",
    "steps": "10, 20, 30",
    "guidance": "3, 5, 7.5",
    "neuron_scale": "0, 0.5, 1, 2",
}
VALUES_TIP = "Values: a list (-1, 0, 1) or a range from..to:step (-1..1:0.5)."


class _AxisRow:
    """Kind, term and values of one axis, laid out on a grid row."""

    def __init__(self, grid: QGridLayout, row: int, name: str, optional: bool):
        self.kind = QComboBox()
        self.kind.setMinimumContentsLength(10)
        self.kind.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        if optional:
            self.kind.addItem("— none —", None)
        for k, label in AXES.items():
            self.kind.addItem(label, k)
        self.kind.setToolTip(
            "What changes along this axis; every cell uses the same seed, so the grid shows "
            "the effect of the swept value alone."
        )
        self.term = QComboBox()
        self.term.setMinimumContentsLength(8)
        self.term.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.term.setToolTip(
            "Which term's coefficient is swept (the prompt is term 0, weight 1 by default)"
        )
        self.values = QLineEdit()
        self.values.setMinimumWidth(60)
        self.values.setToolTip(VALUES_TIP)
        grid.addWidget(QLabel(name), row, 0)
        grid.addWidget(self.kind, row, 1)
        grid.addWidget(self.term, row, 2)
        grid.addWidget(self.values, row, 3)
        self.kind.currentIndexChanged.connect(self._on_kind)
        self._last_kind: str | None = None
        self._on_kind()

    def kind_key(self) -> str | None:
        return self.kind.currentData()

    def _on_kind(self, *_: Any) -> None:
        k = self.kind_key()
        self.term.setEnabled(k == "coefficient")
        self.values.setEnabled(k is not None)
        if k is not None and k != self._last_kind:
            self.values.setText(DEFAULT_VALUES[k])
        self._last_kind = k

    def set_terms(self, labels: list[str], default: int) -> None:
        keep = self.term.currentIndex()
        self.term.clear()
        self.term.addItems(labels)
        index = keep if 0 <= keep < len(labels) and keep != 0 else default
        self.term.setCurrentIndex(min(index, len(labels) - 1))

    def axis(self) -> Any:
        from workbench.diffusion.sweep import SweepAxis

        k = self.kind_key()
        if k is None:
            return None
        values = parse_numbers(self.values.text(), integer=k == "steps")
        if not values:
            raise ValueError(f"Give at least one {AXES[k].lower()} value. {VALUES_TIP}")
        if k == "steps" and min(values) < 1:
            raise ValueError("Steps must be 1 or more.")
        return SweepAxis(k, tuple(values), term=max(0, self.term.currentIndex()))


class DiffusionSweepWidget(QWidget):
    """Settings, Run/Stop, progress and the labelled grid. The panel runs the job."""

    run_requested = Signal()
    stop_requested = Signal()
    export_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        grid = QGridLayout()
        grid.setColumnStretch(3, 1)
        self.columns = _AxisRow(grid, 0, "Columns", optional=False)
        self.rows = _AxisRow(grid, 1, "Rows", optional=True)
        lay.addLayout(grid)
        row = QHBoxLayout()
        self.run_button = primary(
            "Run sweep",
            "Render every cell from the same seed; cells that can share a pipeline "
            "call are batched",
        )
        self.run_button.clicked.connect(self.run_requested.emit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop after the current denoising step")
        self.stop_button.clicked.connect(self.stop_requested.emit)
        self.export_button = QPushButton("Export grid…")
        self.export_button.setToolTip(
            "The labelled grid as a PNG; its text chunks carry the sweep's provenance"
        )
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_requested.emit)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v / %m steps")
        self.progress.setValue(0)
        row.addWidget(self.run_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.export_button)
        lay.addLayout(row)
        self.status = hint(
            "The sweep uses the prompt, terms, level and sampling settings on the left."
        )
        lay.addWidget(self.status)
        self.grid_view = ImageLabel("The labelled grid appears here.")
        lay.addWidget(self.grid_view, 1)

    def set_terms(self, labels: list[str]) -> None:
        """``labels[0]`` is the prompt, the others the edit terms in order."""
        default = 1 if len(labels) > 1 else 0
        self.columns.set_terms(labels, default)
        self.rows.set_terms(labels, min(2, len(labels) - 1) if len(labels) > 2 else default)

    def axes(self) -> tuple[Any, Any]:
        x, y = self.columns.axis(), self.rows.axis()
        if x is None:
            raise ValueError("Choose what changes along the columns.")
        return x, y

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def show_previews(self, previews: dict[int, Any], shape: tuple[int, int]) -> None:
        """The cells' x0 previews so far, in grid order (grey where a cell has not started)."""
        from PIL import Image

        from workbench.diffusion.grid import labelled_grid

        size = next(iter(previews.values())).size
        n_rows, n_cols = shape
        blank = Image.new("RGB", size, (128, 128, 128))
        cells = [
            [previews.get(r * n_cols + c, blank) for c in range(n_cols)] for r in range(n_rows)
        ]
        self.grid_view.set_image(labelled_grid(cells), smooth=False)
