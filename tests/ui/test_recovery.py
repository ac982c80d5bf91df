"""Crash recovery: a scratch project left behind by a session that never closed its window is
offered back at the next start; empty leftovers are removed; another running window's scratch
file is left alone."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox
from ui_helpers import wait_idle

from ui.project_controller import data_dir
from workbench.store import Project

Button = QMessageBox.StandardButton


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))


def _leftover(name: str, with_work: bool = True):
    """A scratch file as a killed session leaves it (committed work, lock not held)."""
    folder = data_dir() / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.wbproj"
    p = Project.open(path, create=True)
    if with_work:
        p.add_prompt_set("my pairs", "contrastive", [{"positive": "good", "negative": "bad"}])
    p.close()
    return path


def _start(qtbot, answer):
    from ui.app import create_window

    w = create_window(theme_choice="light", interactive=False)
    qtbot.addWidget(w)
    w.ctx.project.ask = False
    w.ctx.project.recover_answer = answer
    w.show()
    w.finish_startup(model=None)
    wait_idle(qtbot, w.ctx)
    return w


@pytest.mark.parametrize(
    "answer", [Button.Yes, Button.Discard, Button.Ignore], ids=["open", "discard", "later"]
)
def test_leftover_scratch_is_offered_back(qtbot, answer):
    path = _leftover("untitled-crashed")
    empty = _leftover("untitled-empty", with_work=False)
    w = _start(qtbot, answer)
    p = w.ctx.state.project
    assert not empty.exists()  # nothing in it: removed without asking
    if answer == Button.Yes:
        assert str(p.path) == str(path) and w.ctx.state.project_is_scratch
        assert [r.name for r in p.prompt_sets()] == ["my pairs"]
        assert len(list((data_dir() / "scratch").glob("*.wbproj"))) == 1  # the fresh one went
    else:
        assert str(p.path) != str(path)
        assert path.exists() == (answer == Button.Ignore)
    w.close()


def test_scratch_of_a_running_window_is_left_alone(qtbot):
    path = _leftover("untitled-other")
    other = Project.open(path)  # held by a live process (this one)
    try:
        w = _start(qtbot, Button.Yes)
        assert str(w.ctx.state.project.path) != str(path)
        assert path.exists()
        w.close()
    finally:
        other.close()


def test_leftover_with_only_a_canvas_note_or_unreadable_parts_is_kept(qtbot, monkeypatch):
    """Work is more than concepts and runs; and what cannot be read is never deleted."""
    folder = data_dir() / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    canvas = folder / "untitled-canvas.wbproj"
    p = Project.open(canvas, create=True)
    p.save_canvas("main", {"terms": [{"concept": "happy", "coefficient": 1.0}]})
    p.close()
    noted = folder / "untitled-note.wbproj"
    p = Project.open(noted, create=True)
    p.add_note("remember L18H6")
    p.close()
    unreadable = _leftover("untitled-damaged")

    def broken(self, *a, **k):
        if "damaged" in str(self.path):
            raise RuntimeError("database disk image is malformed")
        return 0

    monkeypatch.setattr(Project, "count_generations", broken)
    w = _start(qtbot, Button.Ignore)
    # every one has work (or unreadable parts): none was deleted, the newest was asked about
    assert canvas.exists() and noted.exists() and unreadable.exists()
    w.close()
    from ui.project_controller import _work_in

    with Project.open(unreadable) as p:
        assert "generations that could not be read" in _work_in(p)
    with Project.open(canvas) as p:
        assert _work_in(p) == ["1 canvas"]
    with Project.open(noted) as p:
        assert _work_in(p) == ["1 note"]


def test_a_scratch_file_being_created_by_a_live_process_is_left_alone(qtbot):
    """Between a scratch file's rename into place and its lock, another window must not take
    it: a young file named with a live process id is skipped."""
    import os
    import time

    name = f"untitled-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path = _leftover(name, with_work=False)
    w = _start(qtbot, Button.Discard)
    assert path.exists()
    w.close()
