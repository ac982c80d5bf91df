"""Widgets of the Diffusion panel: a scaled image view and the list of concept terms."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.panels.diffusion.jobs import TermRow, format_terms
from ui.widgets import CoefficientWidget, title


def pil_to_qimage(image: Any) -> QImage:
    """A PIL image -> a QImage that owns its pixels."""
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    q = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return q.copy()


class ImageLabel(QLabel):
    """A pixmap scaled to fit, aspect kept. Small images (per-step x0 previews at latent size)
    are scaled without smoothing so that their pixels show honestly."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._smooth = True
        self.setObjectName("imageView")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setWordWrap(True)
        self.setText(placeholder)
        self.setStyleSheet("#imageView { border: 1px solid palette(mid); border-radius: 4px; }")

    def set_image(self, image: Any, smooth: bool = True) -> None:
        self._pixmap = QPixmap.fromImage(pil_to_qimage(image))
        self._smooth = smooth
        self._rescale()

    def clear_image(self, text: str = "") -> None:
        self._pixmap = None
        self.clear()
        self.setText(text)

    def has_image(self) -> bool:
        return self._pixmap is not None

    def image_size(self) -> QSize:
        return self._pixmap.size() if self._pixmap is not None else QSize()

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        mode = (
            Qt.TransformationMode.SmoothTransformation
            if self._smooth
            else Qt.TransformationMode.FastTransformation
        )
        size = self.contentsRect().size()
        self.setPixmap(
            self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode)
            if size.width() > 4 and size.height() > 4
            else self._pixmap
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()


class ImageColumn(QWidget):
    """A titled image with a caption underneath (what made it)."""

    def __init__(self, name: str, tip: str, placeholder: str):
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = title(name)
        head.setToolTip(tip)
        lay.addWidget(head)
        self.view = ImageLabel(placeholder)
        self.view.setToolTip(tip)
        lay.addWidget(self.view, 1)
        self.caption = QLabel("")
        self.caption.setObjectName("hint")
        self.caption.setWordWrap(True)
        # long captions must not make one column wider than the other
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.caption.setMinimumHeight(3 * self.caption.fontMetrics().lineSpacing())
        self.caption.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.caption)


# --------------------------------------------------------------------------- terms
class TermRowWidget(QWidget):
    """A concept (or a raw prompt) and its signed coefficient."""

    changed = Signal()
    remove_requested = Signal(object)

    def __init__(self, concepts: list[tuple[str, str]], text: str = "", coefficient: float = 1.0):
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.item = QComboBox()
        self.item.setEditable(True)
        self.item.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.item.setMinimumContentsLength(12)
        self.item.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        line = self.item.lineEdit()
        assert line is not None  # an editable combo has one
        line.setPlaceholderText("concept or prompt")
        self.item.setToolTip(
            "A diffusion concept from the library (its prompt embedding), or any text: a prompt "
            "that is encoded on the fly."
        )
        self.coef = CoefficientWidget(coefficient, limit=3.0)
        self.coef.setToolTip(
            "Weight of this term in the sum; negative subtracts it (at the noise level: pushes "
            "the image away from it)."
        )
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this term")
        self.remove.setAutoRaise(True)
        lay.addWidget(self.item, 3)
        lay.addWidget(self.coef, 4)
        lay.addWidget(self.remove)
        self.set_concepts(concepts)
        self.item.setCurrentText(text)
        self.item.currentTextChanged.connect(lambda *_: self.changed.emit())
        self.coef.valueChanged.connect(lambda *_: self.changed.emit())
        self.remove.clicked.connect(lambda: self.remove_requested.emit(self))

    def set_concepts(self, concepts: list[tuple[str, str]]) -> None:
        keep = self.item.currentText()
        self.item.blockSignals(True)
        self.item.clear()
        for i, (name, tip) in enumerate(concepts):
            self.item.addItem(name)
            self.item.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.item.setCurrentText(keep)
        self.item.blockSignals(False)

    def text(self) -> str:
        return self.item.currentText().strip()

    def is_concept(self) -> bool:
        return (
            self.item.findText(
                self.text(), Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchCaseSensitive
            )
            >= 0
        )


