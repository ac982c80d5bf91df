"""Publication figures of head scores and attention patterns (matplotlib, no pyplot).

Each function returns a :class:`matplotlib.figure.Figure` drawn on the Agg canvas, so it works
headless and in threads; save it with ``fig.savefig("map.svg")`` (PNG, SVG, PDF).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_head_map(
    scores: Any,
    title: str = "",
    cmap: str | None = None,
    annotate_top: int = 5,
    center: bool | None = None,
) -> Any:
    """Layer × head heat map.

    Parameters
    ----------
    scores
        A :class:`~workbench.heads.result.HeadScores` or a ``[layer, head]`` tensor / array.
    title
        Figure title (default: the score's kind).
    cmap
        Colour map (default ``viridis``, or ``RdBu_r`` centred on 0 for signed scores).
    annotate_top
        Write the value into the cells of the best ``k`` heads (0: none).
    center
        Centre the colour scale on zero (default: when the scores have both signs).
    """
    kind = getattr(scores, "kind", "")
    m = getattr(scores, "scores", scores)
    m = torch.as_tensor(m).float().cpu()
    L, H = m.shape
    finite = m[torch.isfinite(m)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 1.0)
    if center is None:
        center = lo < 0 < hi
    kw: dict[str, Any] = {
        "cmap": cmap or ("RdBu_r" if center else "viridis"),
        "aspect": "auto",
        "interpolation": "nearest",
        "origin": "upper",
    }
    if center:
        v = max(abs(lo), abs(hi)) or 1.0
        kw.update(vmin=-v, vmax=v)
    fig = _figure(max(3.0, 0.35 * H + 1.8), max(3.0, 0.22 * L + 1.2))
    ax = fig.add_subplot()
    im = ax.imshow(m.numpy(), **kw)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(H))
    step = 1 if L <= 16 else 2 if L <= 40 else 4
    ax.set_yticks(range(0, L, step))
    ax.set_title(title or kind)
    fig.colorbar(im, ax=ax, shrink=0.8, label=kind or "score")
    if annotate_top and finite.numel():
        flat = torch.nan_to_num(m.flatten(), nan=float("-inf"))
        for i in torch.argsort(flat, descending=True)[:annotate_top].tolist():
            v = float(m.flatten()[i])
            shade = float(im.norm(v))  # 0..1 along the colour map: dark text on light cells
            light = shade > 0.6 if not center else abs(shade - 0.5) < 0.3
            ax.text(i % H, i // H, f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if light else "white")  # fmt: skip
    return fig


def figure_pattern(
    pattern: Any, tokens: Sequence[str], title: str = "", cmap: str = "Blues"
) -> Any:
    """Attention pattern ``[query, key]`` with token labels on both axes."""
    p = torch.as_tensor(pattern).float().cpu()
    n = p.shape[0]
    labels = [t.replace("\n", "\\n") for t in tokens]
    size = min(14.0, max(3.5, 0.28 * n + 1.5))
    fig = _figure(size + 0.8, size)
    ax = fig.add_subplot()
    im = ax.imshow(
        p.numpy(), cmap=cmap, vmin=0.0, vmax=1.0, aspect="equal", interpolation="nearest"
    )
    ax.set_xticks(range(p.shape[1]), labels[: p.shape[1]], rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels[:n], fontsize=7)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8, label="attention")
    return fig
