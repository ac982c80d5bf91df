"""The selected heads and the focused head (whose pattern is shown) come back when the project
is opened again (issue 18 item 10)."""

from __future__ import annotations

from ui_helpers import wait_idle


def test_selection_and_focus_come_back_on_reopen(qtbot, loaded_window, tmp_path):
    w = loaded_window
    ctx = w.ctx
    panel = w.view("heads")
    w.tabs.setCurrentWidget(panel)
    panel.settings.set_kind("induction")
    panel.settings.fields["n_seqs"].setValue(2)
    panel.settings.fields["seq_len"].setValue(8)
    assert panel.run_score() is not None
    wait_idle(qtbot, ctx)
    run_id = panel.state.run_id
    assert run_id is not None, ctx.errors.history
    panel._on_head_clicked(1, 2)
    panel._on_head_clicked(0, 3)
    wait_idle(qtbot, ctx)
    target = tmp_path / "heads-view.wbproj"
    assert ctx.project.save_as(target)
    assert ctx.project.new(confirm=False)
    assert panel.state.selected == () and panel.state.focus is None
    assert ctx.project.open(target, confirm=False)
    wait_idle(qtbot, ctx)
    assert panel.state.run_id == run_id
    assert set(panel.state.selected) == {(1, 2), (0, 3)}
    assert panel.state.focus == (0, 3)


def test_the_map_caption_does_not_outlive_its_run(qtbot, loaded_window):
    w = loaded_window
    panel = w.view("heads")
    w.tabs.setCurrentWidget(panel)
    panel.settings.set_kind("induction")
    panel.settings.fields["n_seqs"].setValue(2)
    panel.settings.fields["seq_len"].setValue(8)
    panel.run_score()
    wait_idle(qtbot, w.ctx)
    panel.map.cell_hovered.emit(panel.map.describe(0, 0))
    assert panel.hover.text().startswith("L0H0")
    panel.settings.set_kind("previous")
    panel.run_score()
    wait_idle(qtbot, w.ctx)
    assert panel.hover.text() == ""
