"""The whole workflow through real widgets on a tiny model: load, extract, combine on the
canvas, preview, sweep, save, close, reopen, export."""

from __future__ import annotations

import csv

import pytest
import torch
from ui_helpers import TINY_PAIRS, make_window, wait_idle


def _extract(qtbot, w, ps, method, name):
    n = w.ctx.state.model().hm.n_layers
    with qtbot.waitSignal(w.ctx.state.events.concepts, timeout=30000):
        w.library_dock.extract(
            ps, method, [f"blocks.{L}.hook_resid_post" for L in range(n)], name=name
        )
    wait_idle(qtbot, w.ctx)
    assert w.ctx.state.concept_info(name), w.ctx.errors.history


def test_full_workflow(qtbot, loaded_window, tmp_path):
    w = loaded_window
    ctx = w.ctx
    # prompts: typed pairs and an imported CSV (through the drop handler)
    w.prompts_dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    csv_path = tmp_path / "weather.csv"
    csv_path.write_text(
        "positive,negative\nthe weather is hot,the weather is cold\nit is hot today,it is cold today\n"
    )
    w.open_dropped(str(csv_path))
    assert ctx.state.current_prompt_set == "weather" and w.prompts_dock.table.rowCount() == 2
    # inline edit of a cell is saved to the project
    w.prompts_dock.table.item(0, 0).setText("the weather is very hot")
    w.prompts_dock.save_current()
    assert ctx.state.project.prompt_set("weather").items[0]["positive"] == "the weather is very hot"

    _extract(qtbot, w, "tiny-sentiment", "diff_of_means", "happy")
    _extract(qtbot, w, "weather", "diff_of_means", "hot")
    lib = w.library_dock
    assert lib.model.rowCount() == 2
    assert lib.model.name(0) == "hot"  # newest first

    # search filters the list (in the store's SQL)
    lib.search.setText("hap")
    lib.apply_search()
    assert lib.model.rowCount() == 1 and lib.model.name(0) == "happy"
    lib.search.setText("")
    lib.apply_search()
    # rename, undo, redo
    ctx.state.selected_concepts = ("hot",)
    lib.rename_selected("warm")
    assert ctx.state.concept_info("warm") and not ctx.state.concept_info("hot")
    ctx.undo.undo()
    assert ctx.state.concept_info("hot")
    ctx.undo.redo()
    assert ctx.state.concept_info("warm")
    # diagnostics of the selection: recipe and norm plot
    ctx.state.selected_concepts = ("happy",)
    assert "diff_of_means" in lib.details.recipe.toPlainText()
    assert lib.details.norm_plot.spec["x"] == [0, 1, 2]
    wait_idle(qtbot, ctx)  # logit lens
    assert "Promotes" in lib.details.lens_text.text()

    # compare: cosine matrix heatmap
    ctx.state.selected_concepts = ("happy", "warm")
    lib.compare_selected()
    spec = lib._compare.spec
    assert spec["rows"] == ["happy", "warm"] and spec["values"][0][0] == pytest.approx(
        1.0, abs=1e-4
    )
    lib._compare.close()

    # canvas: two terms, a negative coefficient, project out, live diagnostics, save
    canvas = w.view("canvas")
    canvas.terms.concepts_dropped.emit(["happy", "warm"])
    assert len(canvas.terms.cards) == 2
    canvas.terms.cards[1].coef.setValue(-0.5)
    assert canvas.expression.text() == "happy - 0.5*warm"
    with qtbot.waitSignal(ctx.executor.job_finished, timeout=10000):
        canvas.recompute()
    wait_idle(qtbot, ctx)
    assert canvas.result is not None and set(canvas.result.cosines) == {"happy", "warm"}
    assert canvas.result.lens is not None and canvas.plot.spec["x"] == [0, 1, 2]
    canvas.add_term("warm")
    canvas.terms.cards[2].project_out.setChecked(True)
    assert canvas.expression.text() == "project_out(happy - 0.5*warm, warm)"
    wait_idle(qtbot, ctx)
    combo = canvas.save_result("happy not warm")
    assert combo is not None and ctx.state.concept_info("happy not warm")
    warm = ctx.concepts.get("warm").vectors["blocks.2.hook_resid_post"]
    assert float(torch.dot(combo.vectors["blocks.2.hook_resid_post"], warm)) == pytest.approx(
        0.0, abs=1e-4
    )
    assert combo.recipe["expression"] == "project_out(happy - 0.5*warm, warm)"

    # preview with the canvas result
    canvas.send_to_preview()
    preview = w.view("preview")
    assert preview.vector.currentText().startswith("⟨canvas")
    preview.sampling.max_tokens.setValue(4)
    preview.generate()
    wait_idle(qtbot, ctx)
    assert preview.last is not None, ctx.errors.history

    # sweep: 2 layers × 3 coefficients
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("happy")
    sweep.layers.setText("0, 2")
    sweep.coefs.setText("-4, 0, 4")
    sweep.tokens.setValue(3)
    sweep.targets.setText("good, bad")
    sweep.run()
    wait_idle(qtbot, ctx)
    r = sweep.result
    assert r is not None, ctx.errors.history
    assert r.layers == [0, 2] and r.coefficients == [-4.0, 0.0, 4.0]
    assert sweep.grid.item(1, 2).text() == r.texts[1][2][0].strip()
    assert r.metrics["kl"][0][1] == pytest.approx(0.0, abs=1e-5)  # coefficient 0 changes nothing
    assert r.texts[0][1] == r.baselines
    assert sweep.heatmap.spec["rows"] == [0, 2]
    assert ctx.state.project.runs("sweep")[0].name == "happy sweep"
    assert len(ctx.state.project.generations("text", images=False)) == 1 + 6

    # exports: every vector format, figures, CSV
    from workbench.io.vector_files import FORMATS

    ctx.state.selected_concepts = ("happy",)
    written = []
    for name, f in FORMATS.items():
        if f.can_export:
            out = lib.export_selected(
                str(tmp_path / f"happy{f.default_extension}"), name, site="blocks.1.hook_resid_post"
            )
            assert out is not None and out.exists(), (name, ctx.errors.history[-1:])
            written.append(name)
    assert {"safetensors", "gguf", "npy", "neuronpedia"} <= set(written)
    from workbench import figures

    for fmt in ("png", "svg", "pdf"):
        p = figures.export(sweep.heatmap.spec, tmp_path / f"sweep.{fmt}")
        assert p.stat().st_size > 1000
    assert b"<svg" in (tmp_path / "sweep.svg").read_bytes()
    figures.export(lib.details.norm_plot.spec, tmp_path / "norms.pdf")
    w.view("generations").export_csv(str(tmp_path / "gens.csv"))
    rows = list(csv.DictReader((tmp_path / "gens.csv").read_text(encoding="utf-8").splitlines()))
    assert (
        len(rows) == 7 and rows[-1]["concept"] == "happy" and "sampling" in rows[-1]["provenance"]
    )
    sweep.export_csv(str(tmp_path / "grid.csv"))
    assert len(list(csv.reader((tmp_path / "grid.csv").read_text().splitlines()))) == 7

    # save as, close, reopen
    target = tmp_path / "study.wbproj"
    scratch = ctx.state.project.path
    assert ctx.project.has_unsaved_work()
    assert ctx.project.save_as(target)
    assert not scratch.exists() and not ctx.state.project_is_scratch
    assert "study.wbproj" in w.windowTitle()
    canvas_terms = [t.concept for t in canvas.model.terms]
    w.close()
    assert not w.isVisible()

    w2 = make_window(qtbot, project=target)
    try:
        names = w2.ctx.state.concept_names()
        assert {"happy", "warm", "happy not warm"} <= set(names)
        assert [t.concept for t in w2.view("canvas").model.terms] == canvas_terms
        assert w2.view("generations").row_count() == 7
        # the saved sweep is shown again as it was run, without recomputing
        sweep2 = w2.view("sweep")
        assert sweep2.result is not None and sweep2.result.texts == r.texts
        assert sweep2.grid.item(1, 2).text() == r.texts[1][2][0].strip()
        assert sweep2.layers.text() == "0, 2" and sweep2.coefs.text() == "-4, 0, 4"
        w2.show_panel("sweep")
        assert sweep2.heatmap is not None and sweep2.heatmap.spec["rows"] == [0, 2]
        assert "happy" in sweep2.heatmap.spec["title"]
        assert sweep2.runs.count() == 1
        assert {"tiny-sentiment", "weather"} <= {
            p["name"] for p in w2.ctx.state.prompt_sets if not p["builtin"]
        }
        happy = w2.ctx.concepts.get("happy")
        from workbench.io.vector_files import import_concept

        back = import_concept(tmp_path / "happy.safetensors")
        assert back.id == happy.id and torch.equal(
            back.vectors["blocks.1.hook_resid_post"], happy.vectors["blocks.1.hook_resid_post"]
        )
        from workbench.store.recent import recent_projects

        assert target in recent_projects()
    finally:
        w2.close()


