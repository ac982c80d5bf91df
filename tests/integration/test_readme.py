"""The README's engine example runs as written (on the embedded model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_engine_example_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The engine in five lines") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
    printed = capsys.readouterr().out
    assert "|" in printed
    from workbench.store import Project

    with Project.open(tmp_path / "my.wbproj") as p:
        assert p.concept_names() == ["sentiment (diff_of_means)"]
