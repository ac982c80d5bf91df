"""Per-token weights through the steering sweep and the command line (``concepts sweep``,
``models generate``)."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.cli import main
from workbench.concepts.concept import Concept
from workbench.concepts.steering_sweep import SteeringSweepSpec, steering_sweep
from workbench.errors import WorkbenchError
from workbench.models.generation import SamplingSettings
from workbench.models.loading import load_language_model
from workbench.store import Project


@pytest.fixture(scope="module")
def hm(tiny_llama_dir):
    return load_language_model(str(tiny_llama_dir), device="cpu")


def _concept(hm, name="happy", seed=0):
    g = torch.Generator().manual_seed(seed)
    vecs = {f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g) for L in (0, 1)}
    return Concept(name, vecs, hm.ref, {"method": "test"})


def _spec(**kw):
    return SteeringSweepSpec(
        layers=(0, 1), coefficients=(-2.0, 3.0), prompts=("the king is", "I feel very good"),
        settings=SamplingSettings(max_new_tokens=4), **kw,
    )  # fmt: skip


def test_sweep_with_weights_of_one_is_the_plain_sweep(hm):
    c = _concept(hm)
    plain = steering_sweep(hm, c, _spec())
    ones = steering_sweep(hm, c, _spec(weighting={"mode": "given", "values": [1.0], "rest": 1.0}))
    assert ones.texts == plain.texts and ones.token_ids == plain.token_ids
    assert ones.metrics == plain.metrics
    zero = steering_sweep(hm, c, _spec(weighting={"mode": "given", "values": [0.0], "rest": 0.0}))
    assert all(v == pytest.approx(0.0, abs=1e-6) for row in zero.metrics["kl"] for v in row)


def test_sweep_with_projection_weights_and_stored_spec(hm):
    c, probe = _concept(hm), _concept(hm, "probe", 1)
    w = {"mode": "projection", "center": 0.0, "scale": 0.5, "invert": False, "probe": "probe",
         "directions": {s: probe.vectors[s].tolist() for s in probe.sites}}  # fmt: skip
    r = steering_sweep(hm, c, _spec(weighting=w))
    again = SteeringSweepSpec.from_dict(r.spec.to_dict())
    assert again.weighting == w
    with pytest.raises(WorkbenchError, match="scale"):
        steering_sweep(hm, c, _spec(weighting={**w, "scale": 0.0}))
    bad = {**w, "directions": {"blocks.0.hook_resid_post": [1.0, 2.0]}}
    with pytest.raises(WorkbenchError, match="32 values"):
        steering_sweep(hm, c, _spec(weighting=bad))


@pytest.mark.slow
def test_cli_weights(hm, tiny_llama_dir, tmp_path, capsys):
    proj = tmp_path / "w.wbproj"
    with Project.open(proj, create=True) as p:
        p.add_concept(_concept(hm))
        p.add_concept(_concept(hm, "probe", 1))
    base = ["models", "generate", "the king is", "--model", str(tiny_llama_dir), "--project",
            str(proj), "--concept", "happy", "--site", "blocks.1.hook_resid_post",
            "--max-new-tokens", "4", "--json"]  # fmt: skip
    assert main(base) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(base + ["--token-weights", "1,1"]) == 0
    ones = json.loads(capsys.readouterr().out)
    assert ones["steered"] == plain["steered"]
    assert ones["interventions"][0]["token_weights"]["mode"] == "given"
    assert main(base + ["--weight-probe", "probe", "--weight-scale", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["interventions"][0]["token_weights"]["mode"] == "projection"
    assert main(base + ["--weight-probe"]) == 0  # the steering vector itself
    capsys.readouterr()
    assert main(base + ["--token-weights", "1,x"]) == 1
    assert "commas" in capsys.readouterr().err
    sweep = ["concepts", "sweep", "happy", "--model", str(tiny_llama_dir), "--project", str(proj),
             "--layers", "0,1", "--coefficients", "2", "--prompt", "the king is",
             "--max-new-tokens", "2", "--json"]  # fmt: skip
    assert main(sweep + ["--weight-probe", "probe", "--weight-invert"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["spec"]["weighting"]["invert"] is True
    assert main(sweep + ["--token-weights", "0,1", "--weight-probe", "probe"]) == 1
    assert "not both" in capsys.readouterr().err