def test_delete_is_undoable(qtbot, loaded_window):
    w = loaded_window
    w.prompts_dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    _extract(qtbot, w, "tiny-sentiment", "mean", "avg")
    before = w.ctx.concepts.get("avg")
    w.ctx.state.selected_concepts = ("avg",)
    w.library_dock.delete_selected()
    assert w.ctx.state.concept_names() == []
    assert not w.library_dock.empty.isHidden()
    w.ctx.undo.undo()
    after = w.ctx.state.project.load_concept("avg")
    assert after.id == before.id and torch.equal(
        after.vectors["blocks.0.hook_resid_post"], before.vectors["blocks.0.hook_resid_post"]
    )


def test_closing_scratch_with_work_asks(qtbot, loaded_window):
    from PySide6.QtWidgets import QMessageBox

    w = loaded_window
    w.prompts_dock.create_set("typed", "plain", [["hello there"]])
    w.ctx.project.answer = QMessageBox.StandardButton.Cancel
    w.close()
    assert w.isVisible()  # cancelled: nothing lost
    w.ctx.project.answer = QMessageBox.StandardButton.Discard
    path = w.ctx.state.project.path
    w.close()
    assert not w.isVisible() and not path.exists()


def test_extracting_from_a_table_that_cannot_be_saved_is_refused(qtbot, loaded_window):
    """Emptying a set's table leaves the last valid version in the project; extracting must
    not silently use it, and the long "Not saved" message must wrap, not widen the window."""
    from PySide6.QtWidgets import QApplication

    from workbench.errors import PromptSetError

    w = loaded_window
    w.prompts_dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    wait_idle(qtbot, w.ctx)
    width = w.width()
    dock = w.prompts_dock
    dock.table.selectAll()
    dock.remove_rows()
    assert dock.table.rowCount() == 0
    sites = ["blocks.1.hook_resid_post"]
    with pytest.raises(PromptSetError, match="not saved"):  # the pending save runs first
        w.library_dock.extract("tiny-sentiment", "diff_of_means", sites)
    assert "Not saved" in dock.count_label.text()
    QApplication.processEvents()
    assert w.width() == width
    assert not w.ctx.state.concept_names()
    # fixing the table makes it usable again
    dock.add_row()
    dock.table.item(0, 0).setText("I am glad")
    dock.table.item(0, 1).setText("I am sad")
    w.library_dock.extract("tiny-sentiment", "diff_of_means", sites)
    wait_idle(qtbot, w.ctx)
    assert len(w.ctx.state.concept_names()) == 1


