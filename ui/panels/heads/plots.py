"""The Heads panel's plots: a clickable layer × head map and an attention-pattern view with
token labels. Both are pyqtgraph ``ImageItem`` + ``ColorBarItem``; both export publication
figures drawn by the engine (:mod:`workbench.heads.figures`) from the same data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QWidget

from ui import theme
from ui.plots import _PlotBase


def _levels(values: np.ndarray, center: float | None) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if center is not None:
        m = max(abs(lo - center), abs(hi - center)) or 1.0
        lo, hi = center - m, center + m
    return (lo, hi) if hi > lo else (lo, lo + 1e-6)


class _ImagePlot(_PlotBase):
    """An image with a colour bar; cells are addressed as (row, col) under the mouse."""

    cell_clicked = Signal(int, int)
    cell_hovered = Signal(str)
    # "horizontal" puts the colour bar under the plot: a narrow column keeps it whole
    bar_orientation = "vertical"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image = pg.ImageItem()
        self.bar: pg.ColorBarItem | None = None
        self.values = np.zeros((0, 0))
        p = self.plot.getPlotItem()
        p.addItem(self.image)
        p.invertY(True)
        p.setAspectLocked(False)
        p.hideButtons()
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        self.plot.scene().sigMouseMoved.connect(self._on_move)

    def _show(self, values: np.ndarray, cmap_name: str, levels: tuple[float, float]) -> None:
        self.values = values
        cmap = pg.colormap.get(cmap_name, source="matplotlib")
        self.image.setImage(np.nan_to_num(values, nan=levels[0]), levels=levels)
        self.image.setColorMap(cmap)
        if self.bar is None:
            self.bar = pg.ColorBarItem(
                values=levels,
                colorMap=cmap,
                interactive=False,
                width=12,
                orientation=self.bar_orientation,
            )
            self.bar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        else:
            self.bar.setColorMap(cmap)
            self.bar.setLevels(levels)
        rows, cols = values.shape
        self.plot.getPlotItem().setRange(xRange=(0, cols), yRange=(0, rows), padding=0.01)
        self._fit_title()

    def set_title(self, text: str) -> None:
        """The plot's title, elided to the plot's width: a long title must not push the last
        column and the colour bar out of sight (the plot item grows to fit its title)."""
        self._title = text
        self._fit_title()

    def _fit_title(self) -> None:
        text = getattr(self, "_title", "")
        font = self.font()
        font.setPointSizeF(9.0)
        p = self.plot.getPlotItem()
        # the title sits over the image only: the left axis and the colour bar take the rest
        bar = self.bar if self.bar is not None and self.bar_orientation == "vertical" else None
        # (a bar not laid out yet is 0 wide: its minimum is what it will take)
        left = p.getAxis("left")
        beside = max(left.width(), left.minimumWidth())
        beside += max(bar.width(), bar.minimumWidth()) if bar is not None else 0
        width = max(40, int(self.plot.width() - beside - 28))
        shown = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, width)
        p.setTitle(shown, size="9pt")
        # The view sized the plot item before the title was shortened, to at least the long
        # title's width: wider than the view, which cut off the colour bar at 1366×768. Fit
        # the item to the view again now that it may be narrower (what a resize does).
        pg.GraphicsView.setRange(self.plot, self.plot.range, padding=0, disableAutoPixel=False)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_title()

    def cell_at(self, scene_pos: Any) -> tuple[int, int] | None:
        vb = self.plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        pt = vb.mapSceneToView(scene_pos)
        r, c = math.floor(pt.y()), math.floor(pt.x())
        rows, cols = self.values.shape
        return (r, c) if 0 <= r < rows and 0 <= c < cols else None

    def cell_center(self, row: int, col: int) -> Any:
        """Where cell (row, col) is on the widget (for tests and tooltips)."""
        vb = self.plot.getPlotItem().getViewBox()
        scene = vb.mapViewToScene(pg.Point(col + 0.5, row + 0.5))
        return self.plot.mapFromScene(scene)

    def _on_click(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(ev.scenePos())
        if cell is not None:
            self.cell_clicked.emit(*cell)

    def _on_move(self, pos: Any) -> None:
        cell = self.cell_at(pos)
        text = self.describe(*cell) if cell is not None else ""
        self.plot.setToolTip(text)
        self.cell_hovered.emit(text)

    def describe(self, row: int, col: int) -> str:  # pragma: no cover - overridden
        return ""


class HeadMapWidget(_ImagePlot):
    """Layer × head scores. Click a cell to select or deselect the head; selected heads are
    outlined; hovering tells layer, head and score."""

    head_clicked = Signal(int, int)  # layer, head

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # two-tone outline (dark under light) reads on every colour map
        self.outline_under = pg.ScatterPlotItem(pxMode=False, symbol="s", size=0.84, brush=None)
        self.outline = pg.ScatterPlotItem(pxMode=False, symbol="s", size=0.84, brush=None)
        self.focus_mark = pg.ScatterPlotItem(pxMode=False, symbol="o", size=0.3)
        p = self.plot.getPlotItem()
        for item in (self.outline_under, self.outline, self.focus_mark):
            p.addItem(item)
        p.setLabel("bottom", "head")
        p.setLabel("left", "layer")
        self.cell_clicked.connect(self.head_clicked)
        self.setMinimumHeight(260)

    def set_spec(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        values = np.array(
            [[math.nan if v is None else v for v in row] for row in spec["values"]], dtype=float
        )
        self._show(values, spec.get("cmap", "viridis"), _levels(values, spec.get("center")))
        p = self.plot.getPlotItem()
        self.set_title(spec.get("title", ""))
        if self.bar is not None:
            self.bar.setToolTip(spec.get("value_label", ""))
        L, H = values.shape
        step = 1 if L <= 16 else 2 if L <= 40 else 4
        p.getAxis("left").setTicks([[(i + 0.5, str(i)) for i in range(0, L, step)]])
        p.getAxis("bottom").setTicks([[(j + 0.5, str(j)) for j in range(H)]])

    def set_selection(self, heads: Any, focus: Any = None) -> None:
        xs, ys = [h + 0.5 for _, h in heads], [L + 0.5 for L, _ in heads]
        self.outline_under.setData(xs, ys, pen=pg.mkPen("#111111", width=4.5))
        self.outline.setData(xs, ys, pen=pg.mkPen("#ffffff", width=2))
        if focus is not None:
            self.focus_mark.setData(
                [focus[1] + 0.5],
                [focus[0] + 0.5],
                pen=pg.mkPen("#111111", width=1.5),
                brush=pg.mkBrush(theme.colors()["accent"]),
            )
        else:
            self.focus_mark.setData([], [])

    def describe(self, row: int, col: int) -> str:
        v = self.values[row, col]
        return (
            f"L{row}H{col} · layer {row}, head {col}: {'—' if not math.isfinite(v) else f'{v:.4f}'}"
        )


class PatternWidget(_ImagePlot):
    """One head's attention pattern ``[query, key]``, token labels on both axes. It lives in
    the Heads tab's narrowest column (about 180 pixels at 1366×768): its colour bar goes under
    the plot, where a bar beside it was cut off."""

    bar_orientation = "horizontal"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tokens: list[str] = []
        p = self.plot.getPlotItem()
        p.setLabel("bottom", "key (attended to)")
        p.setLabel("left", "query")
        p.getViewBox().sigResized.connect(lambda *_: self._label_ticks())
        self.setMinimumHeight(220)

    def set_spec(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.tokens = [t.replace("\n", "\\n") for t in spec["rows"]]
        values = np.array(spec["values"], dtype=float)
        self._show(values, spec.get("cmap", "Blues"), (0.0, 1.0))
        self.set_title(spec.get("title", ""))
        self._label_ticks()

    def _label_ticks(self) -> None:
        """Token labels on both axes, every k-th one when they would overlap."""
        n = len(self.tokens)
        if not n:
            return
        p = self.plot.getPlotItem()
        vb = p.getViewBox()
        fm = QFontMetrics(self.font())
        widest = max(fm.horizontalAdvance(t) for t in self.tokens) + 8
        step_x = max(1, math.ceil(n * widest / max(vb.width(), 1.0)))
        step_y = max(1, math.ceil(n * (fm.height() + 1) / max(vb.height(), 1.0)))
        p.getAxis("bottom").setTicks([[(i + 0.5, self.tokens[i]) for i in range(0, n, step_x)]])
        p.getAxis("left").setTicks([[(i + 0.5, self.tokens[i]) for i in range(0, n, step_y)]])

    def describe(self, row: int, col: int) -> str:
        t = self.tokens
        return f"query {row} {t[row]!r} → key {col} {t[col]!r}: {self.values[row, col]:.3f}"
