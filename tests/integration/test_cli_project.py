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


def test_every_command_takes_json_and_export_import_say_what_they_did(tmp_path, capsys):
    """A script can give --json to any command: listings print JSON either way, export and
    import print what they wrote as JSON with it (the path, the concept's name without)."""
    missing = [n for n, opts in dict(_commands()).items() if "--json" not in opts]
    assert not missing, missing
    path = tmp_path / "p.wbproj"
    with Project.open(path, create=True) as p:
        p.add_concept(_concept())
    assert main(["project", "info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["concepts"] == 1
    out = tmp_path / "happy.safetensors"
    assert main(["project", "export", str(path), "happy", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "project": str(path), "concept": "happy", "out": str(out)
    }  # fmt: skip
    assert main(["project", "import", str(path), str(out), "--name", "again", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["concept"] == "again"
    assert main(["project", "import", str(path), str(out), "--name", "again2"]) == 0
    assert capsys.readouterr().out.strip() == "again2"


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

    def no_loading(*a, **k):
        raise AssertionError("the model was loaded before --project was checked")

    monkeypatch.setattr(loading, "load_language_model", no_loading)
    bad = tmp_path / "bad.wbproj"
    bad.write_text("not a project")
    for target in (bad, tmp_path / "missing" / "new.wbproj"):
        assert main(["heads", "score", "--kind", "induction", "--project", str(target)]) == 1
        assert "error:" in capsys.readouterr().err


# Commands that only read, list or maintain a file (no computation whose result a project could
# keep; `project upgrade` rewrites the file it is given).
READ_ONLY = {
    "models list", "models inspect", "concepts sets", "diffusion list",
    "project info", "project upgrade", "project concepts", "project export", "project import", "project runs",
    "project generations",
}  # fmt: skip


def _commands():
    import argparse

    from workbench.cli import build_parser

    def subs(parser):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                return a.choices
        return {}

    seen = set()
    for group, gp in subs(build_parser()).items():
        for name, cp in subs(gp).items():
            if id(cp) not in seen:  # aliases share a parser
                seen.add(id(cp))
                yield f"{group} {name}", {o for a in cp._actions for o in a.option_strings}


def test_every_computing_command_takes_project_and_json():
    commands = dict(_commands())
    assert {"concepts sweep", "heads intervene", "models generate"} <= set(commands)
    lacking = [
        f"{name} lacks {flag}"
        for name, opts in commands.items()
        if name not in READ_ONLY
        for flag in ("--project", "--json")
        if flag not in opts
    ]
    assert not lacking, lacking
    assert set(commands) >= READ_ONLY  # a renamed read-only command must be looked at again


def test_headless_generation_and_figure_land_in_the_project(tmp_path, capsys, tiny_llama_dir):
    """What `models generate` and `heads pattern` store is what the window lists: a text
    generation with the provenance the Preview writes, and a figure with its spec and files."""
    model = tiny_llama_dir
    proj = tmp_path / "headless.wbproj"
    from workbench.models.loading import load_language_model

    hm = load_language_model(str(model), device="cpu")
    with Project.open(proj, create=True) as p:
        p.add_concept(
            Concept("happy", {"blocks.1.hook_resid_post": torch.randn(hm.d_model)}, hm.ref)
        )
    m = ["--model", str(model), "--device", "cpu", "--project", str(proj), "--json"]
    argv = ["models", "generate", "the king is", "--concept", "happy", "--max-new-tokens", "3"]
    assert main([*argv, *m]) == 0
    out = json.loads(capsys.readouterr().out)
    assert main(["heads", "pattern", "the king is a man", "--layer", "1", "--head", "-1", *m]) == 0
    pattern = json.loads(capsys.readouterr().out)
    with Project.open(proj, read_only=True) as p:
        (gen,) = p.generations("text", images=False)
        assert gen.id == out["generation_id"] and gen.steered == out["steered"]
        prov = gen.provenance
        assert prov["concept"]["name"] == "happy" and prov["sites"] == ["blocks.1.hook_resid_post"]
        assert prov["coefficient"] == 4.0 and prov["sampling"]["max_new_tokens"] == 3
        (fig,) = p.figures()
        assert fig.id == pattern["figure_id"] and set(fig.formats) == {"png", "svg", "pdf"}
        assert fig.spec["figure"] == "pattern" and fig.spec["head"] == hm.n_heads - 1


def test_a_headless_extraction_never_replaces_a_stored_concept(tmp_path, capsys, tiny_llama_dir):
    """Extracting again under a taken name keeps both, named as the window's library names
    them ("good", "good 2"); the first concept's vectors are untouched."""
    model = tiny_llama_dir
    pos, neg = tmp_path / "pos.txt", tmp_path / "neg.txt"
    pos.write_text("I feel good\nthe movie was great\n")
    neg.write_text("I feel bad\nthe movie was terrible\n")
    proj = tmp_path / "twice.wbproj"
    argv = [
        "concepts", "extract", "--model", str(model), "--device", "cpu", "--positive", str(pos),
        "--negative", str(neg), "--layers", "1", "--name", "good", "--project", str(proj), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    with Project.open(proj, read_only=True) as p:
        kept = p.load_concept("good").vectors["blocks.1.hook_resid_post"].clone()
    assert main([*argv[:-7], "--layers", "0", "--name", "good", "--project", str(proj)]) == 0
    captured = capsys.readouterr()
    second = json.loads(captured.out)
    assert second["name"] == "good 2" and second["project_id"] != first["project_id"]
    assert "saved as 'good 2'" in captured.err
    with Project.open(proj, read_only=True) as p:
        assert torch.equal(p.load_concept("good").vectors["blocks.1.hook_resid_post"], kept)
        assert p.load_concept("good 2").sites == ["blocks.0.hook_resid_post"]