def test_imported_vectors_that_name_no_model_steer_the_loaded_one(qtbot, loaded_window, tmp_path):
    """A bare safetensors tensor, a GGUF control vector (only a family hint) and a bare .npy
    with its site in the file name attach to the loaded model when the width matches; a vector
    of another width stays unattached and the import says why."""
    import numpy as np
    from safetensors.torch import save_file

    from workbench.io.vector_files import export_concept

    w = loaded_window
    m = w.ctx.state.model()
    d, site = m.hm.d_model, "blocks.1.hook_resid_post"
    lib = w.library_dock
    save_file({site: torch.randn(d)}, str(tmp_path / "bare.safetensors"))
    assert lib.import_vector(str(tmp_path / "bare.safetensors"))
    c = w.ctx.concepts.get("bare")
    assert m.ref.same_space(c.model) and "attached" in " ".join(lib.last_import_notes)
    gguf = export_concept(c, tmp_path / "bare.gguf", "gguf")
    assert lib.import_vector(str(gguf))
    assert m.ref.same_space(w.ctx.concepts.get("bare 2").model)
    np.save(tmp_path / f"v.{site}.npy", np.random.randn(d).astype("float32"))
    assert lib.import_vector(str(tmp_path / f"v.{site}.npy"))
    assert list(w.ctx.concepts.get(f"v.{site}").vectors) == [site]
    save_file({site: torch.randn(d + 8)}, str(tmp_path / "wide.safetensors"))
    assert lib.import_vector(str(tmp_path / "wide.safetensors"))
    assert not m.ref.same_space(w.ctx.concepts.get("wide").model)
    assert "cannot steer" in " ".join(lib.last_import_notes)
    # and steering with it says why, in sizes, not that it belongs to "unknown"
    preview = w.view("preview")
    preview.vector.setCurrentText("wide")
    preview.site.setCurrentText(site)
    assert preview.generate() is None
    assert f"width {d + 8}" in preview.status.text() and "cannot steer" in preview.status.text()


