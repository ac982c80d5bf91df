"""``workbench concepts ...`` end to end on a tiny model saved to a folder."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.cli import main
from workbench.cli.concepts import parse_layers
from workbench.concepts.concept import Concept, ModelRef
from workbench.errors import PromptSetError


@pytest.fixture
def model_dir(tiny_llama_dir):
    return tiny_llama_dir


def out_json(capsys):
    return json.loads(capsys.readouterr().out)


def test_parse_layers():
    assert parse_layers("12") == [12]
    assert parse_layers("10-12,3") == [3, 10, 11, 12]
    assert parse_layers("all", 3) == [0, 1, 2]
    assert parse_layers("") == []
    with pytest.raises(PromptSetError):
        parse_layers("ten")


def test_sets(capsys):
    assert main(["concepts", "sets"]) == 0
    names = {s["name"] for s in out_json(capsys)["sets"]}
    assert {"sentiment", "antonyms", "ordinal"} <= names


def test_extract_eval_diagnose_probe(model_dir, tmp_path, capsys):
    pos, neg = tmp_path / "pos.txt", tmp_path / "neg.txt"
    pos.write_text("I feel good\nthe movie was great\nI love it\nshe is happy\n")
    neg.write_text("I feel bad\nthe movie was terrible\nI hate it\nshe is sad\n")
    out = tmp_path / "good.safetensors"
    proj = tmp_path / "p.wbproj"
    m = ["--model", str(model_dir), "--device", "cpu"]
    rc = main(
        [
            "concepts",
            "extract",
            *m,
            "--positive",
            str(pos),
            "--negative",
            str(neg),
            "--layers",
            "0-1",
            "--name",
            "good",
            "--out",
            str(out),
            "--project",
            str(proj),
        ]
    )
    assert rc == 0
    res = out_json(capsys)
    assert res["name"] == "good" and set(res["norms"]) == {
        "blocks.0.hook_resid_post",
        "blocks.1.hook_resid_post",
    }
    assert out.exists() and res["project_id"]
    rc = main(
        [
            "concepts",
            "extract",
            *m,
            "--method",
            "embedding",
            "--words",
            "sad",
            "--name",
            "sad",
            "--site",
            "blocks.0.hook_resid_post",
            "--site",
            "blocks.1.hook_resid_post",
            "--project",
            str(proj),
        ]
    )
    assert rc == 0
    capsys.readouterr()
    rc = main(
        ["concepts", "eval", "good - 0.5*sad", "--project", str(proj), "--name", "mix", "--save"]
    )
    assert rc == 0
    res = out_json(capsys)
    assert res["recipe"]["expression"] == "good - 0.5*sad" and set(res["recipe"]["terms"]) == {
        "good",
        "sad",
    }
    from workbench.store import Project

    with Project.open(proj, read_only=True) as p:
        assert {"good", "sad", "mix"} <= set(p.concept_names())
    rc = main(
        [
            "concepts",
            "diagnose",
            *m,
            "--project",
            str(proj),
            "--names",
            "good,sad",
            "--logit-lens",
            "-k",
            "3",
        ]
    )
    assert rc == 0
    res = out_json(capsys)
    assert (
        res["cosine"]["names"] == ["good", "sad"]
        and len(res["logit_lens"]["good"]["promoted"]) == 3
    )
    rc = main(["concepts", "eval", "good + x", "--concept", f"x={out}", "--concept", str(out)])
    assert rc == 0
    capsys.readouterr()
    rc = main(
        ["concepts", "probe", *m, "--positive", str(pos), "--negative", str(neg), "--folds", "2"]
    )
    assert rc == 0
    res = out_json(capsys)
    assert [p[0] for p in res["points"]] == [0, 1, 2]


def test_errors_are_reported(model_dir, tmp_path, capsys):
    assert main(["concepts", "eval", "a * b"]) == 1
    assert "multiplies two concepts" in capsys.readouterr().err
    a = Concept("a", {"blocks.0.hook_resid_post": torch.ones(4)}, ModelRef("m", d_model=4))
    from workbench.io.vector_files import export_concept

    export_concept(a, tmp_path / "a.safetensors")
    assert main(["concepts", "eval", "a + nope", "--concept", str(tmp_path / "a.safetensors")]) == 1
    assert "unknown concept" in capsys.readouterr().err
    assert main(["concepts", "extract", "--model", str(model_dir), "--layers", "0"]) == 1
    assert "give prompts" in capsys.readouterr().err
