"""An undone delete puts the concept back where it was: its place in the library (the dock's
rows too) and its term on the canvas, with the same coefficient."""

from __future__ import annotations

import torch

from workbench.concepts.concept import Concept


def test_undoing_a_delete_keeps_the_library_order_and_the_canvas(qtbot, loaded_window):
    w = loaded_window
    ctx = w.ctx
    hm = ctx.state.model().hm
    for n in ("north", "east", "south", "west"):
        w.library_dock.add_concept(
            Concept(n, {"blocks.1.hook_resid_post": torch.randn(hm.d_model)}, hm.ref)
        )
    canvas = w.view("canvas")
    for name, coef in (("north", 1.0), ("east", -0.5), ("south", 2.0)):
        canvas.add_term(name, coef)
    terms = list(canvas.model.terms)
    dock_rows = [w.library_dock.model.name(r) for r in range(w.library_dock.model.rowCount())]
    ctx.state.selected_concepts = ("east", "south")
    w.library_dock.delete_selected()
    assert ctx.state.concept_names() == ["north", "west"]
    ctx.undo.undo()
    assert ctx.state.concept_names() == ["north", "east", "south", "west"]
    assert ctx.state.project.concept_names() == ["north", "east", "south", "west"]
    rows = [w.library_dock.model.name(r) for r in range(w.library_dock.model.rowCount())]
    assert rows == dock_rows
    assert canvas.model.terms == terms  # same index, same coefficient
    assert [c.name.toolTip() for c in canvas.terms.cards] == ["north", "east", "south"]
    ctx.undo.redo()  # and again: deleted, then back in place
    ctx.undo.undo()
    assert ctx.state.concept_names() == ["north", "east", "south", "west"]
