"""The Analyses tab through its real widgets on the tiny model: logit lens and patching run,
draw, export and land in the project; a bad input is a message, not a traceback."""

from __future__ import annotations

import pytest
from ui_helpers import wait_idle

pytestmark = pytest.mark.slow  # a real window and four engine jobs each


@pytest.fixture
def analyses(qtbot, loaded_window):
    w = loaded_window
    panel = w.view("analysis")
    assert panel is not None, "the Analyses tab is registered in ui.main_window"
    w.tabs.setCurrentWidget(panel)
    return w, panel


def _id(record):  # the store's listings: dicts, or typed records since issue 17
    return record["id"] if isinstance(record, dict) else record.id


def _run(qtbot, w, page):
    n_errors = len(w.ctx.errors.history)
    assert page.start() is not None, w.ctx.errors.history
    wait_idle(qtbot, w.ctx)
    assert len(w.ctx.errors.history) == n_errors, w.ctx.errors.history
    assert page.status.text().startswith("Done"), page.status.text()


def test_logit_lens_page(qtbot, analyses, tmp_path):
    w, panel = analyses
    page = panel.show_page("logit_lens")
    page.prompt.setText("the capital of France is")
    page.target.setText("Paris")
    _run(qtbot, w, page)
    lens = page.last.result
    assert lens.kind == "logit_lens" and len(lens.rows) == 4  # embed + 3 tiny blocks
    assert not page.figure.pixmap().isNull() and page.export_button.isEnabled()
    p = w.ctx.state.project
    runs = p.runs("logit_lens")
    assert len(runs) == 1 and _id(runs[0]) == page.run_id
    assert any(_id(f) == page.figure_id for f in p.figures())
    for ext in ("png", "svg", "pdf"):
        out = page.export(str(tmp_path / f"lens.{ext}"))
        assert out.endswith(ext) and (tmp_path / f"lens.{ext}").stat().st_size > 0
    # the stored figure is listed on the page and shows again from the project
    assert page.stored.count() == 1 and page.stored.itemData(0) == page.figure_id
    page.spec = None
    page._show_stored(0)
    assert page.spec is not None and page.spec["figure"] == "logit_lens"
    assert page.status.text().startswith("Stored figure")


def test_patching_page_and_a_clear_error(qtbot, analyses):
    w, panel = analyses
    page = panel.show_page("patching")
    page.clean.setText("the capital of France is")
    page.corrupted.setText("the capital of London is")
    page.target.setText("Paris")
    page.foil.setText("London")
    page.component.setCurrentIndex(page.component.findData("mlp_out"))
    _run(qtbot, w, page)
    res = page.last.result
    assert res.component == "mlp_out" and len(res.values) == 3
    assert "Clean" in page.status.text()
    assert len(w.ctx.state.project.runs("activation_patching")) == 1
    # prompts of different token counts: a message through the error handler, nothing run
    page.corrupted.setText("the capital of the London is")
    n = len(w.ctx.errors.history)
    page.start()
    wait_idle(qtbot, w.ctx)
    assert len(w.ctx.errors.history) == n + 1
    assert "same number of tokens" in str(w.ctx.errors.history[-1])


def test_subspace_page(qtbot, analyses):
    w, panel = analyses
    page = panel.show_page("subspace")
    page.clean.setText("the capital of France is")
    page.corrupted.setText("the capital of London is")
    page.target.setText("Paris")
    page.foil.setText("London")
    page.layer.setValue(1)
    page.dir_a.setText("the capital of king is")
    page.dir_b.setText("the capital of queen is")
    _run(qtbot, w, page)
    res = page.last.result
    assert res.kind == "subspace_patching" and res.site == "blocks.1.mlp.hook_post"
    assert res.metrics["along v_null"] == pytest.approx(res.metrics["corrupted"], abs=1e-6)
    assert "restored" in page.status.text()


def test_logit_attribution_and_head_ov_pages(qtbot, analyses):
    w, panel = analyses
    page = panel.show_page("layer_dla")
    page.prompts.setPlainText("the capital of France is\nthe king of France is")
    page.target.setText("Paris")
    page.foil.setText("London")
    _run(qtbot, w, page)
    res = page.last.result
    assert len(res.mlp) == 3 and len(res.prompts) == 2 and abs(res.residual) < 1e-4
    assert page.last.spec["cols"][-1] == "MLP"
    page = panel.show_page("head_ov")
    page.layer.setValue(1)
    page.head.setValue(3)
    page.tokens.setText("one, two, Monday, notaword")
    _run(qtbot, w, page)
    ov = page.last.result
    assert (ov.layer, ov.head) == (1, 3) and ov.skipped == ["notaword"]
    assert "skipped" in page.status.text()
    assert len(w.ctx.state.project.runs("head_ov")) == 1


def test_subspace_page_takes_v_from_a_concept(qtbot, analyses):
    """The direction picker: the chosen concept's vector at the layer's block output is v
    (the same numbers as the engine job given that vector); a wrong site or layer says so."""
    import torch

    from workbench.analysis.subspace import subspace_patching_job
    from workbench.concepts.concept import Concept
    from workbench.jobs import run

    w, panel = analyses
    hm = w.ctx.state.model().hm
    g = torch.Generator().manual_seed(3)
    vecs = {f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g) for L in (0, 1)}
    w.library_dock.add_concept(Concept("capital-ness", vecs, hm.ref))
    page = panel.show_page("subspace")
    assert page.concept.findData("capital-ness") > 0  # the project's concepts are offered
    page.clean.setText("the capital of France is")
    page.corrupted.setText("the capital of London is")
    page.target.setText("Paris")
    page.foil.setText("London")
    page.layer.setValue(2)  # the concept has no vector there: the picker moves the layer
    page.concept.setCurrentIndex(page.concept.findData("capital-ness"))
    assert page.site.currentData() == "resid_post" and page.layer.value() in (0, 1)
    assert not page.dir_a.isEnabled() and "0–1" in page.concept_note.text()
    page.layer.setValue(0)
    _run(qtbot, w, page)
    res = page.last.result
    assert res.site == "blocks.0.hook_resid_post" and "capital-ness" in res.direction_source
    want = run(subspace_patching_job(hm, "the capital of France is", "the capital of London is",
                                     "Paris", "London", layer=0, site="resid_post",
                                     direction=vecs["blocks.0.hook_resid_post"]))  # fmt: skip
    assert res.metrics == pytest.approx(want.metrics)
    # a concept at the MLP's hidden activations, or at a layer it lacks: a message, no run
    for site, layer, says in (("mlp_post", 0, "Block output"), ("resid_post", 2, "no vector")):
        page.site.setCurrentIndex(page.site.findData(site))
        page.layer.setValue(layer)
        n = len(w.ctx.errors.history)
        assert page.start() is None
        assert len(w.ctx.errors.history) == n + 1 and says in str(w.ctx.errors.history[-1])
    # back to the prompt pair: the prompts are used again
    page.concept.setCurrentIndex(0)
    assert page.dir_a.isEnabled()
