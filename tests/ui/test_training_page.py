"""The Training page and the weight-delta load option through their real widgets on the tiny
model: a training run draws its loss live, lands as a concept and a run, and can be cancelled;
a model loaded with a delta has θ + c·Δ."""

from __future__ import annotations

import pytest
import torch
from ui_helpers import wait_idle


@pytest.fixture
def training(qtbot, loaded_window):
    w = loaded_window
    panel = w.view("analysis")
    w.tabs.setCurrentWidget(panel)
    page = panel.show_page("training")
    page.steps.setValue(3)
    page.k.setValue(2)
    return w, page


def test_head_offsets_train_live_and_land_in_the_project(qtbot, training):
    w, page = training
    seen = []
    w.ctx.executor.job_progress.connect(lambda label, p: seen.append(len(page.losses)))
    n_errors = len(w.ctx.errors.history)
    assert page.start() is not None
    wait_idle(qtbot, w.ctx)
    assert len(w.ctx.errors.history) == n_errors, w.ctx.errors.history
    assert page.status.text().startswith("Done"), page.status.text()
    assert len(page.losses) == 3 and page.curve.spec["series"]["loss"] == page.losses
    assert page.table.rowCount() == 4  # zero-shot, head offsets, few-shot, function vector
    p = w.ctx.state.project
    assert page.concept_name in p.concept_names()
    assert p.load_concept(page.concept_name).recipe["kind"] == "head offsets"
    run = p.load_run(page.run_id)
    assert run.tensors["loss"].tolist() == pytest.approx(page.losses)


def test_trained_vector_and_a_bad_input(qtbot, training):
    w, page = training
    page.mode.setCurrentIndex(page.mode.findData("vector"))
    page.layer.setValue(1)
    assert page.start() is not None
    wait_idle(qtbot, w.ctx)
    assert page.status.text().startswith("Done"), (page.status.text(), w.ctx.errors.history)
    assert "trained_vector" in page.result.metrics
    page.layer.setValue(50)  # the tiny model has 3 layers
    n = len(w.ctx.errors.history)
    assert page.start() is None
    assert len(w.ctx.errors.history) == n + 1 and "layers 0-2" in str(w.ctx.errors.history[-1])


def test_cancel_stops_training(qtbot, training):
    w, page = training
    page.steps.setValue(10_000)
    page.start()
    qtbot.waitUntil(lambda: len(page.losses) >= 1, timeout=30000)
    page.cancel()
    wait_idle(qtbot, w.ctx)
    assert page.status.text() == "Cancelled." and len(page.losses) < 10_000


def test_load_with_a_weight_delta(qtbot, window, tiny_model_dir, tmp_path):
    from tiny import tiny_hf_model

    from workbench.weights import diff

    other = tiny_hf_model("llama", seed=5)
    other.save_pretrained(tmp_path / "B")
    diff(tmp_path / "B", tiny_model_dir, tmp_path / "d.safetensors")
    window.models_dock.deltas.add(str(tmp_path / "d.safetensors"), 1.0, "MLP only")
    with qtbot.waitSignal(window.ctx.executor.job_finished, timeout=60000):
        window.models_dock.load(str(tiny_model_dir))
    wait_idle(qtbot, window.ctx)
    hm = window.ctx.state.model().hm
    assert hm.info["deltas"][0]["filter"]["kinds"] == ["mlp"]
    want = other.state_dict()
    for n, t in hm.model.state_dict().items():
        if ".mlp." in n:
            torch.testing.assert_close(t, want[n], rtol=0, atol=1e-6)


def test_task_vector_page_diff_apply_sweep(qtbot, loaded_window, tiny_model_dir, tmp_path):
    from tiny import tiny_hf_model, tiny_tokenizer

    w = loaded_window
    panel = w.view("analysis")
    w.tabs.setCurrentWidget(panel)
    page = panel.show_page("task_vectors")
    tiny_hf_model("llama", seed=5).save_pretrained(tmp_path / "B")
    tiny_tokenizer().save_pretrained(tmp_path / "B")
    page.a.setText(str(tmp_path / "B"))
    page.b.setText(str(tiny_model_dir))
    page.delta_out.setText(str(tmp_path / "d.safetensors"))
    n = len(w.ctx.errors.history)
    assert page.start_diff() is not None
    wait_idle(qtbot, w.ctx)
    assert page.status.text().startswith("Done"), (page.status.text(), w.ctx.errors.history)
    assert page.delta.text() == str(tmp_path / "d.safetensors")
    page.base.setText(str(tiny_model_dir))
    page.merged_out.setText(str(tmp_path / "merged"))
    page.kinds.setCurrentText("MLP only")
    assert page.start_apply() is not None
    wait_idle(qtbot, w.ctx)
    assert (tmp_path / "merged" / "config.json").exists(), page.status.text()
    page.coefficients.setText("-1, 0, 1")
    assert page.start_sweep() is not None
    wait_idle(qtbot, w.ctx)
    assert page.table.rowCount() == 3 and len(w.ctx.errors.history) == n
    analyses = [r.analysis for r in w.ctx.state.project.runs()]
    assert analyses[-3:] == ["weights_diff", "weights_apply", "weights_sweep"]
    page.coefficients.setText("one two")
    assert page.start_sweep() is None and "write numbers" in str(w.ctx.errors.history[-1])
