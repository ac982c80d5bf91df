"""Function vectors have a place of their own (a tab of the Heads panel), run the engine's
held-out search over layers × coefficients from it and show the best setting with its
held-out accuracy; spin and combo boxes take the mouse wheel only when focused (issue 18
item 2)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea
from ui_helpers import wait_idle


def _wheel(widget, steps: int = 1) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, ev)


def test_the_function_vector_tab_searches_and_shows_the_best_setting(qtbot, loaded_window):
    w = loaded_window
    panel = w.view("heads")
    w.tabs.setCurrentWidget(panel)
    fv = panel.fv
    # a tab of its own, in sight
    assert panel.right_tabs.tabText(2) == "Function vector"
    panel.show_function_vector()
    assert panel.right_tabs.currentIndex() == 2 and fv.isVisibleTo(w)
    assert fv.fv_search.isChecked()  # searching is the default
    # refused with a message saying what to do
    fv.build_function_vector()
    assert "Select heads first" in fv.status.text()
    panel.state.selected = ((0, 1), (1, 2))
    fv.fv_demos.setCurrentIndex(fv.fv_demos.findData("antonyms"))
    fv.fv_prompts.setValue(4)
    fv.fv_shots.setValue(3)
    fv.fv_layers.setText("0, 7")
    fv.build_function_vector()
    assert "not in this model" in fv.status.text()
    fv.fv_layers.setText("0-1")
    fv.fv_coefs.setText("1, 4")
    fv.fv_name.setText("fv-searched")
    with qtbot.waitSignal(w.ctx.state.events.concepts, timeout=60000):
        assert fv.build_function_vector() is not None
    wait_idle(qtbot, w.ctx)
    r = fv.last_fv
    assert r is not None and r.search is not None, w.ctx.errors.history
    s = r.search
    assert s["layers"] == [0, 1] and s["coefficients"] == [1.0, 4.0]
    # the concept is the best setting of the search
    assert (r.layer, r.coefficient) == (s["best_layer"], s["best_coefficient"])
    info = w.ctx.state.concept_info("fv-searched")
    assert info.sites == (f"blocks.{r.layer}.hook_resid_post",)
    # shown: the best setting with its held-out accuracy, and the searched grid
    text = fv.best.text()
    assert f"layer {r.layer}, coefficient {r.coefficient:g}" in text
    assert f"held-out accuracy <b>{r.accuracy['with_fv']:.0%}</b>" in text
    assert f"on {r.held_out} words" in text
    assert fv.grid.isVisibleTo(w)
    assert (fv.grid.rowCount(), fv.grid.columnCount()) == (2, 2)
    i, j = s["layers"].index(r.layer), s["coefficients"].index(r.coefficient)
    assert fv.grid.item(i, j).font().bold()
    assert fv.grid.item(i, j).text() == f"{s['accuracy'][i][j]:.0%}"


def test_spin_and_combo_boxes_take_the_wheel_only_when_focused(qtbot, loaded_window):
    w = loaded_window
    sweep = w.view("sweep")
    w.tabs.setCurrentWidget(sweep)
    w.activateWindow()
    page = w.tabs.page(sweep)
    assert isinstance(page, QScrollArea)
    sweep.tokens.clearFocus()
    before = sweep.tokens.value()
    _wheel(sweep.tokens)
    assert sweep.tokens.value() == before  # not focused: the wheel is not for it
    combo = sweep.heatmap_metric
    index = combo.currentIndex()
    _wheel(combo, -1)
    assert combo.currentIndex() == index
    # focused (clicked or tabbed into), the wheel steps it
    sweep.tokens.setFocus()
    qtbot.waitUntil(sweep.tokens.hasFocus, timeout=5000)
    _wheel(sweep.tokens)
    assert sweep.tokens.value() == before + 1
