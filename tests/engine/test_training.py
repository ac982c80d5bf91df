"""The training loop and what it trains: zero offsets change nothing, one step lowers the loss,
a seed makes a run repeat exactly, and the results steer like any other concept."""

from __future__ import annotations

import pytest
import torch
from tiny import OPPOSITE_PAIRS, tiny_hooked

from workbench.heads.function_vector import ICLTask
from workbench.jobs import Cancelled, run
from workbench.models.interventions import AddVector, HeadOffset
from workbench.training import (
    Examples,
    TrainingError,
    TrainingSpec,
    answer_loss,
    offsets_interventions,
    train_head_offsets_job,
    train_job,
    train_steering_vector_job,
)

TASK = ICLTask("opposites", list(OPPOSITE_PAIRS), template="{input} is {output}", separator=" and ")
NEUTRAL = ["the king is", "I feel very", "the city of London", "she was"]


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


def test_zero_offsets_change_nothing(hm):
    heads = [(0, 1), (1, 3), (2, 0)]
    ivs = offsets_interventions(heads, torch.zeros(3, hm.d_head), hm.n_heads)
    enc = hm.encode(["the king is", "I feel very good"])
    with torch.no_grad():
        base = hm.forward(**enc).logits
        same = hm.forward(enc["input_ids"], enc["attention_mask"], ivs).logits
    assert torch.equal(base, same)


def test_offsets_are_the_head_offset_intervention(hm):
    """The stored [n_heads, d_head] form adds what HeadOffset adds at the chosen heads."""
    off = torch.randn(2, hm.d_head)
    ivs = offsets_interventions([(1, 0), (1, 2)], off, hm.n_heads)
    ref = HeadOffset("blocks.1.attn.hook_z", heads=[0, 2], offset=off)
    enc = hm.encode(["the king is"])
    with torch.no_grad():
        a = hm.forward(enc["input_ids"], enc["attention_mask"], ivs).logits
        b = hm.forward(enc["input_ids"], enc["attention_mask"], [ref]).logits
    torch.testing.assert_close(a, b)


def test_one_step_lowers_the_training_loss(hm):
    ex = Examples.zero_shot(TASK)
    v = torch.zeros(hm.d_model, requires_grad=True)

    def loss_fn(idx):
        return answer_loss(
            hm,
            [ex.prompts[i] for i in idx],
            [ex.answers[i] for i in idx],
            [AddVector("blocks.1.hook_resid_post", vector=v)],
        )

    spec = TrainingSpec(steps=1, lr=1e-2, batch_size=len(ex))
    curve = run(train_job([v], loss_fn, len(ex), spec))
    with torch.no_grad():
        after = float(loss_fn(list(range(len(ex)))))
    assert after < curve.losses[0]


def test_training_is_deterministic_under_a_seed(hm):
    spec = TrainingSpec(steps=4, lr=5e-2, batch_size=3, seed=7)
    a = run(train_head_offsets_job(hm, TASK, k=3, spec=spec, compare=False))
    b = run(train_head_offsets_job(hm, TASK, k=3, spec=spec, compare=False))
    assert a.heads == b.heads and a.curve.losses == b.curve.losses
    for site in a.concept.vectors:
        assert torch.equal(a.concept.vectors[site], b.concept.vectors[site])
    c = run(
        train_head_offsets_job(hm, TASK, k=3, spec=TrainingSpec(4, 5e-2, 3, seed=8), compare=False)
    )
    assert c.curve.losses != a.curve.losses


def test_head_offsets_concept_steers_like_any_other(hm, tmp_path):
    res = run(
        train_head_offsets_job(
            hm, TASK, heads=[(0, 1), (2, 3)], spec=TrainingSpec(12, 1e-1, 4), n_shots=2
        )
    )
    assert res.curve.losses[-1] < res.curve.losses[0]
    assert res.concept.recipe["kind"] == "head offsets"
    assert set(res.concept.vectors) == {"blocks.0.attn.hook_z", "blocks.2.attn.hook_z"}
    z0 = res.concept.vectors["blocks.0.attn.hook_z"]
    assert z0.shape == (hm.n_heads, hm.d_head) and z0[0].abs().sum() == 0 and z0[1].abs().sum() > 0
    assert set(res.metrics) == {"zero_shot", "head_offsets", "few_shot", "function_vector"}
    # steering with the concept's vectors = the metric the job reported
    from workbench.training import answer_metrics

    _, test = TASK.split(0.3, 0)
    ex = Examples.zero_shot(test)
    ivs = [AddVector(s, vector=v) for s, v in res.concept.vectors.items()]
    got = answer_metrics(hm, ex.prompts, ex.answers, ivs)
    assert got["target_logprob"] == pytest.approx(
        res.metrics["head_offsets"]["target_logprob"], abs=1e-5
    )
    # the project stores it like any concept
    from workbench.store import Project

    with Project.open(tmp_path / "p.wbproj", create=True) as p:
        p.add_concept(res.concept)
        back = p.load_concept(res.concept.name)
    assert back.recipe["method"] == "head_offsets"


def test_trained_vector_raises_targets_and_reports_kl(hm):
    res = run(
        train_steering_vector_job(
            hm, TASK, layer=1, neutral=NEUTRAL, kl_weight=0.5, spec=TrainingSpec(15, 5e-2, 4)
        )
    )
    m = res.metrics
    assert m["trained_vector"]["target_logprob"] > m["unsteered"]["target_logprob"]
    assert m["trained_vector"]["kl"] >= 0
    assert res.curve.extra["kl"][0] == 0.0  # zero vector: no drift at the first step
    assert res.concept.sites == ["blocks.1.hook_resid_post"]


def test_bad_settings_and_cancel(hm):
    with pytest.raises(TrainingError, match="at least one step"):
        run(train_head_offsets_job(hm, TASK, k=2, spec=TrainingSpec(steps=0)))
    with pytest.raises(Exception, match="do not exist"):
        run(train_head_offsets_job(hm, TASK, heads=[(9, 0)], spec=TrainingSpec(steps=1)))
    calls = []
    with pytest.raises(Cancelled):
        run(
            train_head_offsets_job(hm, TASK, k=2, spec=TrainingSpec(steps=50), compare=False),
            on_progress=calls.append,
            should_cancel=lambda: len(calls) > 4,
        )
    # a cancelled run gives the model's parameters back their requires_grad flags
    assert all(p.requires_grad for p in hm.model.parameters())


def test_finetune_changes_weights_and_lowers_loss(tmp_path):
    from workbench.weights.finetune import finetune_job

    hm = tiny_hooked("llama", seed=3)
    before = {k: v.clone() for k, v in hm.model.state_dict().items()}
    res = run(finetune_job(hm, TASK, spec=TrainingSpec(6, 1e-2, 4), out=tmp_path / "ft"))
    assert res.curve.losses[-1] < res.curve.losses[0]
    after = hm.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (tmp_path / "ft" / "model.safetensors").exists()
    assert all(p.requires_grad for p in hm.model.parameters())
