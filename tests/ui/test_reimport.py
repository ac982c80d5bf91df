"""In the window, an import never replaces: the same vector file twice gives two concepts (the
second under a new id), the same prompt-set file twice gives two sets, and a vector with NaN is
refused with the concept and site named, leaving the library as it was."""

from __future__ import annotations

import torch
from ui_helpers import wait_idle


def test_imports_never_replace(qtbot, loaded_window, tmp_path):
    from safetensors.torch import save_file

    from workbench.io.vector_files import export_concept

    w = loaded_window
    m = w.ctx.state.model()
    site = "blocks.1.hook_resid_post"
    lib = w.library_dock
    save_file({site: torch.randn(m.hm.d_model)}, str(tmp_path / "plain.safetensors"))
    assert lib.import_vector(str(tmp_path / "plain.safetensors"))
    path = export_concept(w.ctx.concepts.get("plain"), tmp_path / "ours.safetensors")
    assert lib.import_vector(str(path))
    assert lib.import_vector(str(path))
    wait_idle(qtbot, w.ctx)
    infos = {c.name: c.id for c in w.ctx.state.concepts}
    assert {"plain", "plain 2", "plain 3"} <= set(infos)
    assert len({infos["plain"], infos["plain 2"], infos["plain 3"]}) == 3  # nobody replaced
    a, b = w.ctx.concepts.get("plain 2"), w.ctx.concepts.get("plain 3")
    assert torch.equal(a.vectors[site], b.vectors[site])

    before = list(w.ctx.state.concept_names())
    bad = torch.randn(m.hm.d_model)
    bad[0] = float("nan")
    save_file({site: bad}, str(tmp_path / "nan.safetensors"))
    assert not lib.import_vector(str(tmp_path / "nan.safetensors"))
    context, message = w.ctx.errors.history[-1]
    assert "nan.safetensors" in context and f"1 NaN value(s) of {m.hm.d_model} at {site}" in message
    assert w.ctx.state.concept_names() == before

    csv = tmp_path / "mine.csv"
    csv.write_text("positive,negative\nI am glad,I am sad\n")
    dock = w.prompts_dock
    assert dock.import_file(str(csv)) and dock.import_file(str(csv))
    names = [p["name"] for p in w.ctx.state.prompt_sets]
    assert "mine" in names and "mine 2" in names
