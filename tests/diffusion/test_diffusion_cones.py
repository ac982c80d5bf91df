"""Concept neurons (Cones) on the tiny pipelines: the neuron pool, the identities (no neurons, or
scale 1, change nothing bit for bit), the gradient against finite differences and exact
ablations, the ablation check, the ``neurons`` level with provenance, the sweep axis, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.diffusion.cones import (
    ConesSpec,
    NeuronEdit,
    concept_measure,
    cones_job,
    edit_from_result,
    kv_neurons,
    record_denoiser_calls,
)
from workbench.diffusion.generate import baseline_and_edited, generate_image
from workbench.diffusion.provenance import read_provenance
from workbench.diffusion.sweep import SweepAxis, SweepSpec, run_sweep
from workbench.errors import ShapeMismatchError, WorkbenchError
from workbench.jobs import run

SIZE = 64
CONCEPT = "a dog on the grass"


def _spec(**changes):
    base = {"concept": CONCEPT, "steps": 2, "width": SIZE, "height": SIZE, "top_k": 6,
            "random_sets": 4, "exact_check": 8}  # fmt: skip
    base.update(changes)
    return ConesSpec(**base)


@pytest.fixture(scope="module")
def sd_scores(sd_dm):
    return run(cones_job(sd_dm, _spec()))


def test_the_pool_is_every_cross_attention_key_and_value_channel(sd_dm, sdxl_dm, sd3_dm, flux_dm):
    pool = kv_neurons(sd_dm)
    modules = {m for m, _ in pool}
    assert modules and all(m.endswith(("attn2.to_k", "attn2.to_v")) for m in modules)
    assert len(pool) == sum(sd_dm.denoiser.get_submodule(m).out_features for m in modules)
    assert all(m.endswith("attn2.to_k") for m, _ in kv_neurons(sdxl_dm, ("k",)))
    assert all(m.endswith(("add_k_proj", "add_v_proj")) for m, _ in kv_neurons(sd3_dm))
    with pytest.raises(WorkbenchError, match="guidance-distilled"):
        kv_neurons(flux_dm)


def _array(dm, **spec):
    from workbench.diffusion.generate import ImageSpec

    base = {"prompt": CONCEPT, "steps": 2, "width": SIZE, "height": SIZE, "seed": 3}
    base.update(spec)
    return run(generate_image(dm, ImageSpec(**base))).array


def test_no_neurons_and_scale_one_change_nothing_bit_for_bit(sd_dm):
    plain = _array(sd_dm)
    empty = NeuronEdit((), 0.0)
    assert np.array_equal(_array(sd_dm, level="neurons", neurons=empty), plain)
    every = NeuronEdit(tuple(kv_neurons(sd_dm)), 1.0)  # hooks run on every K/V channel, x * 1
    assert np.array_equal(_array(sd_dm, level="neurons", neurons=every), plain)
    off = _array(sd_dm, level="neurons", neurons=every.with_scale(0.0))
    assert np.abs(off - plain).max() > 0
    # and the same identities hold for the measure the scores are gradients of
    calls = run(record_denoiser_calls(sd_dm, _spec()))
    m = concept_measure(sd_dm, calls)
    with empty.applied(sd_dm):
        assert concept_measure(sd_dm, calls) == m
    with every.applied(sd_dm):
        assert concept_measure(sd_dm, calls) == m


def test_scores_are_the_gradient_of_the_measure(sd_dm, sd_scores):
    """Reference: a central finite difference of the measure in one neuron's gate at 1."""
    calls = run(record_denoiser_calls(sd_dm, _spec()))
    h = 1e-2
    for n in sd_scores.top(3):
        up = NeuronEdit((n,), 1 + h)
        down = NeuronEdit((n,), 1 - h)
        with up.applied(sd_dm):
            m_up = concept_measure(sd_dm, calls)
        with down.applied(sd_dm):
            m_down = concept_measure(sd_dm, calls)
        fd = (m_up - m_down) / (2 * h)
        score = sd_scores.scores[sd_scores.neurons.index(n)]
        assert fd == pytest.approx(score, rel=2e-2, abs=1e-9)


