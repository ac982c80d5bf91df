"""Small shared widgets: section titles, hints, an empty-state card, a coefficient editor, a
vertical-only scroll area."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)


def tokens_html(items: Any) -> str:
    """Logit-lens tokens ``[(token, value), ...]`` as HTML: each in <code>, escaped, with a
    visible mark for spaces (they start most tokens)."""
    return "  ".join(f"<code>{_token(t)}</code>" for t, _ in items)


def _token(t: str) -> str:
    return (
        repr(t)[1:-1]
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace(" ", "␣")
    )


def show_progress(bar: QProgressBar, p: Any, text: str | None = None) -> None:
    """Show a job's :class:`~workbench.jobs.Progress` on ``bar``: busy while the total is
    unknown, else the share done; ``text`` (the job's message by default) as the bar's text,
    with ``%`` kept literal (Qt reads ``%p`` and kin in a format)."""
    if p.fraction is None:
        bar.setRange(0, 0)
    else:
        bar.setRange(0, 1000)
        bar.setValue(int(p.fraction * 1000))
    text = p.message if text is None else text
    if text:
        bar.setFormat(text.replace("%", "%%"))


def end_progress(bar: QProgressBar, status: QLabel) -> None:
    """A job is over: the bar full when ``status`` says "Done…", empty otherwise, and a status
    still ending in "…" (the job's own message, never replaced by a result) says "Cancelled."."""
    bar.setRange(0, 1)
    bar.setValue(1 if status.text().startswith("Done") else 0)
    bar.setFormat("%p%")
    if status.text().endswith("…"):
        status.setText("Cancelled.")


def title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label


def hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def primary(text: str, tooltip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setObjectName("primary")
    b.setToolTip(tooltip)
    return b


def run_stop_row(
    text: str, tooltip: str, on_run: Any, on_stop: Any
) -> tuple[QHBoxLayout, QPushButton, QPushButton]:
    """A primary run button and a Stop button (disabled until a job runs), side by side."""
    run = primary(text, tooltip)
    run.clicked.connect(lambda: on_run())
    stop = QPushButton("Stop")
    stop.setEnabled(False)
    stop.clicked.connect(lambda: on_stop())
    row = QHBoxLayout()
    row.addWidget(run)
    row.addWidget(stop)
    return row, run, stop


class EmptyStateWidget(QFrame):
    """What to do first, with buttons for it."""

    def __init__(
        self,
        heading: str,
        steps: list[str],
        actions: Sequence[tuple[str, object]] = (),
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setObjectName("dropZone")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(32, 28, 32, 28)
        lay.addStretch(1)
        h = QLabel(heading)
        h.setObjectName("emptyTitle")
        h.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(h)
        body = QLabel("<br>".join(f"<b>{i}.</b> {s}" for i, s in enumerate(steps, 1)))
        body.setObjectName("emptyText")
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addSpacing(8)
        lay.addWidget(body)
        row = QHBoxLayout()
        row.addStretch(1)
        self.buttons: list[QPushButton] = []
        for text, slot in actions:
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
            self.buttons.append(b)
        row.addStretch(1)
        lay.addSpacing(10)
        lay.addLayout(row)
        lay.addStretch(2)


MAX_COEFFICIENT = 1e9  # a spin box needs a range; this one does not clamp in practice


class CoefficientWidget(QWidget):
    """A signed coefficient: a slider for feel and a spin box for exact values (linked)."""

    valueChanged = Signal(float)
    STEPS = 100  # slider ticks per unit

    def __init__(self, value: float = 1.0, limit: float = 10.0, parent: QWidget | None = None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(int(-limit * self.STEPS), int(limit * self.STEPS))
        self.spin = QDoubleSpinBox()
        # Any finite value (the slider covers ±limit; the spin box goes beyond it).
        self.spin.setRange(-MAX_COEFFICIENT, MAX_COEFFICIENT)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.1)
        self.spin.setKeyboardTracking(False)
        self.spin.setFixedWidth(96)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.setToolTip(
            "Coefficient: how much of this term goes into the sum; negative subtracts it."
        )
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)
        self.setValue(value)

    def value(self) -> float:
        return float(self.spin.value())

    def setValue(self, v: float) -> None:
        self.spin.setValue(v)
        self._sync_slider(self.spin.value())  # also when the spin box already held ``v``

    def blockSignals(self, block: bool) -> bool:
        # The inner spin box must stay quiet too, or a programmatic value would be emitted.
        self.spin.blockSignals(block)
        return super().blockSignals(block)

    def _sync_slider(self, v: float) -> None:
        self.slider.blockSignals(True)
        lo, hi = self.slider.minimum(), self.slider.maximum()
        self.slider.setValue(min(hi, max(lo, int(round(v * self.STEPS)))))
        self.slider.blockSignals(False)

    def _from_slider(self, ticks: int) -> None:
        v = ticks / self.STEPS
        if abs(v - self.spin.value()) > 0.5 / self.STEPS:
            self.spin.setValue(v)

    def _from_spin(self, v: float) -> None:
        self._sync_slider(v)
        self.valueChanged.emit(float(v))


class VerticalScrollArea(QScrollArea):
    """Scrolls ``widget`` up and down only: the area is as wide as the widget needs (so nothing
    hides behind a horizontal scroll bar) but may be shorter than it, so a dock in it does not
    hold the window taller than a small screen."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(widget)
        widget.setAutoFillBackground(False)  # the viewport paints the same background

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        inner = self.widget()
        if inner is None:
            return hint
        width = inner.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width()
        return QSize(max(hint.width(), width + 2 * self.frameWidth()), hint.height())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the widget's minimum width may have changed
        return super().eventFilter(obj, event)
