"""The Heads tab's plots keep their colour bars whole in a narrow column (1366×768: the pattern
column is about 180 pixels wide, the map's about 270), whatever the title's length."""

from __future__ import annotations

import pytest

LONG = "Induction — SmolLM2-135M-Instruct (8 sequences of 32 random tokens, repeated twice)"


def _bar_inside(plot) -> bool:
    r = plot.bar.sceneBoundingRect()
    return (
        r.left() >= 0
        and r.right() <= plot.plot.width() + 0.5
        and r.bottom() <= plot.plot.height() + 0.5
    )


@pytest.mark.parametrize("width", [180, 240, 420])
def test_the_pattern_colour_bar_is_whole(qtbot, width):
    from ui.panels.heads.plots import PatternWidget

    w = PatternWidget()
    qtbot.addWidget(w)
    w.resize(width, 340)
    w.show()
    tokens = ["The", " cat", " sat", " on", " the", " mat", "."] * 3
    n = len(tokens)
    values = [[1.0 / (i + 1) if j <= i else 0.0 for j in range(n)] for i in range(n)]
    w.set_spec({"rows": tokens, "values": values, "title": "L3H1 attention pattern " + LONG})
    qtbot.wait(50)
    assert w.bar.horizontal
    assert _bar_inside(w), (w.bar.sceneBoundingRect(), w.plot.width())
    assert w.plot.getPlotItem().geometry().width() <= w.plot.width() + 0.5


@pytest.mark.parametrize("width", [270, 420])
def test_the_map_colour_bar_is_whole_with_a_long_title(qtbot, width):
    from ui.panels.heads.plots import HeadMapWidget

    w = HeadMapWidget()
    qtbot.addWidget(w)
    w.resize(width, 300)
    w.show()
    w.set_spec({"values": [[0.1 * (h % 9) for h in range(9)] for _ in range(30)], "title": LONG})
    qtbot.wait(50)
    assert _bar_inside(w), (w.bar.sceneBoundingRect(), w.plot.width())
    assert w.plot.getPlotItem().geometry().width() <= w.plot.width() + 0.5
