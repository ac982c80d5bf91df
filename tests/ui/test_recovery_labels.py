"""The recovery question's buttons say what they do, as the README does: "Open it",
"Discard it", "Keep it for later" (issue 18 item 10: it said "Ignore")."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox
from ui_helpers import wait_idle

from ui.project_controller import data_dir
from workbench.store import Project


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))


def test_the_recovery_buttons_say_what_they_do(qtbot, monkeypatch):
    folder = data_dir() / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "untitled-crashed.wbproj"
    p = Project.open(path, create=True)
    p.add_prompt_set("my pairs", "contrastive", [{"positive": "good", "negative": "bad"}])
    p.close()
    boxes: list[list[str]] = []

    def exec_(box):
        boxes.append([b.text() for b in box.buttons()])
        return int(
            (
                QMessageBox.StandardButton.Ignore
                if len(boxes) == 1
                else QMessageBox.StandardButton.No
            ).value
        )

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    from ui.app import create_window

    w = create_window(theme_choice="light", interactive=False)
    qtbot.addWidget(w)
    w.ctx.project.ask = True
    w.show()
    w.finish_startup(model=None)
    wait_idle(qtbot, w.ctx)
    assert sorted(boxes[0]) == ["Discard it", "Keep it for later", "Open it"]
    assert path.exists()  # kept for later
    w.ctx.project.ask = False
    w.close()


def test_a_start_offers_to_reopen_the_last_project(qtbot, tmp_path):
    from workbench.store.recent import add_recent

    last = tmp_path / "last.wbproj"
    p = Project.open(last, create=True)
    p.add_prompt_set("kept", "contrastive", [{"positive": "good", "negative": "bad"}])
    p.close()
    add_recent(last)
    from ui.app import create_window

    w = create_window(theme_choice="light", interactive=False)
    qtbot.addWidget(w)
    w.ctx.project.ask = False
    w.ctx.project.reopen_answer = QMessageBox.StandardButton.Yes
    w.show()
    w.finish_startup(model=None)
    wait_idle(qtbot, w.ctx)
    assert str(w.ctx.state.project.path) == str(last)
    assert not w.ctx.state.project_is_scratch
    w.close()
