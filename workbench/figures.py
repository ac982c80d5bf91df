"""Publication figures with matplotlib, drawn from the same spec as the window's on-screen plot
(and from the command line, headless).

A *spec* is a JSON-able dict: ``{"kind": "line", "title", "xlabel", "ylabel", "x": [...],
"series": {label: [...]}}`` or ``{"kind": "heatmap", "title", "xlabel", "ylabel", "rows":
[...], "cols": [...], "values": [[...]], "cmap", "center"}``. The project stores the spec and
the rendered files, so a figure can be redrawn later. Headless (Agg); no Qt.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMATS = ("png", "svg", "pdf")


def norms_per_layer_spec(title: str, norms: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A line spec of L2 norm per layer, one series per name (``norms``: name -> {site: norm};
    sites outside a block are left out)."""
    from workbench.errors import SiteError
    from workbench.models.sites import parse_site

    def layer_of(site: str) -> int | None:
        try:
            return parse_site(site).layer
        except SiteError:  # a site of another kind of model (a text encoder's): no layer
            return None

    series, xs = {}, set()
    for name, by_site in norms.items():
        pts = {L: n for s, n in by_site.items() if (L := layer_of(s)) is not None}
        xs |= set(pts)
        series[name] = pts
    x = sorted(xs)
    return {
        "kind": "line",
        "title": title,
        "xlabel": "layer",
        "ylabel": "L2 norm",
        "x": x,
        "series": {k: [v.get(L) for L in x] for k, v in series.items()},
    }


