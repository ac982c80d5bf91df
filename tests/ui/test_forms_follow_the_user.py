"""The Sweep and Preview forms change only when their user changes them, or on an explicit
"Use selected" (issue 18 item 5: a click in the library silently changed the concept boxes,
which caused a failed sweep and a form that did not match the saved sweep beside it)."""

from __future__ import annotations

import torch
from ui_helpers import wait_idle

from workbench.concepts.concept import Concept


def _add(w, names):
    hm = w.ctx.state.model().hm
    g = torch.Generator().manual_seed(0)
    for n in names:
        vecs = {
            f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g)
            for L in range(hm.n_layers)
        }
        w.library_dock.add_concept(Concept(n, vecs, hm.ref))


def _click_in_library(w, name):
    lib = w.library_dock
    for row in range(lib.model.rowCount()):
        if lib.model.name(row) == name:
            lib.view.setCurrentIndex(lib.model.index(row, 0))
            break
    assert w.ctx.state.selected_concepts == (name,)


def test_a_library_click_leaves_the_forms_and_use_selected_takes_it(qtbot, loaded_window):
    w = loaded_window
    _add(w, ["happy", "formal"])
    sweep, preview = w.view("sweep"), w.view("preview")
    sweep.concept.setCurrentText("happy")
    preview.vector.setCurrentText("happy")
    layers_before = sweep.layers.text()
    _click_in_library(w, "formal")
    assert sweep.concept.currentText() == "happy"  # unchanged
    assert preview.vector.currentText() == "happy"
    assert sweep.layers.text() == layers_before
    assert sweep.use_selected_button.isEnabled() and preview.use_selected_button.isEnabled()
    sweep.use_selected_button.click()
    assert sweep.concept.currentText() == "formal"
    assert preview.vector.currentText() == "happy"  # each form on its own
    preview.use_selected_button.click()
    assert preview.vector.currentText() == "formal"


def test_a_reopened_saved_sweep_keeps_its_form_whatever_is_selected(qtbot, loaded_window):
    w = loaded_window
    ctx = w.ctx
    _add(w, ["happy", "formal"])
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("happy")
    sweep.layers.setText("1")
    sweep.coefs.setText("0, 1")
    sweep.tokens.setValue(2)
    sweep.targets.setText("")
    sweep.run()
    wait_idle(qtbot, ctx)
    assert sweep.result is not None and sweep.run_id is not None, ctx.errors.history
    _click_in_library(w, "formal")
    assert sweep.concept.currentText() == "happy"
    # showing the saved sweep again sets the form to what it ran, and a click keeps it so
    sweep.concept.setCurrentText("formal")
    assert sweep.show_run(sweep.run_id)
    assert sweep.concept.currentText() == "happy" and sweep.layers.text() == "1"
    _click_in_library(w, "formal")
    assert sweep.concept.currentText() == "happy"


def test_the_canvas_result_reaches_the_preview_through_the_app_state(qtbot, loaded_window):
    w = loaded_window
    _add(w, ["happy", "formal"])
    canvas, preview = w.view("canvas"), w.view("preview")
    assert canvas.model is w.ctx.state.canvas
    canvas.add_term("happy", 2.0)
    canvas.send_to_preview()
    assert preview.vector.currentText().startswith("⟨canvas")
    assert w.tabs.currentWidget() is preview
    assert preview.site.count() == w.ctx.state.model().hm.n_layers
    c = preview.concept()
    # the library's "→ Canvas" adds to the same canvas (through the app state)
    w.ctx.state.selected_concepts = ("formal",)
    w.library_dock.add_selected_to_canvas()
    assert [t.concept for t in w.ctx.state.canvas.terms] == ["happy", "formal"]
    assert [card.name.toolTip() for card in canvas.terms.cards] == ["happy", "formal"]
    canvas.model.remove(1)
    assert c is not None and torch.allclose(
        c.vector("blocks.1.hook_resid_post"),
        2.0 * w.ctx.concepts.get("happy").vector("blocks.1.hook_resid_post"),
    )
