"""Loading a model and previewing a steered generation through the real widgets."""

from __future__ import annotations

from ui_helpers import TINY_PAIRS, wait_idle


def _extract(qtbot, w, method="diff_of_means", name="happy"):
    w.prompts_dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    n = w.ctx.state.model().hm.n_layers
    with qtbot.waitSignal(w.ctx.state.events.concepts, timeout=30000):
        w.library_dock.extract(
            "tiny-sentiment", method, [f"blocks.{L}.hook_resid_post" for L in range(n)], name=name
        )
    wait_idle(qtbot, w.ctx)
    return w.ctx.state.concept_info(name)


def test_load_shows_the_model_card(qtbot, window, tiny_model_dir):
    # how long the GUI thread stalls meanwhile is measured by benchmarks/bench_gui_stall.py
    with qtbot.waitSignal(window.ctx.state.events.models, timeout=60000):
        window.models_dock.load(str(tiny_model_dir))
    wait_idle(qtbot, window.ctx)
    m = window.ctx.state.model()
    assert m is not None and m.summary["n_layers"] == 3 and m.summary["d_model"] == 32
    assert (
        m.summary["n_heads"] == 4
        and m.summary["device"] == "cpu"
        and m.summary["dtype"] == "float32"
    )
    card_text = (
        window.models_dock.loaded_box.itemAt(1)
        .widget()
        .findChildren(type(window.models_dock.none_label))[0]
        .text()
    )
    assert "3 layers" in card_text and "width 32" in card_text


def test_second_model_for_comparison(qtbot, loaded_window, tiny_model_dir):
    w = loaded_window
    with qtbot.waitSignal(w.ctx.state.events.models, timeout=60000):
        w.models_dock.load(str(tiny_model_dir))
    wait_idle(qtbot, w.ctx)
    assert len(w.ctx.state.models) == 2
    assert w.view("preview").model_combo.count() == 2
    w.ctx.state.remove_model(w.ctx.state.models[-1].key)
    assert len(w.ctx.state.models) == 1


def test_preview_streams_and_is_saved(qtbot, loaded_window):
    w = loaded_window
    info = _extract(qtbot, w)
    assert info is not None and len(info.sites) == 3
    preview = w.view("preview")
    preview.vector.setCurrentText("happy")
    preview.site.setCurrentText("blocks.1.hook_resid_post")
    preview.coef.setValue(8.0)
    preview.prompt.setPlainText("I feel")
    preview.sampling.max_tokens.setValue(8)
    streamed = []
    w.ctx.executor.job_progress.connect(lambda label, p: p.payload and streamed.append(p.payload))
    preview.generate()
    wait_idle(qtbot, w.ctx)
    assert preview.last is not None, w.ctx.errors.history
    assert len(streamed) >= 1
    assert preview.baseline.toPlainText() == preview.last.prompt + preview.last.baseline
    assert preview.steered.toPlainText() == preview.last.prompt + preview.last.steered
    assert (
        preview.last.baseline != preview.last.steered
    )  # a coefficient of 8 on a tiny model changes it
    gens = w.ctx.state.project.generations("text", images=False)
    assert len(gens) == 1
    prov = gens[0].provenance
    assert prov["concept"]["name"] == "happy" and prov["sites"] == ["blocks.1.hook_resid_post"]
    assert (
        prov["coefficient"] == 8.0
        and prov["sampling"]["max_new_tokens"] == 8
        and prov["model"]["d_model"] == 32
    )
    assert w.view("generations").row_count() == 1


def test_zero_coefficient_steers_nothing(qtbot, loaded_window):
    w = loaded_window
    _extract(qtbot, w)
    preview = w.view("preview")
    preview.vector.setCurrentText("happy")
    preview.coef.setValue(0.0)
    preview.sampling.max_tokens.setValue(5)
    preview.generate()
    wait_idle(qtbot, w.ctx)
    assert preview.last.baseline == preview.last.steered


def test_preview_status_says_why_nothing_came(qtbot, loaded_window):
    """A check that fails before generating, or a job that fails, replaces the last "Done"."""
    w = loaded_window
    _extract(qtbot, w)
    preview = w.view("preview")
    preview.vector.setCurrentText("happy")
    preview.sampling.max_tokens.setValue(3)
    preview.generate()
    wait_idle(qtbot, w.ctx)
    assert preview.status.text().startswith("Done")
    preview.prompt.setPlainText("   ")
    assert preview.generate() is None
    assert preview.status.text().startswith("Not started: The prompt is empty")
    preview.prompt.setPlainText("I feel")
    preview._on_error(RuntimeError("the model ran out of memory\nmore detail"))
    assert preview.status.text() == "Failed: the model ran out of memory"


def test_cancel_generation(qtbot, loaded_window):
    w = loaded_window
    _extract(qtbot, w)
    preview = w.view("preview")
    preview.vector.setCurrentText("happy")
    preview.sampling.max_tokens.setValue(500)
    first = []

    def stop(label, p):
        if p.payload and not first:
            first.append(p)
            w.ctx.executor.cancel("preview")

    w.ctx.executor.job_progress.connect(stop)
    preview.generate()
    wait_idle(qtbot, w.ctx)
    assert preview.last is None and preview.generate_button.isEnabled()
    assert w.ctx.state.project.generations(images=False) == []


def test_bad_model_folder_gives_a_message(qtbot, window, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    window.models_dock.load(str(tmp_path))
    wait_idle(qtbot, window.ctx)
    assert not window.ctx.state.models
    context, message = window.ctx.errors.history[-1]
    assert "config.json" in message and window.models_dock.load_button.isEnabled()
    status = window.models_dock.progress_label.text()
    assert status.startswith("Not loaded:") and "config.json" in status  # not "cancelled"
