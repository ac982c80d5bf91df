"""A text generation's provenance is a versioned engine record: made, stored, read back equal;
older records read, newer ones refused."""

from __future__ import annotations

import pytest

from workbench.concepts.concept import Concept, ModelRef
from workbench.concepts.provenance import (
    PROVENANCE_VERSION,
    TextGenerationProvenance,
    text_generation_provenance,
)
from workbench.errors import WorkbenchError
from workbench.models.generation import SamplingSettings
from workbench.store import Project

REF = ModelRef(name="m", architecture="LlamaForCausalLM", d_model=4, n_layers=2)


def _concept() -> Concept:
    import torch

    recipe = {"method": "diff_of_means", "prompts": {"pairs": [["a", "b"]]}, "version": 1}
    return Concept("happy", {"blocks.1.hook_resid_post": torch.ones(4)}, REF, recipe)


def test_steering_record_round_trips_through_the_project(tmp_path) -> None:
    settings, concept = SamplingSettings(max_new_tokens=5, seed=7), _concept()
    rec = TextGenerationProvenance.of_steering(
        REF, concept, ["blocks.1.hook_resid_post"], 4.0, settings, {"sweep_run": 3}
    )
    d = rec.to_dict()
    assert d["provenance_version"] == PROVENANCE_VERSION and d["seed"] == 7
    assert d["concept"]["recipe"] == {"method": "diff_of_means", "version": 1}  # no prompts
    assert d == text_generation_provenance(
        REF, concept, ["blocks.1.hook_resid_post"], 4.0, settings, {"sweep_run": 3}
    )
    with Project.create(tmp_path / "p.wbproj") as p:
        gid = p.add_generation(prompt="I feel", baseline="ok", steered="great", provenance=rec)
        back = p.generation(gid).text_provenance()
    assert back == rec and back.extra == {"sweep_run": 3} and back.sites == rec.sites


def test_records_of_older_and_newer_versions() -> None:
    old = {  # revision 0001's fixture: no version, the concept by id, coefficients as a list
        "model": REF.to_dict(),
        "concept": "c0000000000000000000000000000001",
        "sites": ["blocks.1.hook_resid_post"],
        "coefficients": [4.0],
        "seed": 1234,
        "sampling": {"temperature": 0.0, "max_new_tokens": 8},
    }
    rec = TextGenerationProvenance.from_dict(old)
    assert rec.version == 0 and rec.seed == 1234 and rec.concept == {"id": old["concept"]}
    assert rec.extra == {"coefficients": [4.0]}  # kept, not lost
    newer = {**old, "provenance_version": PROVENANCE_VERSION + 1}
    with pytest.raises(WorkbenchError, match="Update it"):
        TextGenerationProvenance.from_dict(newer)
    with pytest.raises(WorkbenchError, match="not a text generation"):
        TextGenerationProvenance.from_dict({"seed": 7, "steps": 2})  # an image's record
