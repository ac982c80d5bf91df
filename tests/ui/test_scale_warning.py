"""The canvas and the Preview form warn when the steering addition is large next to the
residual stream at the site; the numbers are the engine's (workbench.concepts.steering_scale)."""

from __future__ import annotations

import pytest
import torch
from ui_helpers import wait_idle

from workbench.concepts.concept import Concept
from workbench.concepts.steering_scale import residual_norms

SITE = "blocks.1.hook_resid_post"


def _add(w, name, scale):
    """A concept whose vector at SITE has norm ``scale`` × the stream's typical norm there."""
    hm = w.ctx.state.model().hm
    typical = residual_norms(hm, [SITE])[SITE]
    v = torch.ones(hm.d_model) / hm.d_model**0.5 * typical * scale
    w.library_dock.add_concept(Concept(name, {SITE: v}, hm.ref))
    return typical


def test_the_canvas_warns_when_its_result_outweighs_the_stream(qtbot, loaded_window):
    w = loaded_window
    ctx = w.ctx
    typical = _add(w, "big", 5.0)
    _add(w, "small", 0.1)
    canvas = w.view("canvas")
    canvas.add_term("small", 1.0)
    canvas.recompute()
    wait_idle(qtbot, ctx)
    assert canvas.result is not None and canvas.result.scale.level == "ok"
    assert canvas.scale_warning.isHidden()
    canvas.add_term("big", 2.0)  # ‖2·big + small‖ ≈ 10.1 × the stream
    canvas.recompute()
    wait_idle(qtbot, ctx)
    s = canvas.result.scale
    assert s.residual_norm == pytest.approx(typical)
    assert s.ratio == pytest.approx(10.1, rel=1e-3)
    assert not canvas.scale_warning.isHidden()
    assert (
        "will likely break" in canvas.scale_warning.text()
        and "10.1×" in canvas.scale_warning.text()
    )
    canvas.model.remove(1)  # back to 0.1 × the stream
    canvas.recompute()
    wait_idle(qtbot, ctx)
    assert canvas.scale_warning.isHidden()


def test_preview_warns_from_the_coefficient_times_the_norm(qtbot, loaded_window):
    w = loaded_window
    ctx = w.ctx
    _add(w, "unit", 1.0)  # ‖v‖ = the stream's typical norm
    preview = w.view("preview")
    preview.form.vector = "unit"
    preview.form.site = SITE
    preview.form.coefficient = 0.5
    wait_idle(qtbot, ctx)
    assert preview.scale_warning.isHidden()  # half the stream: no warning
    preview.form.coefficient = -1.0
    assert not preview.scale_warning.isHidden()
    assert "1.0×" in preview.scale_warning.text() and "may degrade" in preview.scale_warning.text()
    preview.form.coefficient = 8.0
    text = preview.scale_warning.text()
    assert "8.0×" in text and "will likely break" in text
    assert preview.scale_warning.scale.ratio == pytest.approx(8.0, rel=1e-4)