def render(spec: dict[str, Any], fmt: str = "png", dpi: int = 200) -> bytes:
    """The figure as PNG, SVG (real text) or PDF bytes. Head maps and attention patterns
    (``spec["figure"]``) are drawn by the engine's :mod:`workbench.heads.figures`."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.fonttype"] = "none"  # keep text as text in SVG
    matplotlib.rcParams["pdf.fonttype"] = 42
    kind = spec.get("kind")
    if spec.get("figure") in ("head_map", "pattern"):
        return _save(_head_figure(spec), spec, fmt, dpi)
    if kind == "scatter":
        fig = Figure(figsize=(7.0, 4.8 if spec.get("y") else 2.6), layout="constrained")
        ax = fig.add_subplot()
        _scatter(ax, spec)
    elif kind == "heatmap":
        rows, cols = spec.get("rows", []), spec.get("cols", [])
        # specs with words in their cells (the logit lens) ask for wider cells
        w = max(4.0, spec.get("cell_width", 0.6) * len(cols) + 2.5)
        h = max(3.0, spec.get("cell_height", 0.45) * len(rows) + 1.8)
        fig = Figure(figsize=(w, h), layout="constrained")
        ax = fig.add_subplot()
        _heatmap(fig, ax, spec)
    elif kind == "bar":  # labelled bars, e.g. a patch's effect beside its baselines
        labels = [str(c) for c in spec.get("labels", [])]
        fig = Figure(figsize=(max(5.5, 0.9 * len(labels) + 1.5), 3.8), layout="constrained")
        ax = fig.add_subplot()
        vals = [_nan(v) for v in spec.get("values", [])]
        bars = ax.bar(range(len(vals)), vals, color=spec.get("colors") or "#4c72b0")
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    else:
        fig = Figure(figsize=(5.5, 3.4), layout="constrained")
        ax = fig.add_subplot()
        x = spec.get("x", [])
        errors = spec.get("errors", {})  # label -> error bar half-heights (e.g. std over folds)
        for label, ys in spec.get("series", {}).items():
            ax.errorbar(
                x[: len(ys)],
                [_nan(y) for y in ys],
                yerr=[_nan(e) for e in errors[label]] if label in errors else None,
                marker="o",
                markersize=3,
                linewidth=1.5,
                capsize=2,
                label=label,
            )
        if spec.get("hline") is not None:  # a reference level, e.g. chance
            ax.axhline(float(spec["hline"]), color="grey", linestyle=":", linewidth=1)
        if len(spec.get("series", {})) > 1:
            ax.legend(frameon=False, fontsize=8)
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(spec.get("title", ""), fontsize=10)
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    return _save(fig, spec, fmt, dpi)


def render_all(spec: dict[str, Any], formats: Sequence[str] = FORMATS) -> dict[str, bytes]:
    """The figure in every format of ``formats``: what a project stores with its spec."""
    return {fmt: render(spec, fmt) for fmt in formats}


def _save(fig: Any, spec: dict[str, Any], fmt: str, dpi: int) -> bytes:
    buf = io.BytesIO()
    meta = (
        {"Title": spec.get("title", "")}
        if fmt in ("svg", "pdf")
        else {"Software": "Concept Workbench"}
    )
    fit_titles(fig)
    # The saved area is what was drawn (a title, a colour bar's label, the last column's
    # ticks), in every format alike: nothing is cut at the figure's edge.
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta, bbox_inches="tight", pad_inches=0.06)
    return buf.getvalue()


def fit_titles(fig: Any) -> None:
    """Wrap each axes title (and the figure's) onto lines no wider than the figure: a title
    wider than its figure was cut at both edges (in an SVG, on the left)."""
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if hasattr(fig.canvas, "get_renderer") else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    width = fig.bbox.width * 0.96
    titles = [ax.title for ax in fig.axes]
    if getattr(fig, "_suptitle", None) is not None:
        titles.append(fig._suptitle)
    for t in titles:
        text = " ".join(t.get_text().split())
        if not text or t.get_window_extent(renderer).width <= width:
            continue
        chars = len(text)
        while chars > 12:  # the longest line that fits, found by measuring
            chars = int(chars * 0.9)
            t.set_text(textwrap.fill(text, chars))
            if t.get_window_extent(renderer).width <= width:
                break


def _head_figure(spec: dict[str, Any]) -> Any:
    import torch

    from workbench.heads.figures import figure_head_map, figure_pattern

    if spec["figure"] == "pattern":
        return figure_pattern(
            torch.tensor(spec["values"]), spec["rows"], title=spec.get("title", "")
        )
    m = torch.tensor([[math.nan if v is None else v for v in r] for r in spec["values"]])
    fig = figure_head_map(m, title=spec.get("title", ""), center=spec.get("center") is not None)
    fig.axes[-1].set_ylabel(spec.get("value_label", ""))
    return fig


def _nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def _heatmap(fig: Any, ax: Any, spec: dict[str, Any]) -> None:
    import numpy as np

    values = np.array([[_nan(v) for v in row] for row in spec.get("values", [])], dtype=float)
    rows, cols = spec.get("rows", []), spec.get("cols", [])
    finite = values[np.isfinite(values)] if values.size else values
    kw: dict[str, Any] = {"cmap": spec.get("cmap", "viridis"), "aspect": "auto"}
    if spec.get("center") is not None and finite.size:
        m = float(np.abs(finite - spec["center"]).max()) or 1.0
        kw.update(vmin=spec["center"] - m, vmax=spec["center"] + m)
    for key in ("vmin", "vmax"):
        if spec.get(key) is not None:
            kw[key] = spec[key]
    im = ax.imshow(values, **kw)
    diverging = spec.get("center") is not None  # dark at both ends, light in the middle
    ax.set_xticks(
        range(len(cols)),
        [str(c) for c in cols],
        rotation=45 if len(cols) > 8 else 0,
        ha="right" if len(cols) > 8 else "center",
    )
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    text = spec.get("cell_text")
    if text is not None:  # a word per cell (the logit lens's top tokens) instead of the value
        for (i, j), v in np.ndenumerate(values):
            if i < len(text) and j < len(text[i]):
                light = np.isfinite(v) and im.norm(v) >= 0.5
                ax.text(j, i, str(text[i][j]), ha="center", va="center", fontsize=6,
                        color="white" if light else "black")  # fmt: skip
    elif values.size and values.shape[0] * values.shape[1] <= 150:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if _dark_cell(float(im.norm(v)), diverging) else "black",
                )
    fig.colorbar(im, ax=ax, shrink=0.85, label=spec.get("value_label", ""))


def _scatter(ax: Any, spec: dict[str, Any]) -> None:
    """Labelled points: ``x``, optional ``y`` (none: a 1-D strip, labels staggered so they do
    not sit on each other), ``labels``, reference ``marks`` on the x axis (e.g. the poles)."""
    xs = [_nan(v) for v in spec.get("x", [])]
    labels = [str(t) for t in spec.get("labels", [])]
    ys = spec.get("y")
    if ys is None:
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        levels = [0.0] * len(xs)
        for rank, i in enumerate(order):
            levels[i] = (rank % 4 + 1) * 0.25 * (1 if rank % 2 == 0 else -1)
        ax.scatter(xs, [0.0] * len(xs), s=14, zorder=3)
        for i, lab in enumerate(labels[: len(xs)]):
            ax.annotate(
                lab[:40], (xs[i], 0.0), xytext=(xs[i], levels[i]), fontsize=7, ha="center",
                va="center", arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5},
            )  # fmt: skip
        ax.set_ylim(-1.3, 1.3)
        ax.set_yticks([])
        ax.axhline(0.0, color="0.7", linewidth=0.8)
    else:
        yv = [_nan(v) for v in ys]
        ax.scatter(xs, yv, s=14, zorder=3)
        for i, lab in enumerate(labels[: len(xs)]):
            ax.annotate(
                lab[:40], (xs[i], yv[i]), xytext=(3, 3), textcoords="offset points", fontsize=7
            )
        for m in spec.get("marks", []):
            ax.axhline(float(m), color="0.8", linestyle=":", linewidth=0.8)
    for m in spec.get("marks", []):
        ax.axvline(float(m), color="0.8", linestyle=":", linewidth=0.8)
    if spec.get("note"):
        ax.text(0.0, -0.02, "note: " + str(spec["note"])[:160], transform=ax.transAxes,
                fontsize=6, va="top", color="0.4")  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)


def _dark_cell(level: float, diverging: bool) -> bool:
    """Whether a cell at colour-map ``level`` (0..1) is dark enough for white text."""
    return abs(level - 0.5) > 0.3 if diverging else level < 0.5


def export(spec: dict[str, Any], path: str | Path) -> Path:
    """Write the figure to ``path``; the format comes from the extension (png, svg, pdf)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in FORMATS:
        raise ValueError(f"{path.name}: export a figure as .png, .svg or .pdf.")
    if not path.suffix:
        path = path.with_suffix(".png")
    path.write_bytes(render(spec, fmt))
    return path
