"""`workbench weights` and `workbench train` on tiny models: the JSON they print, what they
record in a project, and their refusals (one line, exit code 1, no traceback)."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.cli import main
from workbench.store import Project


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    from tiny import tiny_hf_model, tiny_tokenizer

    base = tmp_path_factory.mktemp("cli-weights")
    for name, seed in (("A", 1), ("B", 2)):
        tiny_hf_model("llama", seed=seed).save_pretrained(base / name)
        tiny_tokenizer().save_pretrained(base / name)
    return base / "A", base / "B"


def test_diff_apply_sweep_from_the_command_line(two_models, tmp_path, capsys):
    a, b = two_models
    proj = tmp_path / "w.wbproj"
    delta = tmp_path / "d.safetensors"
    assert (
        main(
            [
                "weights",
                "diff",
                str(a),
                str(b),
                "--out",
                str(delta),
                "--project",
                str(proj),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["n_tensors"] > 0 and out["a"]["path"] == str(a) and "run_id" in out
    assert out["project"] == str(proj)  # as every command that stores its result says
    argv = ["weights", "apply", str(b), str(delta), "-c", "1", "--out", str(tmp_path / "m"),
            "--kinds", "mlp", "--project", str(proj), "--json"]  # fmt: skip
    assert main(argv) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["filter"]["kinds"] == ["mlp"] and merged["n_changed"] > 0
    assert merged["project"] == str(proj)
    argv = ["weights", "sweep", str(delta), "--model", str(b), "--device", "cpu",
            "--coefficients", "-1", "0", "1", "--project", str(proj), "--json"]  # fmt: skip
    assert main(argv) == 0
    sweep = json.loads(capsys.readouterr().out)
    assert sweep["coefficients"] == [-1.0, 0.0, 1.0]
    assert len(sweep["metrics"]["held_out"]["accuracy"]) == 3
    assert sweep["project"] == str(proj)
    with Project.open(proj, read_only=True) as p:
        kinds = [r.analysis for r in p.runs()]
    assert kinds == ["weights_diff", "weights_apply", "weights_sweep"]


def test_refusals_are_one_line(two_models, tmp_path, capsys):
    a, _ = two_models
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, tmp_path / "x.safetensors")
    assert (
        main(
            [
                "weights",
                "diff",
                str(a),
                str(tmp_path / "x.safetensors"),
                "--out",
                str(tmp_path / "d.safetensors"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert (
        "\nerror: " in "\n" + err.split("\r")[-1]
        and "Traceback" not in err
        and "do not have the same tensors" in err
    )
    assert (
        main(
            [
                "weights",
                "apply",
                str(a),
                str(tmp_path / "x.safetensors"),
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 1
    )
    assert "not a weight delta" in capsys.readouterr().err
    assert (
        main(
            [
                "weights",
                "apply",
                str(a),
                str(tmp_path / "x.safetensors"),
                "--out",
                "m",
                "--kinds",
                "mlps",
            ]
        )
        == 1
    )
    assert "unknown tensor kind" in capsys.readouterr().err


def test_train_offsets_and_vector_land_in_the_project(two_models, tmp_path, capsys):
    a, _ = two_models
    proj = tmp_path / "t.wbproj"
    common = [
        "--model",
        str(a),
        "--device",
        "cpu",
        "--steps",
        "3",
        "--project",
        str(proj),
        "--json",
    ]
    assert main(["train", "offsets", "--k", "2", "--n-shots", "2", *common]) == 0
    off = json.loads(capsys.readouterr().out)
    assert off["kind"] == "head offsets" and len(off["loss_curve"]["losses"]) == 3
    assert off["project"] == str(proj)
    assert set(off["held_out_metrics"]) == {
        "zero_shot",
        "few_shot",
        "function_vector",
        "head_offsets",
    }
    assert main(["train", "vector", "--layer", "1", *common]) == 0
    vec = json.loads(capsys.readouterr().out)
    assert vec["site"] == "blocks.1.hook_resid_post" and vec["project"] == str(proj)
    with Project.open(proj, read_only=True) as p:
        assert set(p.concept_names()) == {off["concept"], vec["concept"]}
        runs = p.runs()
        assert [r.analysis for r in runs] == ["head_offsets", "trained_vector"]
        loss = p.load_run(runs[0].id).tensors["loss"]
        assert loss.tolist() == pytest.approx(off["loss_curve"]["losses"])
    assert main(["train", "offsets", "--heads", "L7H0", *common]) == 1
    assert "do not exist" in capsys.readouterr().err
    out = tmp_path / "tuned"
    assert main(["train", "finetune", "--out", str(out), *common]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert (out / "workbench-finetune.json").exists() and "held_out_metrics" in tuned
    assert tuned["project"] == str(proj)
    with Project.open(proj, read_only=True) as p:
        assert [r.analysis for r in p.runs()][-1] == "finetune"
    assert main(["train", "finetune", "--out", str(out), *common]) == 1  # nothing is replaced
    assert "exists" in capsys.readouterr().err
