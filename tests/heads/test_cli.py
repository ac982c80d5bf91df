"""``workbench heads`` on a tiny model saved to a folder."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.cli import main
from workbench.heads.result import HeadScores


@pytest.fixture
def model_dir(tiny_llama_dir):
    return str(tiny_llama_dir)


def test_score_json_csv_and_project(model_dir, tmp_path, capsys):
    out = tmp_path / "ind.json"
    assert (
        main(
            [
                "heads",
                "score",
                "--kind",
                "induction",
                "--model",
                model_dir,
                "--n-seqs",
                "2",
                "--seq-len",
                "6",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    s = HeadScores.load(out)
    assert s.kind == "induction" and s.scores.shape == (3, 4)
    assert s.settings["seq_len"] == 6 and s.model["n_layers"] == 3
    assert (
        main(
            [
                "heads",
                "score",
                "--kind",
                "previous",
                "--model",
                model_dir,
                "--n-seqs",
                "2",
                "--seq-len",
                "6",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "layer,head,score" and len(lines) == 13
    proj = tmp_path / "p.wbproj"
    assert (
        main(
            [
                "heads",
                "score",
                "--kind",
                "copying",
                "--model",
                model_dir,
                "--n-tokens",
                "20",
                "-o",
                str(tmp_path / "c.csv"),
                "--project",
                str(proj),
                "--name",
                "copy map",
            ]
        )
        == 0
    )
    from workbench.store import Project

    with Project.open(proj, read_only=True) as p:
        runs = p.runs(analysis="head_scores")
    assert [r.name for r in runs] == ["copy map"]


def test_task_scores_from_files(model_dir, tmp_path, capsys):
    rows = [
        {
            "prompt": "the king is a",
            "target": " man",
            "foil": " woman",
            "corrupted": "the queen is a",
        },
        {"prompt": "I feel very", "target": " happy", "foil": " sad", "corrupted": "I feel not"},
    ]
    jl = tmp_path / "task.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows))
    for kind in ("dla", "ablation", "patching", "attribution"):
        assert (
            main(["heads", "score", "--kind", kind, "--model", model_dir, "--prompts", str(jl)])
            == 0
        )
        d = json.loads(capsys.readouterr().out)
        assert d["kind"] == kind and d["settings"]["task"]["prompts"] == [r["prompt"] for r in rows]
    csv_file = tmp_path / "task.csv"
    csv_file.write_text("prompt,target,foil\nthe king is a, man, woman\n")
    assert (
        main(
            [
                "heads",
                "score",
                "--kind",
                "ablation",
                "--mode",
                "mean",
                "--model",
                model_dir,
                "--prompts",
                str(csv_file),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["settings"]["mode"] == "mean"


def test_bad_task_file_is_a_clear_error(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"text": "no target"}]))
    assert (
        main(["heads", "score", "--kind", "dla", "--model", model_dir, "--prompts", str(bad)]) == 1
    )
    assert "'prompt' and 'target'" in capsys.readouterr().err


def test_pattern_figure_and_compare(model_dir, tmp_path, capsys):
    png = tmp_path / "p.png"
    assert (
        main(
            [
                "heads",
                "pattern",
                "the king is the king",
                "--layer",
                "1",
                "--head",
                "2",
                "--model",
                model_dir,
                "--figure",
                str(png),
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["tokens"] == ["the", "king", "is", "the", "king"] and png.stat().st_size > 1000
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    HeadScores("induction", torch.arange(12.0).reshape(3, 4)).save(a)
    HeadScores("dla", -torch.arange(12.0).reshape(3, 4)).save(b)
    assert main(["heads", "compare", str(a), str(b), "-k", "3"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["shared"] == [] and d["jaccard"] == 0.0
    assert main(["heads", "figure", str(a), str(tmp_path / "m.svg")]) == 0
    assert json.loads(capsys.readouterr().out) == {"output": str(tmp_path / "m.svg")}
    texts = tmp_path / "t.txt"
    texts.write_text("the king is a man\nI feel good\n")
    assert (
        main(
            [
                "heads",
                "top-tokens",
                "--model",
                model_dir,
                "--prompts",
                str(texts),
                "--layer",
                "0",
                "--head",
                "1",
                "-k",
                "3",
            ]
        )
        == 0
    )
    assert len(json.loads(capsys.readouterr().out)["tokens"]) == 3


def test_function_vector_command_saves_a_concept(model_dir, tmp_path, capsys):
    proj = tmp_path / "fv.wbproj"
    args = [
        "heads",
        "function-vector",
        "--model",
        model_dir,
        "--heads",
        "L1H2,L2H0",
        "--layer",
        "1",
    ]
    args += ["--n-prompts", "4", "--n-shots", "2", "--coefficient", "2", "--project", str(proj)]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["heads"] == [[1, 2], [2, 0]] and out["layer"] == 1 and out["coefficient"] == 2.0
    assert 0.0 <= out["with_function_vector"] <= 1.0
    from workbench.store import Project

    with Project.open(proj, read_only=True) as p:
        c = p.load_concept("fv:antonyms")  # the name the window gives it too
    assert c.recipe["method"] == "function_vector" and c.sites == ["blocks.1.hook_resid_post"]
    # the recipe the window stores: the prompt set as a dict, and the held-out words' accuracy
    assert c.recipe["prompts"]["kind"] == "demonstrations"
    held = c.recipe["held_out"]
    assert held["with_fv"] == out["with_function_vector"]
    assert len(held["words"]) == out["held_out_words"] > 0


def test_intervene_generates_and_stores_a_curve(model_dir, tmp_path, capsys):
    proj = tmp_path / "act.wbproj"
    base = ["heads", "intervene", "--model", model_dir, "--heads", "L1H2,L0H1", "--json"]
    assert (
        main([*base, "the king is", "--action", "scale", "--value", "1", "--project", str(proj)])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["baseline"] == out["intervened"]  # a factor of 1 changes nothing
    assert out["label"] == "scale: L1H2, L0H1"
    # opposites in the tiny model's vocabulary (an unknown word is refused, not scored as <unk>)
    pairs = [["good", "bad"], ["happy", "sad"], ["love", "hate"], ["hot", "cold"], ["big", "small"],
             ["yes", "no"], ["man", "woman"], ["king", "queen"], ["great", "terrible"]]  # fmt: skip
    opposites = tmp_path / "opposites.json"
    opposites.write_text(
        json.dumps({"name": "opposites", "kind": "demonstrations", "pairs": pairs})
    )
    argv = [*base, "--set", str(opposites), "--action", "zero_tuning", "--values", "0", "1", "2"]
    assert main([*argv, "--project", str(proj)]) == 0
    curve = json.loads(capsys.readouterr().out)
    assert curve["values"] == [0.0, 1.0, 2.0] and curve["accuracy"][1] == curve["baseline_accuracy"]
    from workbench.store import Project

    with Project.open(proj, read_only=True) as p:
        assert [g.provenance["action"] for g in p.generations("text", images=False)] == ["scale"]
        assert p.runs("head_intervention_curve")[0].id == curve["run_id"]
    # refused: a head the model lacks, an action without its value
    assert main([*base, "x", "--action", "scale", "--value", "1", "--heads", "L9H0"]) == 1
    assert "L9H0 not in" in capsys.readouterr().err
    assert main([*base, "x", "--action", "offset_mean"]) == 1
    assert "needs --value" in capsys.readouterr().err
