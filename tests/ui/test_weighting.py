"""Per-token weights in the window: the weighting form, Preview (weights of 1 = plain; zero
weights steer nothing) and Sweep (the spec carries the weighting)."""

from __future__ import annotations

import pytest
import torch
from ui_helpers import wait_idle

from workbench.concepts.concept import Concept


def test_weighting_form(qtbot):
    from ui.panels.weighting import TokenWeightingWidget

    w = TokenWeightingWidget()
    qtbot.addWidget(w)
    assert w.weighting() is None and w.token_weights(torch.ones(4)) is None
    w.set_mode("given")
    w.values.setText("0, 0.5, 1")
    assert w.weighting() == {"mode": "given", "values": [0.0, 0.5, 1.0], "rest": 1.0}
    w.values.setText("0, x")
    with pytest.raises(Exception, match="commas"):
        w.weighting()
    w.set_mode("projection")
    w.scale.setValue(2.0)
    w.invert.setChecked(True)
    d = w.weighting()
    assert d["mode"] == "projection" and d["scale"] == 2.0 and d["invert"] is True
    assert w.token_weights(torch.ones(4)).describe()["mode"] == "projection"


def _steer(qtbot, w, mode, values="1"):
    preview = w.view("preview")
    preview.vector.setCurrentText("dir")
    preview.site.setCurrentText("blocks.1.hook_resid_post")
    preview.coef.setValue(8.0)
    preview.prompt.setPlainText("I feel")
    preview.sampling.max_tokens.setValue(5)
    preview.weighting.set_mode(mode)
    preview.weighting.values.setText(values)
    preview.generate()
    wait_idle(qtbot, w.ctx)
    assert preview.last is not None, w.ctx.errors.history
    return preview.last


@pytest.mark.slow
def test_preview_and_sweep_take_the_weighting(qtbot, loaded_window):
    w = loaded_window
    hm = w.ctx.state.model().hm
    v = torch.randn(hm.d_model, generator=torch.Generator().manual_seed(0)) * 4
    w.library_dock.add_concept(Concept("dir", {"blocks.1.hook_resid_post": v}, hm.ref))
    plain = _steer(qtbot, w, "plain")
    ones = _steer(qtbot, w, "given", "1")
    assert ones.steered == plain.steered
    zeros = _steer(qtbot, w, "given", "0")
    assert zeros.steered == zeros.baseline
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("dir")
    sweep.layers.setText("1")
    sweep.coefs.setText("0, 4")
    sweep.tokens.setValue(2)
    sweep.targets.setText("good")
    sweep.weighting.set_mode("projection")
    sweep.run()
    wait_idle(qtbot, w.ctx)
    assert sweep.result is not None, w.ctx.errors.history
    assert sweep.result.spec.weighting["mode"] == "projection"
