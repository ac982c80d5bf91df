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
    ns: dict = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), ns)
    printed = capsys.readouterr().out
    out = ns["out"]
    assert printed == f"{out.baseline} | {out.steered}\n"
    # the point of the example: the happy vector at coefficient 6 changes the continuation
    assert out.steered.strip() and out.steered != out.baseline
    site = ns["site"]
    assert tuple(ns["acts"][site].shape) == (2, ns["hm"].d_model)
    from workbench.store import Project

    with Project.open(tmp_path / "my.wbproj") as p:
        assert p.concept_names() == ["sentiment (diff_of_means)"]
