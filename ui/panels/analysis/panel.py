"""The Analyses tab: a list of analyses on the left, the chosen page on the right.

Pages come from :func:`ui.panels.analysis.pages` and are built when first shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QStackedWidget, QWidget

from ui.panels.analysis import PageSpec, pages


class AnalysisPanel(QWidget):
    """Central tab holding every registered analysis page."""

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.specs: list[PageSpec] = pages()
        self.pages: dict[str, QWidget] = {}
        self.list = QListWidget()
        self.list.setObjectName("analysis_list")
        self.list.setFixedWidth(150)  # the page scrolls before the list is squeezed
        self.stack = QStackedWidget()
        for spec in self.specs:
            self.list.addItem(spec.title)
        lay = QHBoxLayout(self)
        lay.addWidget(self.list)
        lay.addWidget(self.stack, 1)
        if not self.specs:
            self.stack.addWidget(QLabel("No analysis pages are registered."))
        self.list.currentRowChanged.connect(self._on_row)
        if self.specs:
            self.list.setCurrentRow(0)

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.specs):
            self.show_page(self.specs[row].key)

    def page(self, key: str) -> QWidget:
        """The page ``key``, built on first use."""
        if key not in self.pages:
            spec = next(s for s in self.specs if s.key == key)
            widget = spec.build(self.ctx)
            widget.setObjectName(f"analysis_{key}")
            self.pages[key] = widget
            self.stack.addWidget(widget)
        return self.pages[key]

    def show_page(self, key: str) -> QWidget:
        widget = self.page(key)
        self.stack.setCurrentWidget(widget)
        row = next(i for i, s in enumerate(self.specs) if s.key == key)
        if self.list.currentRow() != row:
            self.list.setCurrentRow(row)
        return widget