class TermListWidget(QWidget):
    """Terms added to the prompt: rows of concept-or-prompt × coefficient, and the same as an
    editable expression (``0.6*winter - 0.4*summer``)."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._concepts: list[tuple[str, str]] = []
        self.rows: list[TermRowWidget] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.rows_layout = QVBoxLayout()
        self.rows_layout.setSpacing(2)
        lay.addLayout(self.rows_layout)
        bar = QHBoxLayout()
        self.add_button = QToolButton()
        self.add_button.setText("+ Add term")
        self.add_button.setToolTip("Add a concept or a prompt with a coefficient")
        self.add_button.clicked.connect(lambda: self.add_row())
        bar.addWidget(self.add_button)
        self.expression = QLineEdit()
        self.expression.setPlaceholderText('e.g. 0.6*winter - 0.4*"hot summer"')
        self.expression.setToolTip(
            "The terms as an expression, added to the prompt. Edit it and press Enter: library "
            'concepts by name, other names or "quoted text" are prompts encoded on the fly.'
        )
        self.expression.editingFinished.connect(self._from_expression)
        bar.addWidget(self.expression, 1)
        lay.addLayout(bar)
        self.error: str = ""

    def set_concepts(self, concepts: list[tuple[str, str]]) -> None:
        """``[(name, tooltip)]`` of the library's diffusion concepts."""
        self._concepts = list(concepts)
        for r in self.rows:
            r.set_concepts(self._concepts)

    def add_row(self, text: str = "", coefficient: float = 1.0) -> TermRowWidget:
        row = TermRowWidget(self._concepts, text, coefficient)
        row.changed.connect(self._on_row_changed)
        row.remove_requested.connect(self.remove_row)
        self.rows.append(row)
        self.rows_layout.addWidget(row)
        self._on_row_changed()
        return row

    def remove_row(self, row: TermRowWidget) -> None:
        if row in self.rows:
            self.rows.remove(row)
            row.setParent(None)
            row.deleteLater()
            self._on_row_changed()

    def clear(self) -> None:
        for r in list(self.rows):
            self.rows.remove(r)
            r.setParent(None)
            r.deleteLater()
        self._on_row_changed()  # the expression and the state follow

    def set_terms(self, terms: list[tuple[float, str]]) -> None:
        self.clear()
        for w, name in terms:
            self.add_row(name, w)
        self._on_row_changed()

    def terms(self) -> list[TermRow]:
        return [TermRow(r.text(), r.coef.value(), r.is_concept()) for r in self.rows if r.text()]

    def labels(self) -> list[str]:
        return [r.text() or "(empty)" for r in self.rows]

    def _on_row_changed(self) -> None:
        text = format_terms([(t.coefficient, t.text) for t in self.terms()])
        if not self.expression.hasFocus():
            self.expression.setText(text)
        self.changed.emit()

    def _from_expression(self) -> None:
        from ui.panels.diffusion.jobs import parse_terms
        from workbench.concepts.algebra import ExpressionError

        current = format_terms([(t.coefficient, t.text) for t in self.terms()])
        if self.expression.text().strip() == current:
            return
        try:
            terms = parse_terms(self.expression.text())
        except ExpressionError as e:  # a typo: say so in place, keep the rows
            self.error = str(e)
            self.expression.setToolTip(f"Not applied: {e}")
            self.expression.setStyleSheet("QLineEdit { border: 1px solid #d9534f; }")
            self.changed.emit()
            return
        self.error = ""
        self.expression.setStyleSheet("")
        self.expression.setToolTip("The terms as an expression, added to the prompt.")
        self.set_terms(terms)
