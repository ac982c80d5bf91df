"""Exported figures fit: a title wider than the figure is wrapped onto lines that fit, and the
saved area holds everything drawn (issue 18 item 3: the SVG's title was cut on the left)."""

from __future__ import annotations

import re

import pytest

from workbench.figures import fit_titles, render

LONG = (
    "Signed head map: direct logit attribution of every head toward ' Paris' minus ' London' "
    "on 24 prompts of the capitals set"
)


def _head_map(title):
    return {
        "figure": "head_map",
        "kind": "heatmap",
        "title": title,
        "rows": list(range(30)),
        "cols": list(range(9)),
        "values": [[((i * 9 + j) % 7 - 3) / 3 for j in range(9)] for i in range(30)],
        "center": 0,
        "value_label": "logit difference",
    }


def _heatmap(title):
    return {
        "kind": "heatmap",
        "title": title,
        "rows": [0, 1],
        "cols": ["-4", "4"],
        "values": [[0.1, 0.2], [0.3, None]],
        "value_label": "KL",
    }


@pytest.mark.parametrize("make", [_head_map, _heatmap])
def test_a_long_title_is_wrapped_within_the_figure(make):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(LONG)
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    assert ax.title.get_window_extent(renderer).width > fig.bbox.width  # cut before
    fit_titles(fig)
    assert ax.title.get_window_extent(renderer).width <= fig.bbox.width
    assert " ".join(ax.title.get_text().split()) == LONG  # every word kept
    # every export format carries the whole title
    for fmt in ("svg", "png", "pdf"):
        data = render(make(LONG), fmt)
        assert data
        if fmt == "svg":
            text = data.decode()
            words = " ".join(re.findall(r">([^<>]+)</text>", text))
            for w in ("Signed", "London'", "capitals", "set"):
                assert w in words, w
            # nothing drawn left of the picture's edge
            xs = [float(x) for x in re.findall(r'<text[^>]* x="(-?[\d.]+)"', text)]
            assert all(x >= 0 for x in xs)
