"""``workbench concepts sweep`` end to end on a tiny model: the stored run is what the window reads."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.cli import main
from workbench.concepts.concept import Concept
from workbench.concepts.steering_sweep import SteeringSweepResult
from workbench.models.loading import load_language_model
from workbench.store import Project


@pytest.fixture
def model_dir(tiny_llama_dir):
    return tiny_llama_dir


def test_sweep_stores_the_run_and_every_generation(model_dir, tmp_path, capsys):
    hm = load_language_model(str(model_dir), device="cpu")
    g = torch.Generator().manual_seed(0)
    vecs = {f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g) for L in (0, 1)}
    proj = tmp_path / "s.wbproj"
    with Project.open(proj, create=True) as p:
        p.add_concept(Concept("happy", vecs, hm.ref, {"method": "test"}))
    argv = [
        "concepts", "sweep", "happy", "--model", str(model_dir), "--device", "cpu",
        "--project", str(proj), "--layers", "0,1", "--coefficients", "-2", "0", "2",
        "--prompt", "the king is", "--prompt", "I feel very", "--targets", "good,bad",
        "--max-new-tokens", "3", "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["layers"] == [0, 1] and out["coefficients"] == [-2.0, 0.0, 2.0]
    assert len(out["texts"][1][2]) == 2  # [layer][coef][prompt]
    assert out["metrics"]["kl"][0][1] == pytest.approx(0.0, abs=1e-6)
    with Project.open(proj, read_only=True) as p:
        rec = p.load_run(out["run_id"])
        r = SteeringSweepResult.from_dict(dict(rec.result), dict(rec.settings))
        assert r.texts == out["texts"] and rec.name == "happy sweep"
        gens = p.generations("text", images=False)
        assert len(gens) == 2 * 3 * 2
        assert {g.provenance["sweep_run"] for g in gens} == {out["run_id"]}


def test_sweep_refuses_bad_input(model_dir, tmp_path, capsys):
    base = ["concepts", "sweep", "nothing", "--model", str(model_dir), "--device", "cpu"]
    assert main([*base, "--layers", "0", "--coefficients", "1", "--prompt", "a"]) == 1
    assert "no concept named 'nothing'" in capsys.readouterr().err
    f = tmp_path / "v.safetensors"
    from safetensors.torch import save_file

    save_file({"blocks.0.hook_resid_post": torch.ones(8)}, str(f))
    argv = [*base[:2], "v", "--concept", f"v={f}", *base[3:], "--layers", "0", "--prompt", "a"]
    assert main([*argv, "--coefficients", "nan"]) == 1
    assert "finite" in capsys.readouterr().err
    assert main([*argv, "--coefficients", "1", "--layers", "9"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err


def test_sweep_cli_review_fixes(model_dir, tmp_path, capsys):
    from safetensors.torch import save_file

    f = tmp_path / "v.safetensors"
    save_file({"blocks.1.hook_resid_post": torch.ones(32)}, str(f))
    base = ["concepts", "sweep", "v", "--concept", f"v={f}", "--model", str(model_dir), "--json"]
    # repeated --coefficients add up; one-site vector added at every swept layer
    assert (
        main(
            [*base, "--layers", "0,1", "--coefficients", "1", "--coefficients=-2", "--prompt", "a"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (
        out["coefficients"] == [1.0, -2.0]
        and out["spec"]["vector_site"] == "blocks.1.hook_resid_post"
    )
    # a template typo is a clear error (exit 1), not an internal error
    argv = [
        *base,
        "--layers",
        "1",
        "--coefficients",
        "1",
        "--set",
        "antonyms",
        "--template",
        "Q: {x} {output}",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "must hold {input} and {output}" in err and "internal error" not in err
    # function-vector --heads that the model lacks or that cannot be read
    fv = [
        "heads",
        "function-vector",
        "--model",
        str(model_dir),
        "--n-prompts",
        "2",
        "--n-shots",
        "1",
    ]
    assert main([*fv, "--heads", "L9H0"]) == 1
    assert "--heads L9H0" in capsys.readouterr().err
    assert main([*fv, "--heads", "garbage"]) == 1
    assert "no heads in 'garbage'" in capsys.readouterr().err
