"""Every canvas control is a view of the canvas model: undo, redo, reopen and programmatic
changes all show in the widgets (issue 18 item 1: after Ctrl+Z the spin box and slider still
showed 1000 while the canvas steered with 1.0)."""

from __future__ import annotations

import torch
from ui_helpers import make_window

from ui.canvas_model import GROUPS
from workbench.concepts.concept import Concept


def _add_concepts(w, names):
    hm = w.ctx.state.model().hm
    g = torch.Generator().manual_seed(0)
    for n in names:
        vecs = {
            f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g)
            for L in range(hm.n_layers)
        }
        w.library_dock.add_concept(Concept(n, vecs, hm.ref))


def assert_widgets_show_state(canvas):
    """Every control of the canvas shows what the model holds."""
    m = canvas.model
    cards = canvas.terms.cards
    assert [c.name.toolTip() for c in cards] == [t.concept for t in m.terms]
    for card, t in zip(cards, m.terms, strict=True):
        assert card.coef.value() == t.coefficient, (card.coef.value(), t)
        lo, hi = card.coef.slider.minimum(), card.coef.slider.maximum()
        want = min(hi, max(lo, round(t.coefficient * card.coef.STEPS)))
        assert card.coef.slider.value() == want, (card.coef.slider.value(), t)
        assert GROUPS[card.group.currentIndex()] == t.group
        assert card.normalize.isChecked() == t.normalize
        assert card.project_out.isChecked() == t.project_out
        assert card.coef.isEnabled() == (not t.project_out)
    assert canvas.norm_result.isChecked() == m.normalize_result
    boxes = [
        canvas.group_box.itemAt(i).widget()
        for i in range(canvas.group_box.count())
        if canvas.group_box.itemAt(i).widget() is not None
    ]
    shown = {b.text().removeprefix("normalise group "): b.isChecked() for b in boxes}
    assert shown == {g: m.group_normalize.get(g, False) for g in m.groups_used()}
    assert canvas.expression.text() == (m.to_text() or "—")


def test_undo_and_redo_of_every_canvas_edit_keep_every_widget_in_step(qtbot, loaded_window):
    w = loaded_window
    ctx = w.ctx
    _add_concepts(w, ["happy", "formal", "warm"])
    canvas = w.view("canvas")

    def card(i):
        return canvas.terms.cards[i]

    def group_box(g):
        for i in range(canvas.group_box.count()):
            b = canvas.group_box.itemAt(i).widget()
            if b is not None and b.text() == f"normalise group {g}":
                return b
        raise AssertionError(f"no check box for group {g}")

    # Each edit as a user makes it, through the widgets.
    edits = [
        ("drop a term", lambda: canvas.terms.concepts_dropped.emit(["happy"])),
        ("drop two more", lambda: canvas.terms.concepts_dropped.emit(["formal", "warm"])),
        ("type a coefficient of 1000", lambda: card(0).coef.spin.setValue(1000.0)),
        ("type a coefficient beyond 1000", lambda: card(1).coef.spin.setValue(2500.0)),
        ("drag a slider", lambda: card(2).coef.slider.setValue(-350)),
        ("put a term in group A", lambda: card(0).group.setCurrentIndex(GROUPS.index("A"))),
        ("put another in group A", lambda: card(1).group.setCurrentIndex(GROUPS.index("A"))),
        ("normalise group A", lambda: group_box("A").setChecked(True)),
        ("normalise a term", lambda: card(2).normalize.setChecked(True)),
        ("project a term out", lambda: card(2).project_out.setChecked(True)),
        ("normalise the result", lambda: canvas.norm_result.setChecked(True)),
        ("remove a term", lambda: card(0).remove_button.click()),
        ("clear", lambda: canvas.model.clear()),
    ]
    for what, edit in edits:
        before = canvas.model.to_dict()
        edit()
        after = canvas.model.to_dict()
        assert after != before, what
        assert_widgets_show_state(canvas)
        # The step on top of the stack may hold earlier value edits merged into it (a drag).
        top = ctx.undo.command(ctx.undo.index() - 1)
        expected_before = top.before
        ctx.undo.undo()
        assert canvas.model.to_dict() == expected_before, what
        assert_widgets_show_state(canvas)
        ctx.undo.redo()
        assert canvas.model.to_dict() == after, what
        assert_widgets_show_state(canvas)

    # Undo everything, step by step, then redo everything: the widgets follow at every step.
    while ctx.undo.canUndo() and ctx.undo.command(ctx.undo.index() - 1).text() == "Edit the canvas":
        ctx.undo.undo()
        assert_widgets_show_state(canvas)
    assert canvas.model.terms == []
    while ctx.undo.canRedo():
        ctx.undo.redo()
        assert_widgets_show_state(canvas)


def test_the_reported_case_coefficient_1000_then_ctrl_z(qtbot, loaded_window):
    w = loaded_window
    _add_concepts(w, ["happy"])
    canvas = w.view("canvas")
    canvas.add_term("happy")
    canvas.terms.cards[0].coef.spin.setValue(1000.0)
    assert canvas.model.terms[0].coefficient == 1000.0
    w.ctx.undo.undo()
    assert canvas.model.terms[0].coefficient == 1.0
    assert canvas.terms.cards[0].coef.spin.value() == 1.0
    assert canvas.terms.cards[0].coef.slider.value() == 100
    assert canvas.expression.text() == "happy"


def test_programmatic_changes_and_reopen_show_in_the_widgets(qtbot, loaded_window, tmp_path):
    w = loaded_window
    ctx = w.ctx
    _add_concepts(w, ["happy", "formal"])
    canvas = w.view("canvas")
    canvas.add_term("happy", 2.0)
    canvas.add_term("formal", -0.5, group="B")
    canvas.model.update(0, coefficient=7.25, normalize=True)  # not through a widget
    canvas.model.set_group_normalize("B", True)
    assert_widgets_show_state(canvas)
    layout = canvas.model.to_dict()
    path = tmp_path / "sync.wbproj"
    assert ctx.project.save_as(path)
    canvas.shutdown()  # the pending layout write happens now
    w.close()
    w2 = make_window(qtbot, project=path)
    try:
        c2 = w2.view("canvas")
        assert c2.model.to_dict() == layout
        assert_widgets_show_state(c2)
    finally:
        w2.close()
