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
        assert [r["name"] for r in p.prompt_sets()] == ["my pairs"]
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
