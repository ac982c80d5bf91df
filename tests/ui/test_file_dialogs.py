"""Export dialogs start in the project's folder (or the folder used last), never in the
process's working directory, and a save is confirmed in the status bar (issue 18 item 10)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog


def test_exports_start_beside_the_project_then_in_the_last_folder(
    qtbot, window, tmp_path, monkeypatch
):
    w = window
    project = tmp_path / "study" / "study.wbproj"
    project.parent.mkdir()
    assert w.ctx.project.save_as(project)
    asked: list[str] = []
    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    answers = [str(project.parent / "generations.csv"), str(elsewhere / "again.csv")]

    def fake(parent, title, start, filters):
        asked.append(start)
        return answers.pop(0), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake)
    gens = w.view("generations")
    out = gens.export_csv()
    assert Path(asked[0]).parent == project.parent  # beside the project
    assert Path(out).exists()
    assert w.statusBar().currentMessage() == f"Exported {out}"
    gens.export_csv()
    assert Path(asked[1]).parent == project.parent  # the folder used last
    answers.append(str(elsewhere / "third.csv"))
    gens.export_csv()
    assert Path(asked[2]).parent == elsewhere  # the folder used last: the second one
    assert Path.cwd() not in {Path(a).parent for a in asked}
