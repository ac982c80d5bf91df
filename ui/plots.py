"""Interactive plots (pyqtgraph) that can export themselves as publication figures.

Each plot keeps a *spec* (see :mod:`workbench.figures`) of what it shows; its context menu offers
"Export figure…" which draws the same spec with matplotlib. Importing this module imports
pyqtgraph (~0.7 s), so views create plots lazily, after the window is up.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMenu, QVBoxLayout, QWidget

from ui import theme
from workbench import figures

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def _apply_theme(pw: pg.PlotWidget) -> None:
    c = theme.plot_colors()
    pw.setBackground(c["background"])
    for name in ("left", "bottom"):
        ax = pw.getAxis(name)
        ax.setPen(pg.mkPen(c["grid"]))
        ax.setTextPen(pg.mkPen(c["foreground"]))
    pw.getPlotItem().titleLabel.setAttr("color", c["foreground"])


class _PlotBase(QWidget):
    """A pyqtgraph plot with a spec and an "Export figure…" context menu."""

    exported = Signal(dict, str)  # spec, path: for views that also store the figure

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.spec: dict[str, Any] = {}
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.plot.customContextMenuRequested.connect(self._menu)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        _apply_theme(self.plot)
        self.setMinimumHeight(140)

    def _menu(self, pos: Any) -> None:
        menu = QMenu(self)
        menu.addAction("Export figure (PNG/SVG/PDF)…", self.export_dialog)
        menu.addAction("Reset zoom", lambda: self.plot.getPlotItem().enableAutoRange())
        menu.exec(self.plot.mapToGlobal(pos))

    def export_dialog(self) -> None:
        if not self.spec:
            return
        name = (self.spec.get("title") or "figure").replace("/", "-").replace(" ", "_")
        from ui.file_dialogs import save_path, saved

        path, _ = save_path(
            self, "Export figure", f"{name}.png", "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)"
        )
        if path:
            saved(self, self.export(path), "Exported")

    def export(self, path: str) -> str:
        """Write the figure (PNG, SVG or PDF by extension) drawn with matplotlib."""
        out = str(figures.export(self.spec, path))
        self.exported.emit(self.spec, out)
        return out

    def refresh_theme(self) -> None:
        _apply_theme(self.plot)
        if self.spec:
            self.set_spec(self.spec)

    def set_spec(self, spec: dict[str, Any]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class LinePlotWidget(_PlotBase):
    """Curves over layers (e.g. norm per layer)."""

    def set_spec(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        p = self.plot.getPlotItem()
        p.clear()
        p.setTitle(spec.get("title", ""), size="9pt")
        p.setLabel("bottom", spec.get("xlabel", ""))
        p.setLabel("left", spec.get("ylabel", ""))
        p.showGrid(x=True, y=True, alpha=0.2)
        if len(spec.get("series", {})) > 1:
            p.addLegend(offset=(-5, 5))
        x = np.asarray(spec.get("x", []), dtype=float)
        palette = [theme.colors()["accent"], "#e0656b", "#4fbf8a", "#d9a53b", "#a879e6"]
        for k, (label, ys) in enumerate(spec.get("series", {}).items()):
            y = np.asarray([math.nan if v is None else v for v in ys], dtype=float)
            color = palette[k % len(palette)]
            p.plot(
                x[: len(y)],
                y,
                pen=pg.mkPen(color, width=2),
                symbol="o",
                symbolSize=5,
                symbolBrush=color,
                symbolPen=None,
                name=label,
            )


class HeatmapWidget(_PlotBase):
    """A labelled matrix with a colour bar (cosine matrix, sweep metric)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image = pg.ImageItem()
        self.bar: pg.ColorBarItem | None = None
        self.plot.getPlotItem().setAspectLocked(False)
        self.plot.getPlotItem().invertY(True)
        self._labels: list[pg.TextItem] = []

    def set_spec(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        p = self.plot.getPlotItem()
        p.clear()
        for t in self._labels:
            p.removeItem(t)
        self._labels = []
        p.addItem(self.image)
        p.setTitle(spec.get("title", ""), size="9pt")
        p.setLabel("bottom", spec.get("xlabel", ""))
        p.setLabel("left", spec.get("ylabel", ""))
        values = np.array(
            [[math.nan if v is None else v for v in row] for row in spec.get("values", [])],
            dtype=float,
        )
        if values.size == 0:
            return
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if spec.get("center") is not None:
            m = max(abs(lo - spec["center"]), abs(hi - spec["center"])) or 1.0
            lo, hi = spec["center"] - m, spec["center"] + m
        if hi <= lo:
            hi = lo + 1e-6
        cmap = pg.colormap.get(spec.get("cmap", "viridis"), source="matplotlib")
        self.image.setImage(np.nan_to_num(values, nan=lo), levels=(lo, hi))
        self.image.setColorMap(cmap)
        if self.bar is None:
            self.bar = pg.ColorBarItem(values=(lo, hi), colorMap=cmap, interactive=False, width=12)
            self.bar.setImageItem(self.image, insert_in=p)
        else:
            self.bar.setColorMap(cmap)
            self.bar.setLevels((lo, hi))
        rows, cols = spec.get("rows", []), spec.get("cols", [])
        p.getAxis("bottom").setTicks([[(j + 0.5, str(c)) for j, c in enumerate(cols)]])
        p.getAxis("left").setTicks([[(i + 0.5, str(r)) for i, r in enumerate(rows)]])
        if values.shape[0] * values.shape[1] <= 120:
            for (i, j), v in np.ndenumerate(values):
                if math.isfinite(v):
                    frac = (v - lo) / (hi - lo)
                    t = pg.TextItem(
                        f"{v:.2f}", color="k" if frac > 0.55 else "w", anchor=(0.5, 0.5)
                    )
                    t.setPos(j + 0.5, i + 0.5)
                    p.addItem(t)
                    self._labels.append(t)
        p.setRange(xRange=(0, values.shape[1]), yRange=(0, values.shape[0]), padding=0.02)
