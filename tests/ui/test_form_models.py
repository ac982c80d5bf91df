"""The Preview and Sweep forms are views of Qt-free evented models (issue 17 item 3): a field
set in code shows in its widget, a widget edited by its user writes its field, and a saved
sweep shown again goes through the model."""

from __future__ import annotations

import torch
from ui_helpers import wait_idle

from ui.panels.forms import PreviewForm, SweepForm
from workbench.concepts.concept import Concept


def test_sweep_form_fields_and_widgets_follow_each_other(qtbot, loaded_window):
    w = loaded_window
    hm = w.ctx.state.model().hm
    for n in ("happy", "formal"):
        w.library_dock.add_concept(
            Concept(n, {"blocks.1.hook_resid_post": torch.ones(hm.d_model)}, hm.ref)
        )
    sweep = w.view("sweep")
    f = sweep.form
    assert isinstance(f, SweepForm)
    # code -> widgets
    f.concept, f.layers, f.coefficients, f.new_tokens = "formal", "1", "0, 2", 3
    f.targets, f.heatmap_metric, f.prompt = "", "target_logprob", "Hello there"
    assert sweep.concept.currentText() == "formal" and sweep.layers.text() == "1"
    assert sweep.coefs.text() == "0, 2" and sweep.tokens.value() == 3
    assert sweep.heatmap_metric.currentData() == "target_logprob"
    assert sweep.prompt.text() == "Hello there"
    # widgets (a user) -> fields
    sweep.concept.setCurrentText("happy")
    sweep.tokens.setValue(2)
    sweep.targets.setText("good")
    assert (f.concept, f.new_tokens, f.targets) == ("happy", 2, "good")
    # a run reads the form; a saved sweep shown again writes it
    sweep.run()
    wait_idle(qtbot, w.ctx)
    assert sweep.result is not None, w.ctx.errors.history
    f.concept, f.layers, f.new_tokens = "formal", "0", 7
    assert sweep.show_run(sweep.run_id)
    assert (f.concept, f.layers, f.coefficients, f.new_tokens) == ("happy", "1", "0, 2", 2)
    assert sweep.concept.currentText() == "happy" and sweep.tokens.value() == 2


def test_preview_form_fields_and_widgets_follow_each_other(qtbot, loaded_window):
    w = loaded_window
    hm = w.ctx.state.model().hm
    w.library_dock.add_concept(
        Concept(
            "happy", {f"blocks.{L}.hook_resid_post": torch.ones(hm.d_model) for L in (0, 1)}, hm.ref
        )  # fmt: skip
    )
    preview = w.view("preview")
    f = preview.form
    assert isinstance(f, PreviewForm)
    f.vector = "happy"
    assert preview.vector.currentText() == "happy"
    f.site = "blocks.0.hook_resid_post"
    f.coefficient = 7.5
    f.prompt = "Once upon a time"
    assert preview.site.currentText() == "blocks.0.hook_resid_post"
    assert preview.coef.value() == 7.5 and preview.coef.slider.value() == 750
    assert preview.prompt.toPlainText() == "Once upon a time"
    preview.coef.spin.setValue(-2.0)
    preview.site.setCurrentText("blocks.1.hook_resid_post")
    assert f.coefficient == -2.0 and f.site == "blocks.1.hook_resid_post"
    assert f.model_key == w.ctx.state.active_model
