"""Closing the window while a sweep runs (issue 18 item 4): the window asks first, says
"Stopping…", closes once the job has stopped, and the cells already computed are stored as a
run marked partial. Stopping a sweep with its Stop button keeps its cells the same way."""

from __future__ import annotations

import torch
from PySide6.QtWidgets import QMessageBox
from ui_helpers import wait_idle

from workbench.concepts.concept import Concept
from workbench.store import Project


def _long_sweep(w):
    hm = w.ctx.state.model().hm
    g = torch.Generator().manual_seed(0)
    vecs = {
        f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g)
        for L in range(hm.n_layers)
    }
    w.library_dock.add_concept(Concept("probe", vecs, hm.ref))
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("probe")
    sweep.layers.setText("0, 1")
    sweep.coefs.setText("0..4:0.01")  # 401 coefficients × 2 layers: a dozen batches
    sweep.tokens.setValue(6)
    sweep.targets.setText("")
    return sweep


def test_closing_during_a_sweep_asks_then_stops_and_keeps_a_partial_run(
    qtbot, loaded_window, tmp_path, monkeypatch
):
    w = loaded_window
    ctx = w.ctx
    path = tmp_path / "closing.wbproj"
    assert ctx.project.save_as(path)
    sweep = _long_sweep(w)
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]

    def question(parent, title, text, *a):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    ctx.project.ask = True
    assert sweep.run() is not None
    qtbot.waitUntil(lambda: sweep._collected is not None and sweep._collected.cells_done() > 0,
                    timeout=60000)  # fmt: skip
    # First answer: Cancel. The window stays, the sweep runs on.
    w.close()
    assert w.isVisible() and ctx.executor.busy and "Sweep is still running" in asked[0]
    # Second answer: Yes. "Stopping…" shows, and the window closes when the job has stopped.
    w.close()
    assert len(asked) == 2
    if w.isVisible():  # (it may have stopped at once)
        assert w.status.job_label.text().startswith("Stopping Sweep")
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=60000)
    assert not ctx.executor.busy
    with Project.open(path, read_only=True) as p:
        runs = p.runs("sweep")
        assert len(runs) == 1
        rec = p.load_run(runs[0].id)
        name, settings = rec.name, rec.settings
        assert "partial" in name
        done, total = settings["partial"]["cells_done"], settings["partial"]["cells"]
        assert 0 < done < total == 802
        computed = rec.result["computed"]
        assert sum(map(sum, computed)) == done
        # a generation for each finished cell, none for the others
        assert len(p.generations()) == done


def test_the_stop_button_keeps_the_finished_cells(qtbot, loaded_window):
    w = loaded_window
    ctx = w.ctx
    sweep = _long_sweep(w)
    sweep.run()
    qtbot.waitUntil(lambda: sweep._collected is not None and sweep._collected.cells_done() > 0,
                    timeout=60000)  # fmt: skip
    sweep.stop_button.click()
    wait_idle(qtbot, ctx)
    r = sweep.result
    assert r is not None and r.partial and 0 < r.cells_done() < 802
    assert "marked partial" in sweep.status.text()
    runs = ctx.state.project.runs("sweep")
    assert len(runs) == 1 and "partial" in runs[0].name
    assert sweep.runs.currentData() == sweep.run_id
