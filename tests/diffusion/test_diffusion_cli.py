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
        gens = p.generations(kind="image")
    assert len(gens) == 1 and gens[0]["provenance"]["definitions"]["winter"] == "snow"


def test_bad_define_is_a_clear_error(sd_folder, capsys):
    assert main(["diffusion", "generate", str(sd_folder), "a + b", "--define", "oops"]) == 1
    assert "NAME=PROMPT" in capsys.readouterr().err
