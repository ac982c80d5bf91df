"""The recent-projects list and the store's import cost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.store.recent import add_recent, config_dir, recent_projects, remove_recent


def test_most_recent_first_existing_only_at_most_ten(tmp_path: Path) -> None:
    files = []
    for i in range(14):
        f = tmp_path / f"p{i}.wbproj"
        f.touch()
        files.append(f)
        add_recent(f)
    add_recent(files[3])  # again: moves to the top, not listed twice
    shown = recent_projects()
    assert shown[0] == files[3]
    assert shown[1:] == files[13:4:-1]
    assert len(shown) == 10
    files[13].unlink()
    assert files[13] not in recent_projects()
    remove_recent(files[3])
    assert recent_projects()[0] == files[12]


def test_config_folder_is_overridable_and_damage_is_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    assert recent_projects() == []
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "recent_projects.json").write_text("{not json")
    assert recent_projects() == []
    project = tmp_path / "a.wbproj"
    project.touch()
    add_recent(project)
    assert recent_projects() == [project]


def test_importing_the_store_does_not_import_torch() -> None:
    code = "import sys, workbench.store; assert 'torch' not in sys.modules, 'torch imported'"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
