"""The canvas's term cards and the drop zone that holds them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui import glossary
from ui.canvas_model import GROUPS, CanvasModel, CanvasTerm
from ui.docks.library_dock import MIME
from ui.widgets import CoefficientWidget


class TermCardWidget(QFrame):
    """One term: concept, signed coefficient (slider + spin box), group, normalise, project out."""

    def __init__(self, model: CanvasModel, index: int, term: CanvasTerm):
        super().__init__()
        self.setObjectName("termCard")
        self.model, self.index = model, index
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 6, 8, 6)
        outer.setSpacing(2)
        lay = QHBoxLayout()
        self.name = QLabel(f"<b>{term.concept}</b>")
        self.name.setMinimumWidth(120)
        self.name.setToolTip(term.concept)
        lay.addWidget(self.name)
        self.coef = CoefficientWidget(term.coefficient)
        self.coef.valueChanged.connect(lambda v: model.update(self.index, coefficient=v))
        self.coef.setEnabled(not term.project_out)
        lay.addWidget(self.coef, 1)
        rm = self.remove_button = QToolButton()
        rm.setText("✕")
        rm.setToolTip("Remove this term")
        rm.clicked.connect(lambda: model.remove(self.index))
        lay.addWidget(rm)
        outer.addLayout(lay)
        opts = QHBoxLayout()
        opts.addSpacing(4)
        opts.addWidget(QLabel("group"))
        self.group = QComboBox()
        self.group.addItems([g or "—" for g in GROUPS])
        self.group.setCurrentIndex(GROUPS.index(term.group) if term.group in GROUPS else 0)
        self.group.setToolTip(glossary.TERMS["group"])
        self.group.currentIndexChanged.connect(lambda i: model.update(self.index, group=GROUPS[i]))
        opts.addWidget(self.group)
        self.normalize = QCheckBox("normalise")
        self.normalize.setChecked(term.normalize)
        self.normalize.setToolTip(glossary.TERMS["normalize"])
        self.normalize.toggled.connect(lambda on: model.update(self.index, normalize=on))
        opts.addWidget(self.normalize)
        self.project_out = QCheckBox("project out")
        self.project_out.setChecked(term.project_out)
        self.project_out.setToolTip(glossary.TERMS["project_out"])
        self.project_out.toggled.connect(lambda on: model.update(self.index, project_out=on))
        opts.addWidget(self.project_out)
        opts.addStretch(1)
        outer.addLayout(opts)

    def show_term(self, term: CanvasTerm) -> None:
        """Make every control show ``term`` (after undo, redo, reopen or a programmatic
        change), without the controls writing back into the model."""
        widgets = (self.coef, self.group, self.normalize, self.project_out)
        for w in widgets:
            w.blockSignals(True)
        try:
            if self.coef.value() != term.coefficient:
                self.coef.setValue(term.coefficient)
            self.group.setCurrentIndex(GROUPS.index(term.group) if term.group in GROUPS else 0)
            self.normalize.setChecked(term.normalize)
            self.project_out.setChecked(term.project_out)
            self.coef.setEnabled(not term.project_out)
        finally:
            for w in widgets:
                w.blockSignals(False)


class TermListWidget(QScrollArea):
    """Holds the cards; accepts concepts dragged from the library."""

    concepts_dropped = Signal(list)

    def __init__(self, model: CanvasModel, empty: QWidget):
        super().__init__()
        self.model = model
        self.setWidgetResizable(True)
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.inner = QWidget()
        self.inner.setObjectName("dropZone")
        self.box = QVBoxLayout(self.inner)
        self.box.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.empty = empty
        self.box.addWidget(empty)
        self.cards: list[TermCardWidget] = []
        self.drop_hint = QLabel("Drop more concepts here · double-click in the library also adds")
        self.drop_hint.setObjectName("hint")
        self.drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.box.addWidget(self.drop_hint)
        self.setWidget(self.inner)
        model.changed.connect(self.sync)
        self.sync()

    def sync(self) -> None:
        """Rebuild cards when terms are added/removed; otherwise keep the widgets (and focus)."""
        terms = self.model.terms
        same = len(terms) == len(self.cards) and all(
            c.name.toolTip() == t.concept for c, t in zip(self.cards, terms, strict=True)
        )
        if same:  # the same terms: every control shows the model's values
            for c, t in zip(self.cards, terms, strict=True):
                c.show_term(t)
            return
        for c in self.cards:
            self.box.removeWidget(c)
            c.deleteLater()
        self.cards = []
        for i, t in enumerate(terms):
            card = TermCardWidget(self.model, i, t)
            self.box.insertWidget(self.box.count() - 1, card)
            self.cards.append(card)
        self.empty.setVisible(not terms)
        self.drop_hint.setVisible(bool(terms))

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if e.mimeData().hasFormat(MIME):
            e.acceptProposedAction()

    def dragMoveEvent(self, e: Any) -> None:
        if e.mimeData().hasFormat(MIME):
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:
        names = bytes(e.mimeData().data(MIME).data()).decode().split("\n")
        self.concepts_dropped.emit([n for n in names if n])
        e.acceptProposedAction()
