"""Messages say what to do, in the window's words (issue 18 item 8): a control vector opened as
a model is recognised as a steering vector and offered for import; empty forms say which box
to fill instead of naming a Python argument or an empty site."""

from __future__ import annotations

import torch
from ui_helpers import wait_idle

from workbench.concepts.concept import Concept
from workbench.io.gguf_control import is_control_vector, write


def test_a_control_vector_opened_as_a_model_is_offered_for_import(qtbot, loaded_window, tmp_path):
    w = loaded_window
    hm = w.ctx.state.model().hm
    c = Concept("calm", {"blocks.1.hook_resid_post": torch.ones(hm.d_model)}, hm.ref)
    path = tmp_path / "calm.gguf"
    write(c, path, model_hint="llama")
    assert is_control_vector(path) and not is_control_vector(tmp_path / "missing.gguf")
    n_models = len(w.ctx.state.models)
    assert w.models_dock.load(str(path)) == -1  # no model load started
    wait_idle(qtbot, w.ctx)
    assert len(w.ctx.state.models) == n_models
    assert any(n.startswith("calm") for n in w.ctx.state.concept_names()), w.ctx.errors.history
    assert not any("controlvector" in str(e) for e in w.ctx.errors.history)


def test_empty_forms_say_which_box_to_fill(qtbot, loaded_window):
    w = loaded_window
    sweep = w.view("sweep")
    assert sweep.concept.currentText() == ""
    assert sweep.run() is None
    assert "Choose a concept to sweep" in sweep.status.text()
    preview = w.view("preview")
    hm = w.ctx.state.model().hm
    w.library_dock.add_concept(
        Concept("elsewhere", {"blocks.1.hook_resid_post": torch.ones(hm.d_model)}, hm.ref)
    )
    preview.vector.setCurrentText("elsewhere")
    preview.site.clear()
    assert preview.generate() is None
    assert "Choose a site" in preview.status.text()
    for text in [m for _, m in w.ctx.errors.history]:
        assert "fmt=" not in text and "vector at ;" not in text
