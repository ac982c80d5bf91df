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
    assert (printed["project"], printed["generation_id"]) == (str(proj), gens[0].id)


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


def test_cones_and_generate_with_the_neurons_switched_off(tmp_path, capsys):
    """`diffusion cones` on the demo pipeline stores a run and its figure; `generate --level
    neurons` reads the set back from the run or from the --out file; scale 1 is the plain
    prompt, bit for bit."""
    proj, scores = tmp_path / "p.wbproj", tmp_path / "dog.json"
    argv = ["diffusion", "cones", "demo:tiny-sd", "--concept", "a dog on the grass"]
    argv += ["--steps", "2", "--size", "32", "--top-k", "4", "--random-sets", "2"]
    argv += ["--exact-check", "2", "--out", str(scores), "--figure", str(tmp_path / "f.svg")]
    assert main([*argv, "--project", str(proj), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["run_id"] and printed["figure_id"] and printed["pool"] == 64
    assert printed["project"] == str(proj)
    assert set(printed["ablation"]) >= {"drop_top", "drop_random", "beats_random"}
    assert (tmp_path / "f.svg").read_bytes().lstrip().startswith(b"<?xml")
    with Project.open(proj, read_only=True) as p:
        run = p.load_run(printed["run_id"])
        assert run.analysis == "concept_neurons" and run.tensors["scores"].shape == (64,)
        assert run.settings["concept"] == "a dog on the grass"

    def generate(source: str, scale: str, out: str) -> dict:
        g = ["diffusion", "generate", "demo:tiny-sd", "dog", "--define", "dog=a dog on the grass"]
        g += ["--steps", "2", "--size", "32", "--level", "neurons", "--neurons", source]
        g += ["--neuron-top", "4", "--neuron-scale", scale, "--out", str(tmp_path / out)]
        assert main([*g, "--project", str(proj), "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    from_run = generate(f"run:{printed['run_id']}", "0", "off")
    assert from_run["project"] == str(proj) and from_run["generation_id"]
    from_file = generate(str(scores), "0", "off2")
    assert from_run["provenance"]["neurons"]["neurons"] == from_file["provenance"]["neurons"][
        "neurons"
    ] == [t["neuron"] for t in printed["top"][:4]]  # fmt: skip
    generate(str(scores), "1", "same")
    same = tmp_path / "same"
    from PIL import Image

    base = Image.open(same / "baseline.png").tobytes()
    assert Image.open(same / "edited.png").tobytes() == base
    assert Image.open(tmp_path / "off" / "edited.png").tobytes() != base


def test_cones_refusals_are_messages(tmp_path, capsys):
    from workbench.cli import main as cli

    base = ["diffusion", "generate", "demo:tiny-sd", "a", "--define", "a=a", "--level", "neurons"]
    assert cli([*base, "--steps", "1", "--out", str(tmp_path)]) == 1
    assert "--neurons" in capsys.readouterr().err
    assert cli([*base, "--neurons", "run:1", "--out", str(tmp_path)]) == 1
    assert "--project" in capsys.readouterr().err
    assert cli(["diffusion", "cones", "demo:tiny-sd", "--concept", "a", "--guidance", "1"]) == 1
    assert "above 1" in capsys.readouterr().err
    # before the pipeline loads (it does not exist): --out a folder
    missing = str(tmp_path / "no-pipeline")
    assert cli(["diffusion", "cones", missing, "--concept", "a", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is a folder; give a file name" in err and "no-pipeline" not in err
