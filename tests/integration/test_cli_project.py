"""The command line over a project file: what a headless run writes, the window reads."""

from __future__ import annotations

import json

import torch

from workbench.cli import main
from workbench.concepts.concept import Concept, ModelRef
from workbench.store import Project


def _concept(name="happy"):
    return Concept(
        name,
        {"blocks.1.hook_resid_post": torch.randn(8)},
        ModelRef("m", d_model=8, model_type="llama"),
    )


def test_project_info_export_import(tmp_path, capsys):
    path = tmp_path / "p.wbproj"
    with Project.open(path, create=True) as p:
        original = _concept()
        p.add_concept(original)
    assert main(["project", "info", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["concepts"] == 1 and info["models"][0]["name"] == "m"
    out = tmp_path / "happy.safetensors"
    assert main(["project", "export", str(path), "happy", str(out)]) == 0
    assert main(["project", "import", str(path), str(out), "--name", "again"]) == 0
    with Project.open(path) as p:
        again = p.load_concept("again")
    assert torch.equal(
        again.vectors["blocks.1.hook_resid_post"], original.vectors["blocks.1.hook_resid_post"]
    )


def test_bad_project_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "notes.wbproj"
    bad.write_text("not a project")
    assert main(["project", "info", str(bad)]) == 1
    assert "error:" in capsys.readouterr().err


def test_models_list(capsys):
    assert main(["models", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(s["kind"] == "embedded" for s in listed)


def test_bad_project_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """``--project`` is checked before the model loads: a corrupt file or a missing folder
    fails at once, with nothing computed."""
    import workbench.models.loading as loading

    def no_loading(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the model was loaded before --project was checked")

    monkeypatch.setattr(loading, "load_language_model", no_loading)
    bad = tmp_path / "bad.wbproj"
    bad.write_text("not a project")
    for target in (bad, tmp_path / "missing" / "new.wbproj"):
        assert main(["heads", "score", "--kind", "induction", "--project", str(target)]) == 1
        assert "error:" in capsys.readouterr().err
