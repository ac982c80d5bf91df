"""Figure specs of head analyses: JSON-able dicts that :func:`workbench.figures.render` draws
and a project stores beside the rendered files (the window's map and pattern views use the same
specs). Torch-free."""

from __future__ import annotations

from typing import Any

from workbench.heads.kinds import KIND_TITLES, SIGNED


def head_map_spec(scores: Any, run_id: int | None = None, title: str = "") -> dict[str, Any]:
    """A JSON spec of a layer × head map, drawn by :func:`workbench.figures.render`."""
    values = [
        [None if v != v else round(float(v), 6) for v in row] for row in scores.scores.tolist()
    ]
    kind = scores.kind
    return {
        "kind": "heatmap",
        "figure": "head_map",
        "score": kind,
        "title": title or f"{KIND_TITLES.get(kind, kind)} — {scores.model.get('name', '')}",
        "xlabel": "head",
        "ylabel": "layer",
        "rows": list(range(scores.n_layers)),
        "cols": list(range(scores.n_heads)),
        "values": values,
        "cmap": "RdBu_r" if kind in SIGNED else "viridis",
        "center": 0.0 if kind in SIGNED else None,
        "value_label": kind,
        "run_id": run_id,
    }


def pattern_spec(view: Any, layer: int, head: int, run_id: int | None = None) -> dict[str, Any]:
    p = view.head(layer, head)
    return {
        "kind": "heatmap",
        "figure": "pattern",
        "title": f"L{layer}H{head} attention pattern",
        "xlabel": "key (attended to)",
        "ylabel": "query",
        "rows": list(view.tokens),
        "cols": list(view.tokens),
        "values": [[round(float(v), 5) for v in row] for row in p.tolist()],
        "cmap": "Blues",
        "value_label": "attention",
        "prompt": view.prompt,
        "layer": layer,
        "head": head,
        "run_id": run_id,
    }
