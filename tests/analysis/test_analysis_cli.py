"""``workbench analysis``: JSON on stdout, figures written, runs stored, clear errors."""

from __future__ import annotations

import json

import pytest

from workbench.cli import main
from workbench.store import Project


@pytest.mark.slow
def test_logit_lens_and_patch_commands(tiny_llama_dir, tmp_path, capsys):
    m = ["--model", str(tiny_llama_dir)]
    proj = tmp_path / "p.wbproj"
    fig = tmp_path / "lens.svg"
    rc = main(["analysis", "logit-lens", "the capital of France is", "--target", "Paris",
               "--figure", str(fig), "--project", str(proj), "--json", *m])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["kind"] == "logit_lens" and fig.read_bytes().startswith(b"<?xml")
    assert len(out["last_position"]["rows"]) == 4 and out["run_id"] >= 1
    rc = main(["analysis", "patch", "the capital of France is", "the capital of London is",
               "--target", "Paris", "--foil", "London", "--component", "resid_pre",
               "--component", "mlp_out", "--project", str(proj), "--json", *m])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and [r["component"] for r in out["results"]] == ["resid_pre", "mlp_out"]
    with Project.open(proj, read_only=True) as p:
        assert len(p.runs("logit_lens")) == 1 and len(p.runs("activation_patching")) == 2
        assert len(p.figures()) == 3
    for args in (["subspace-patch", "the capital of France is", "the capital of London is",
                  "--target", "Paris", "--foil", "London", "--layer", "1"],
                 ["dla", "the capital of France is", "--target", "Paris"],
                 ["head-ov", "--layer", "1", "--head", "0", "--tokens", "one,two"]):  # fmt: skip
        assert main(["analysis", *args, "--json", *m]) == 0
        assert json.loads(capsys.readouterr().out)["kind"]


def test_errors_are_one_line(tiny_llama_dir, tmp_path, capsys):
    m = ["--model", str(tiny_llama_dir)]
    rc = main(["analysis", "patch", "the capital of France is", "the capital of the London is",
               "--target", "Paris", "--foil", "London", *m])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1 and "same number of tokens" in err and "Traceback" not in err
    rc = main(["analysis", "logit-lens", "the king", "--figure", str(tmp_path / "x.gif"), *m])
    assert rc == 1 and ".png, .svg or .pdf" in capsys.readouterr().err
    rc = main(["analysis", "head-ov", "--layer", "9", "--head", "0", *m])
    assert rc in (1, 2) and "error" in capsys.readouterr().err


def test_same_prompts_give_strict_json_with_a_note(tiny_llama_dir, capsys):
    """Clean = corrupted: no gap, so the restored fractions are undefined; the JSON says null
    (it printed NaN, which strict parsers refuse) and the note says what to change."""
    m = ["--model", str(tiny_llama_dir)]
    rc = main(["analysis", "patch", "the capital of France is", "the capital of France is",
               "--target", "Paris", "--foil", "London", "--json", *m])  # fmt: skip
    text = capsys.readouterr().out

    def refuse(name: str) -> None:
        raise ValueError(name)

    out = json.loads(text, parse_constant=refuse)
    assert rc == 0 and out["best_cells"][0]["normalized"] is None
    assert "no gap to restore" in out["note"]


@pytest.mark.slow
def test_subspace_patch_with_a_concept_records_its_name(tiny_llama_dir, tmp_path, capsys):
    """--concept takes v from the project; the stored run says which concept it was."""
    import torch

    from workbench.concepts.concept import Concept
    from workbench.models.ref import ModelRef

    proj = tmp_path / "p.wbproj"
    v = torch.randn(32, generator=torch.Generator().manual_seed(0))
    with Project.open(proj, create=True) as p:
        ref = ModelRef("tiny-llama", d_model=32, n_layers=3, model_type="llama")
        p.add_concept(Concept("france_vs_london", {"blocks.1.hook_resid_post": v}, ref))
    rc = main(["analysis", "subspace-patch", "the capital of France is",
               "the capital of London is", "--target", "Paris", "--foil", "London",
               "--layer", "1", "--site", "resid_post", "--concept", "france_vs_london",
               "--project", str(proj),
               "--json", "--model", str(tiny_llama_dir)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    with Project.open(proj, read_only=True) as p:
        (run,) = p.runs("subspace_patching")
        settings = p.load_run(run.id).settings
    assert settings["direction"] == "the concept 'france_vs_london'"
