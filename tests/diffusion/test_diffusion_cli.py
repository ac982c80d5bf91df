"""``workbench diffusion generate``: the same job as the panel, from the shell, into a project."""

from __future__ import annotations

import json

from workbench.cli import main
from workbench.diffusion import read_provenance
from workbench.store import Project


def test_generate_writes_pngs_with_provenance_and_the_project(sd_folder, tmp_path, capsys):
    out, proj = tmp_path / "renders", tmp_path / "p.wbproj"
    argv = ["diffusion", "generate", str(sd_folder), "castle + 0.6*winter - 0.4*summer"]
    argv += [
        "--define",
        "castle=a castle on a hill",
        "--define",
        "winter=snow",
        "--define",
        "summer=grass",
    ]
    argv += [
        "--steps",
        "2",
        "--size",
        "32",
        "--seed",
        "3",
        "--out",
        str(out),
        "--project",
        str(proj),
    ]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["provenance"]["seed"] == 3
    for name in ("baseline.png", "edited.png", "side_by_side.png"):
        assert (out / name).exists()
    prov = read_provenance(out / "edited.png")
    assert "castle" in json.dumps(prov["workbench"]) and "Seed: 3" in prov["parameters"]
    with Project.open(proj) as p:
        gens = p.generations(medium="image")
    assert len(gens) == 1 and gens[0].provenance["definitions"]["winter"] == "snow"


def test_bad_define_is_a_clear_error(sd_folder, capsys):
    assert main(["diffusion", "generate", str(sd_folder), "a + b", "--define", "oops"]) == 1
    assert "NAME=PROMPT" in capsys.readouterr().err


def test_token_embeds_level_with_defines(sd_folder, tmp_path, capsys):
    """``--level token_embeds`` with ``--define`` concepts: the concepts are encoded at that
    level (they used to be made at the text-encoder level and refused after the baseline)."""
    out = tmp_path / "renders"
    argv = ["diffusion", "generate", str(sd_folder), "castle + 0.5*winter", "--level"]
    argv += ["token_embeds", "--define", "castle=a castle", "--define", "winter=snow"]
    argv += ["--steps", "2", "--size", "32", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    prov = json.loads(capsys.readouterr().out)["provenance"]
    assert "token_embeds" in json.dumps(prov)
    assert (out / "edited.png").exists()


def test_everything_is_checked_before_rendering(sd_folder, tmp_path, capsys, monkeypatch):
    """A term without --define, or an --out that is a file, is refused before any step runs."""
    import workbench.diffusion as diffusion

    def no_render(*a, **k):
        raise AssertionError("rendering started before the arguments were checked")

    monkeypatch.setattr(diffusion, "baseline_and_edited", no_render)
    not_a_folder = tmp_path / "file.png"
    not_a_folder.write_text("x")
    cases = [
        (["castle + winter", "--define", "castle=a castle"], "winter in the expression"),
        (["castle", "--define", "castle=a castle", "--out", str(not_a_folder)], "is a file"),
    ]
    for args, message in cases:
        assert main(["diffusion", "generate", str(sd_folder), *args, "--steps", "2"]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