def test_the_top_set_removes_more_of_the_concept_than_random_sets(sd_scores):
    r = sd_scores
    assert len(r.neurons) == 64 and r.measure > 0
    a = r.ablation
    assert a.k == 6 and len(a.measure_random) == 4
    assert a.beats_random and a.drop_top > max(a.drop_random)
    assert a.measure == pytest.approx(r.measure)
    # the exact single-neuron drops follow the gradient's prediction
    assert len(r.exact.neurons) == 16 and r.exact.pearson > 0.8
    d = r.to_dict()
    assert d["ablation"]["beats_random"] and d["top"][0]["rank"] == 1
    assert json.loads(json.dumps(d)) == d  # JSON as it is stored
    fig = r.figure_spec()
    assert fig["kind"] == "line" and len(fig["series"]) == 2


def test_a_stored_scoring_gives_back_the_same_neurons(sd_scores):
    full = json.loads(json.dumps(sd_scores.to_dict(full=True)))
    assert edit_from_result(full, k=6).neurons == tuple(sd_scores.top(6))
    short = json.loads(json.dumps(sd_scores.to_dict(top=5)))
    assert edit_from_result(short, k=5).neurons == tuple(sd_scores.top(5))
    with pytest.raises(WorkbenchError, match="top 5 only"):
        edit_from_result(short, k=6)
    with pytest.raises(WorkbenchError, match="not a concept-neuron"):
        edit_from_result({"format": "something else"})


def test_the_neurons_level_compares_with_the_plain_prompt_and_records_it(
    sd_dm, sd_scores, make_spec
):
    edit = sd_scores.edit(6, 0.0)
    spec = make_spec(prompt=CONCEPT, level="neurons", neurons=edit, seed=3)
    c = run(baseline_and_edited(sd_dm, spec))
    assert c.baseline.spec.neurons is None and c.baseline.spec.seed == c.edited.spec.seed
    assert np.array_equal(c.baseline.array, _array(sd_dm))  # the plain prompt, same seed
    assert np.abs(c.edited.array - c.baseline.array).max() > 0
    prov = read_provenance(c.edited.png_bytes())
    n = prov["workbench"]["neurons"]
    assert n["scale"] == 0.0 and n["count"] == 6 and n["label"] == f"top 6 for {CONCEPT!r}"
    assert NeuronEdit.from_dict(n).neurons == edit.neurons
    assert "Workbench neurons" in prov["parameters"]
    assert "neurons" not in c.baseline.info


def test_a_neuron_scale_sweep_shares_the_seed(sd_dm, sd_scores, make_spec):
    base = make_spec(prompt=CONCEPT, level="neurons", neurons=sd_scores.edit(6, 0.0))
    r = run(run_sweep(sd_dm, SweepSpec(base, SweepAxis("neuron_scale", (0.0, 1.0, 2.0)))))
    (row,) = r.images
    assert [c.spec.neurons.scale for c in row] == [0.0, 1.0, 2.0]
    plain = run(generate_image(sd_dm, make_spec(prompt=CONCEPT))).array
    # scale 1 in a batch of three: equal to the plain prompt up to batched kernels' order
    np.testing.assert_allclose(row[1].array, plain, atol=1e-5)
    assert np.abs(row[0].array - row[1].array).max() > 1e-3
    with pytest.raises(WorkbenchError, match="needs concept neurons"):
        SweepAxis("neuron_scale", (0.0,)).apply(make_spec(prompt=CONCEPT), 0.0)


def test_refusals_say_what_to_do(sd_dm, make_spec):
    with pytest.raises(WorkbenchError, match="guidance must be above 1"):
        _spec(guidance=1.0)
    with pytest.raises(WorkbenchError, match="the same"):
        _spec(base=CONCEPT)
    with pytest.raises(WorkbenchError, match="needs a NeuronEdit"):
        make_spec(prompt=CONCEPT, level="neurons")
    with pytest.raises(WorkbenchError, match="choose fewer"):
        run(cones_job(sd_dm, _spec(top_k=64)))
    foreign = NeuronEdit((("transformer_blocks.0.attn.add_k_proj", 0),), 0.0)
    with pytest.raises(ShapeMismatchError, match="another model"):
        run(generate_image(sd_dm, make_spec(prompt="x", level="neurons", neurons=foreign)))
    big = NeuronEdit(((kv_neurons(sd_dm)[0][0], 999),), 0.0)
    with pytest.raises(ShapeMismatchError, match="does not exist"):
        big.check(sd_dm)
    with pytest.raises(WorkbenchError, match="finite"):
        NeuronEdit((), float("nan"))
