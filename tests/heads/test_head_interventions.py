"""Head interventions and function-vector concepts against references: identities, a plain
forward with the same interventions, and hand counts."""

from __future__ import annotations

import pytest
import torch
from tiny import OPPOSITE_PAIRS, tiny_hooked

from workbench.errors import WorkbenchError
from workbench.heads.data import TaskPrompts
from workbench.heads.function_vector import (
    ICLTask,
    function_vector_concept_job,
    zero_shot_accuracy,
)
from workbench.heads.head_interventions import (
    HeadInterventionSpec,
    head_intervention_curve_job,
    head_intervention_generate_job,
    head_interventions,
)
from workbench.heads.headset import ablation_interventions
from workbench.jobs import run
from workbench.models.generation import SamplingSettings, steered_generate
from workbench.models.tokens import continuation_token_id, target_token_id

HEADS = ((0, 1), (1, 2), (1, 0))
PROMPT = "the king is a man and the queen is"
TASK = ICLTask(
    "opposites",
    OPPOSITE_PAIRS,
    template="{input} is {output}",
    separator=" .",
)  # fmt: skip


def _logits(hm, ivs):
    with torch.no_grad():
        return hm.logits([PROMPT], ivs)


def test_scale_by_one_changes_nothing_and_by_zero_is_zero_ablation():
    hm = tiny_hooked("llama")
    plain = _logits(hm, [])
    one = _logits(hm, head_interventions(hm, HeadInterventionSpec("scale", HEADS, 1.0)))
    assert torch.equal(one, plain)
    zero = _logits(hm, head_interventions(hm, HeadInterventionSpec("scale", HEADS, 0.0)))
    ablated = _logits(hm, ablation_interventions(list(HEADS), "zero"))
    assert torch.equal(zero, ablated) and not torch.allclose(zero, plain)
    half = _logits(hm, head_interventions(hm, HeadInterventionSpec("scale", HEADS, 0.5)))
    assert not torch.allclose(half, plain) and not torch.allclose(half, zero)


@pytest.mark.parametrize("action", ["ablate_zero", "ablate_mean", "scale", "offset_mean",
                                    "offset_random", "zero_tuning"])  # fmt: skip
def test_generate_job_is_a_steered_generation_with_the_same_interventions(action):
    hm = tiny_hooked("llama")
    spec = HeadInterventionSpec(action, HEADS, 3.0)
    s = SamplingSettings(max_new_tokens=4, stop_at_eos=False)
    got = run(head_intervention_generate_job(hm, PROMPT, spec, s))
    ref = steered_generate(hm, PROMPT, head_interventions(hm, spec, [PROMPT]), s)
    assert got.generation.token_ids == ref.generation.token_ids
    assert got.baseline == ref.baseline


def test_refuses_heads_and_values_the_model_does_not_have():
    hm = tiny_hooked("llama")
    with pytest.raises(WorkbenchError, match="L9H0 not in"):
        HeadInterventionSpec("scale", ((9, 0),), 1.0).check(hm)
    with pytest.raises(WorkbenchError, match="L-1H0 not in"):
        HeadInterventionSpec("scale", ((-1, 0),), 1.0).check(hm)
    with pytest.raises(WorkbenchError, match="finite factor"):
        HeadInterventionSpec("scale", HEADS, float("nan")).check(hm)
    with pytest.raises(WorkbenchError, match="unknown head intervention 'melt'"):
        HeadInterventionSpec("melt", HEADS, 1.0).check(hm)


def test_curve_counts_accuracy_like_a_hand_loop():
    hm = tiny_hooked("llama")
    queries = [TASK.query(x) for x, _ in TASK.pairs]
    answers = [TASK.answer(y) for _, y in TASK.pairs]
    prompts = TaskPrompts(queries, answers, name="opposites")
    spec = HeadInterventionSpec("zero_tuning", HEADS, 1.0)
    values = [0.0, 1.0, 3.0]
    curve = run(head_intervention_curve_job(hm, spec, prompts, values, max_rows=7))
    ids = torch.tensor([target_token_id(hm.tokenizer, a) for a in answers])

    def hand(ivs):
        hits, lp = 0, 0.0
        for q, t in zip(queries, ids, strict=True):
            with torch.no_grad():
                logits = hm.logits([q], ivs)[0, -1].float()
            hits += int(logits.argmax() == t)
            lp += float(torch.log_softmax(logits, -1)[t])
        return hits / len(queries), lp / len(queries)

    base = hand([])
    assert curve.baseline_accuracy == pytest.approx(base[0])
    assert curve.baseline_logprob == pytest.approx(base[1], rel=1e-4)
    for v, acc, lp in zip(curve.values, curve.accuracy, curve.answer_logprob, strict=True):
        ref = hand(head_interventions(hm, spec, value=v))
        assert acc == pytest.approx(ref[0]) and lp == pytest.approx(ref[1], rel=1e-4), v
    # a factor of 1 changes nothing
    assert curve.accuracy[1] == curve.baseline_accuracy


def test_function_vector_accuracy_is_held_out_and_counted_by_hand():
    hm = tiny_hooked("llama")
    r = run(function_vector_concept_job(hm, HEADS, TASK, n_prompts=6, n_shots=2, layer=1))
    train, test = TASK.split(0.3, 0)
    assert r.held_out == len(test.pairs) == 3 and r.train == 7
    held = {x for x, _ in test.pairs}
    # the vector never saw a held-out word: none is in its in-context prompts
    for text in r.concept.recipe["prompts"]["texts"]:
        assert not held & set(text.replace(" .", " ").split())
    hits = 0
    for x, y in test.pairs:
        with torch.no_grad():
            ivs = r.function_vector.interventions(1.0)
            logits = hm.logits([TASK.query(x)], ivs)[0, -1]
        hits += int(logits.argmax() == continuation_token_id(hm.tokenizer, TASK.answer(y)))
    assert r.accuracy["with_fv"] == pytest.approx(hits / 3)
    assert r.accuracy["zero_shot"] == pytest.approx(zero_shot_accuracy(hm, test))
    assert r.concept.recipe["held_out"]["words"] == [x for x, _ in test.pairs]
