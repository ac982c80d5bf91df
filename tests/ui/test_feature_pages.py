"""The Analyses tab's successor-heads, concept-depth and axis pages through their real widgets
on the tiny model: each runs, draws, exports and lands in the project; a bad input is a
message, not a traceback."""

from __future__ import annotations

import pytest
from ui_helpers import wait_idle

pytestmark = pytest.mark.slow  # each page runs its job on the tiny model (tens of seconds)


@pytest.fixture
def analyses(qtbot, loaded_window):
    w = loaded_window
    panel = w.view("analysis")
    assert panel is not None
    w.tabs.setCurrentWidget(panel)
    return w, panel


def _run(qtbot, w, page):
    n_errors = len(w.ctx.errors.history)
    assert page.start() is not None, w.ctx.errors.history
    wait_idle(qtbot, w.ctx)
    assert len(w.ctx.errors.history) == n_errors, w.ctx.errors.history
    assert page.status.text().startswith("Done"), page.status.text()
    assert not page.figure.pixmap().isNull() and page.export_button.isEnabled()


def _refused(qtbot, w, page, words):
    n = len(w.ctx.errors.history)
    page.start()
    wait_idle(qtbot, w.ctx)
    assert len(w.ctx.errors.history) == n + 1
    assert words in str(w.ctx.errors.history[-1])


def test_successor_page(qtbot, analyses, tmp_path):
    w, panel = analyses
    page = panel.show_page("successor")
    page.head.setText("L1H2")
    page.max_number.setValue(20)
    _run(qtbot, w, page)
    assert page.last.result.label == "L1H2" and "held-out" in page.status.text()
    assert len(w.ctx.state.project.runs("successor")) == 1
    assert page.export(str(tmp_path / "s.svg")).endswith("svg")
    page.head.setText("L1H2, L0H1")
    _refused(qtbot, w, page, "one head")


def test_depth_page(qtbot, analyses, tmp_path):
    w, panel = analyses
    page = panel.show_page("depth")
    page.layers.setText("1,2")
    page.token_noise.setText("0.3")
    page.bits.setText("4")
    page.folds.setValue(2)
    _run(qtbot, w, page)
    assert page.last.result.labels == ["plain", "tokens replaced 0.3", "4-bit weights"]
    assert len(w.ctx.state.project.runs("concept_depth")) == 1
    assert page.export(str(tmp_path / "d.pdf")).endswith("pdf")
    page.bits.setText("4.5")
    _refused(qtbot, w, page, "whole numbers")


def test_axis_page(qtbot, analyses, tmp_path):
    w, panel = analyses
    page = panel.show_page("axis")
    page.items.setPlainText("the king is happy\nthe queen is sad\nI love this movie")
    page.poles[0].setText("I feel very good, great nice food")
    page.poles[1].setText("I feel very bad, terrible awful film")
    page.site.setText("blocks.1.hook_resid_post")
    _run(qtbot, w, page)
    r = page.last.result
    assert len(r.x) == 3 and r.y is None and "Nearest" in page.status.text()
    page.poles[2].setText("king")
    page.poles[3].setText("queen")
    _run(qtbot, w, page)
    assert page.last.result.y is not None
    assert len(w.ctx.state.project.runs("axis")) == 2
    assert page.export(str(tmp_path / "a.png")).endswith("png")
    page.poles[0].setText("=no such concept")
    _refused(qtbot, w, page, "no such concept")
