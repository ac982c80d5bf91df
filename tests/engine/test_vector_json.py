"""JSON vector formats (Neuronpedia, IBM .svec): float32 values round-trip bit-exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench.concepts.concept import Concept, ModelRef
from workbench.errors import VectorFileError
from workbench.io import detect_format, export_concept, import_concept

D_MODEL = 16
MODEL = ModelRef(name="tiny-llama", d_model=D_MODEL, n_layers=3, model_type="llama")
RESID_POST = [f"blocks.{L}.hook_resid_post" for L in range(3)]


def make_concept(sites, seed=0) -> Concept:
    g = torch.Generator().manual_seed(seed)
    vectors = {s: torch.randn(D_MODEL, generator=g) for s in sites}
    return Concept("joy", vectors, MODEL, recipe={"method": "diff_of_means"})


def assert_same_tensors(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for site in a:
        assert a[site].dtype == b[site].dtype and a[site].shape == b[site].shape, site
        # bit-exact: torch.equal alone would let -0.0 pass for 0.0
        assert a[site].view(torch.uint8).tolist() == b[site].view(torch.uint8).tolist(), site


AWKWARD = torch.tensor(
    [0.1, -0.0, 1e-45, -3.4028235e38, 1.1754944e-38, 2.0**-149, 1 / 3, 123456.789]
    + [float(i) / 7 for i in range(8)],
    dtype=torch.float32,
)


def test_neuronpedia_round_trip_is_bit_exact(tmp_path):
    c = Concept("pirate", {"blocks.2.hook_resid_pre": AWKWARD.clone()}, MODEL)
    out = export_concept(c, tmp_path / "pirate.json", strength=12.5, model_id="tiny-llama-np")
    body = json.loads(out.read_text())
    assert set(body) == {
        "modelId",
        "layerNumber",
        "hookType",
        "vector",
        "vectorDefaultSteerStrength",
        "vectorLabel",
    }
    assert (body["modelId"], body["layerNumber"], body["hookType"]) == (
        "tiny-llama-np",
        2,
        "hook_resid_pre",
    )
    assert (body["vectorDefaultSteerStrength"], body["vectorLabel"]) == (12.5, "pirate")
    assert detect_format(out) == "neuronpedia"
    back = import_concept(out)
    assert back.name == "pirate" and back.model.name == "tiny-llama-np"
    assert_same_tensors(c.vectors, back.vectors)
    assert back.recipe["default_strength"] == 12.5


def test_neuronpedia_writes_resid_post_as_the_next_blocks_resid_pre(tmp_path):
    c = make_concept(["blocks.1.hook_resid_post"])
    body = json.loads(export_concept(c, tmp_path / "a.json").read_text())
    assert (body["layerNumber"], body["hookType"]) == (2, "hook_resid_pre")
    last = make_concept(["blocks.2.hook_resid_post"])  # n_layers = 3: no block 3
    with pytest.raises(VectorFileError, match="last block"):
        export_concept(last, tmp_path / "b.json")
    out = export_concept(last, tmp_path / "b.json", hook_type="hook_resid_post")
    assert import_concept(out).sites == ["blocks.2.hook_resid_post"]


def test_neuronpedia_refuses_what_it_cannot_hold(tmp_path):
    with pytest.raises(VectorFileError, match="hook_resid_pre"):
        export_concept(make_concept(["blocks.1.hook_mlp_out"]), tmp_path / "a.json")
    with pytest.raises(VectorFileError, match="site="):
        export_concept(make_concept(RESID_POST), tmp_path / "a.json")
    with pytest.raises(VectorFileError, match="-100"):
        export_concept(make_concept(["blocks.1.hook_resid_pre"]), tmp_path / "a.json", strength=500)
    bad = make_concept(["blocks.1.hook_resid_pre"])
    bad.vectors["blocks.1.hook_resid_pre"][0] = float("nan")
    with pytest.raises(VectorFileError, match="NaN"):
        export_concept(bad, tmp_path / "a.json")
    assert not (tmp_path / "a.json").exists()


def test_neuronpedia_import_reads_their_spellings(tmp_path):
    body = {
        "modelId": "gpt2-small",
        "layerNumber": 6,
        "hookType": "resid-pre",
        "vector": [1, 2.5],
        "vectorDefaultSteerStrength": 20,
        "vectorLabel": "x",
    }
    (tmp_path / "v.json").write_text(json.dumps(body))
    c = import_concept(tmp_path / "v.json")
    assert c.sites == ["blocks.6.hook_resid_pre"] and c.vectors[
        "blocks.6.hook_resid_pre"
    ].tolist() == [1, 2.5]
    body["vector"] = [1, "two"]
    (tmp_path / "v.json").write_text(json.dumps(body))
    with pytest.raises(VectorFileError, match="only numbers"):
        import_concept(tmp_path / "v.json")


def test_svec_round_trip_and_ibm_layer_convention(tmp_path):
    c = make_concept(RESID_POST)
    c.vectors["blocks.0.hook_resid_post"] = AWKWARD.clone()
    c.recipe["explained_variances"] = {"0": 0.5, "1": 0.25, "2": 0.125}
    out = export_concept(c, tmp_path / "joy.svec")
    data = json.loads(out.read_text())
    # what IBM's SteeringVector.load does with it
    directions = {int(k): np.array(v) for k, v in data["directions"].items()}
    assert sorted(directions) == [0, 1, 2] and data["model_type"] == "llama"
    assert {int(k): v for k, v in data["explained_variances"].items()} == {
        0: 0.5,
        1: 0.25,
        2: 0.125,
    }
    for L in range(3):
        assert np.array_equal(
            directions[L].astype(np.float32), c.vectors[f"blocks.{L}.hook_resid_post"].numpy()
        )
    back = import_concept(out)
    assert_same_tensors(c.vectors, back.vectors)
    assert back.model.model_type == "llama"


def test_svec_maps_resid_pre_to_the_previous_block_and_refuses_the_rest(tmp_path):
    out = export_concept(make_concept(["blocks.2.hook_resid_pre"]), tmp_path / "a.svec")
    assert list(json.loads(out.read_text())["directions"]) == ["1"]
    with pytest.raises(VectorFileError, match="input of block 0"):
        export_concept(make_concept(["hook_embed"]), tmp_path / "b.svec")
    with pytest.raises(VectorFileError, match="attn_out"):
        export_concept(make_concept(["blocks.1.hook_attn_out"]), tmp_path / "b.svec")


def test_json_import_keeps_float64_when_float32_would_round(tmp_path):
    (tmp_path / "v.svec").write_text(
        json.dumps({"model_type": "llama", "directions": {"1": [0.1, 0.2]}})
    )
    v = import_concept(tmp_path / "v.svec").vectors["blocks.1.hook_resid_post"]
    assert v.dtype == torch.float64 and v.tolist() == [0.1, 0.2]