def test_saved_sweeps_wait_for_a_running_sweep(qtbot, loaded_window):
    """While a sweep runs, a saved one cannot replace what is shown (the list is disabled and
    show_run refuses); opening another project stops the sweep, whose results stay out of it."""
    w = loaded_window
    ctx = w.ctx
    w.prompts_dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    _extract(qtbot, w, "tiny-sentiment", "diff_of_means", "happy")
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("happy")
    sweep.layers.setText("1")
    sweep.coefs.setText("4")
    sweep.tokens.setValue(2)
    sweep.targets.setText("good, bad")  # words of the tiny model's vocabulary
    sweep.run()
    wait_idle(qtbot, ctx)
    a = sweep.run_id
    sweep.layers.setText("0, 2")
    sweep.coefs.setText("-4, 0, 4")
    sweep.run()
    assert not sweep.runs.isEnabled() and sweep.show_run(a) is False
    wait_idle(qtbot, ctx)
    assert sweep.runs.isEnabled() and sweep.run_id != a
    shown = (sweep.grid.rowCount(), sweep.grid.columnCount())
    assert shown == (len(sweep.result.layers), len(sweep.result.coefficients)) == (2, 3)
    assert not ctx.errors.history
    # a new project while a sweep runs: the sweep stops and saves nothing into it
    sweep.run()
    ctx.project.new(confirm=False)
    wait_idle(qtbot, ctx)
    assert ctx.state.project.runs("sweep") == [] and sweep.runs.isEnabled()


def test_canvas_edits_undo_and_a_refused_rename_changes_nothing(qtbot, loaded_window):
    """Ctrl+Z after a canvas edit undoes that edit (not the last library change); a slider
    drag is one step; a rename to a taken name changes neither the library, the canvas nor the
    undo history."""
    w = loaded_window
    ctx = w.ctx
    w.prompts_dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    _extract(qtbot, w, "tiny-sentiment", "diff_of_means", "happy")
    _extract(qtbot, w, "tiny-sentiment", "pca_diff", "formal")
    canvas = w.view("canvas")
    canvas.add_term("happy", 1.0)
    canvas.add_term("formal", 0.5)
    for c in (1.0, 1.5, 2.0, 2.5):  # a drag
        canvas.model.update(0, coefficient=c)
    assert canvas.model.to_text() == "2.5*happy + 0.5*formal"
    ctx.undo.undo()  # the whole drag
    assert canvas.model.to_text() == "happy + 0.5*formal"
    ctx.undo.undo()  # adding formal
    assert canvas.model.to_text() == "happy"
    ctx.undo.redo()
    assert canvas.model.to_text() == "happy + 0.5*formal"
    assert {"happy", "formal"} <= set(ctx.state.concept_names())  # no concept was touched
    # a refused rename
    depth = ctx.undo.index()
    ctx.state.selected_concepts = ("happy",)
    w.library_dock.rename_selected("formal")
    assert canvas.model.to_text() == "happy + 0.5*formal" and ctx.undo.index() == depth
    assert "already a concept named 'formal'" in ctx.errors.history[-1][1]
    # an accepted rename renames the canvas term in the same (single) undo step
    w.library_dock.rename_selected("joy")
    assert canvas.model.to_text() == "joy + 0.5*formal" and ctx.undo.index() == depth + 1
    ctx.undo.undo()
    assert canvas.model.to_text() == "happy + 0.5*formal"


def test_canvas_combines_at_shared_sites_and_clears_after_an_error(qtbot, loaded_window):
    """Concepts made at different sites combine where they overlap (the status says what was
    left out); an error leaves no stale tokens, cosines or save button behind."""
    w = loaded_window
    ctx = w.ctx
    w.prompts_dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    _extract(qtbot, w, "tiny-sentiment", "diff_of_means", "happy")  # every layer
    with qtbot.waitSignal(ctx.state.events.concepts, timeout=30000):
        w.library_dock.extract(
            "tiny-sentiment", "pca_diff", ["blocks.1.hook_resid_post"], name="one"
        )
    wait_idle(qtbot, ctx)
    canvas = w.view("canvas")
    canvas.add_term("happy", 1.0)
    canvas.add_term("one", 0.5)
    canvas.recompute()
    wait_idle(qtbot, ctx)
    assert canvas.result is not None, canvas.diag_status.text()
    assert canvas.result.concept.sites == ["blocks.1.hook_resid_post"]
    assert "1 site ·" in canvas.diag_status.text() and "left out" in canvas.diag_status.text()
    assert canvas.save_button.isEnabled() and canvas.cosines.topLevelItemCount() > 0
    # delete a term's concept: the canvas says so and keeps nothing stale
    ctx.state.selected_concepts = ("one",)
    w.library_dock.delete_selected()
    canvas.recompute()
    wait_idle(qtbot, ctx)
    assert "no longer in the library" in canvas.diag_status.text()
    assert canvas.result is None and not canvas.save_button.isEnabled()
    assert canvas.cosines.topLevelItemCount() == 0 and canvas.tokens.text() == ""
