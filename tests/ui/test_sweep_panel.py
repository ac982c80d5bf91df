"""The Sweep tab runs the engine's batched sweep on a prompt set; a function vector is swept as
its held-out accuracy was measured."""

from __future__ import annotations

import torch
from ui_helpers import wait_idle

from workbench.concepts.concept import Concept


def test_function_vector_sweeps_its_held_out_words(qtbot, loaded_window):
    w = loaded_window
    ctx = w.ctx
    hm = ctx.state.model().hm
    rows = [["hot", "cold"], ["big", "small"], ["good", "bad"], ["happy", "sad"], ["yes", "no"]]
    w.prompts_dock.create_set("opp", "demonstrations", rows)
    recipe = {
        "method": "function_vector",
        "prompts": {"name": "opp", "kind": "demonstrations", "template": "{input} is {output}"},
        "held_out": {"words": ["good", "yes"]},
    }
    g = torch.Generator().manual_seed(0)
    fv = Concept(
        "fv:opp", {"blocks.1.hook_resid_post": torch.randn(hm.d_model, generator=g)}, hm.ref, recipe
    )
    w.library_dock.add_concept(fv)
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("fv:opp")
    sweep.prompt_source.setCurrentIndex(sweep.prompt_source.findData("opp"))
    sweep.layers.setText("0, 1")  # the vector is stored at layer 1 only: added at both
    sweep.coefs.setText("0, 2")
    sweep.tokens.setValue(2)
    sweep.targets.setText("")
    sweep.run()
    wait_idle(qtbot, ctx)
    r = sweep.result
    assert r is not None, ctx.errors.history
    assert r.prompts == ["good is", "yes is"] and r.spec.answers == ("bad", "no")
    assert r.spec.positions == "last_prompt"
    assert r.spec.vector_site == "blocks.1.hook_resid_post"
    assert "accuracy" in r.metrics and r.metrics["kl"][1][0] == 0.0  # coefficient 0
    assert "Accuracy: unsteered" in sweep.status.text()
    assert "2 prompt(s)" in sweep.status.text()


def test_a_metric_the_sweep_lacks_shows_no_other_runs_heatmap(qtbot, loaded_window):
    from ui_helpers import TINY_PAIRS

    w = loaded_window
    w.prompts_dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    hm = w.ctx.state.model().hm
    w.library_dock.add_concept(
        Concept("probe", {"blocks.1.hook_resid_post": torch.ones(hm.d_model)}, hm.ref)
    )
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("probe")
    sweep.layers.setText("1")
    sweep.coefs.setText("0, 1")
    sweep.tokens.setValue(2)
    sweep.targets.setText("good")
    sweep.run()
    wait_idle(qtbot, w.ctx)
    assert sweep.heat_stack.currentWidget() is sweep.heatmap  # KL is drawn
    sweep.heatmap_metric.setCurrentIndex(sweep.heatmap_metric.findData("accuracy"))
    assert sweep.heat_stack.currentWidget() is sweep.heat_placeholder
    assert "no task accuracy" in sweep.heat_placeholder.text()
