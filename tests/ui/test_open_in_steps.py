"""Opening a project runs in steps with the event loop let run between them (issue 19: a
research-size project froze the window for a quarter of a second in one turn); when ``open``
returns, every view shows the project. No time is measured here (bench_bigproject does)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from ui_helpers import make_window

N_CONCEPTS = 8


@pytest.fixture
def project_file(tmp_path):
    import torch

    from workbench.concepts.concept import Concept, ModelRef
    from workbench.store import Project

    lm = ModelRef(name="tiny-llama", d_model=8, kind="lm")
    path = tmp_path / "steps.wbproj"
    with Project.create(path) as p:
        p.add_concepts(
            Concept(f"c{i:02d}", {"blocks.0.hook_resid_post": torch.full((8,), float(i + 1))}, lm)
            for i in range(N_CONCEPTS)
        )
        p.add_generation(prompt="the opened one", steered="yes", provenance={})
    return path


def test_timers_run_while_a_project_opens_and_every_view_shows_it(qtbot, project_file, monkeypatch):
    import ui.project_controller as pc

    monkeypatch.setattr(pc, "CONCEPT_CHUNK", 3)  # the names in three chunks
    w = make_window(qtbot)
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    try:
        assert w.ctx.project.open(project_file, confirm=False)
    finally:
        timer.stop()
    assert len(ticks) >= 4  # the event loop ran between the steps
    names = [f"c{i:02d}" for i in range(N_CONCEPTS)]
    assert sorted(w.ctx.state.concept_names()) == names  # every chunk, none twice
    assert w.library_dock.model.rowCount() == N_CONCEPTS
    assert w.view("generations").text(0, "prompt") == "the opened one"
    assert "steps.wbproj" in w.windowTitle()
    sweep = w.view("sweep")
    assert sorted(sweep.concept.itemText(i) for i in range(sweep.concept.count())) == names


def test_a_project_closed_while_it_opens_stays_closed(qtbot, project_file):
    w = make_window(qtbot)
    scratch = w.ctx.state.project

    def close_soon(project):  # once the new project is in place: at the next pause
        if project is not None and project is not scratch:
            QTimer.singleShot(0, w.ctx.project.close)

    w.ctx.state.events.project.connect(close_soon)
    assert not w.ctx.project.open(project_file, confirm=False)
    w.ctx.state.events.project.disconnect(close_soon)
    assert w.ctx.state.project is None
    assert "steps.wbproj" not in w.windowTitle()
