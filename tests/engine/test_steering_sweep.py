"""The batched steering sweep against its reference: one steered generation per cell."""

from __future__ import annotations

import math

import pytest
import torch
from tiny import tiny_hooked

from workbench.concepts.concept import Concept
from workbench.concepts.steering_sweep import (
    SteeringSweepResult,
    SteeringSweepSpec,
    answer_matches,
    steering_sweep,
    steering_sweep_job,
)
from workbench.errors import WorkbenchError
from workbench.jobs import run
from workbench.models.generation import SamplingSettings, generate, steered_generate
from workbench.models.interventions import AddVector


def _concept(hm, layers, seed=0):
    g = torch.Generator().manual_seed(seed)
    vecs = {f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g) for L in layers}
    return Concept("probe", vecs, hm.ref, {"method": "test"})


@pytest.mark.parametrize("max_rows", [None, 5])
def test_sweep_cells_equal_one_steered_generation_each(max_rows):
    hm = tiny_hooked("llama")
    concept = _concept(hm, [0, 1])
    prompts = ("the king is", "I feel very happy and")  # different lengths: left padding
    settings = SamplingSettings(max_new_tokens=6, stop_at_eos=False)
    spec = SteeringSweepSpec(
        layers=(0, 1),
        coefficients=(-4.0, 0.0, 3.0),
        prompts=prompts,
        settings=settings,
        targets=("queen",),
        max_rows=max_rows,
    )
    res = steering_sweep(hm, concept, spec)
    for p, prompt in enumerate(prompts):
        base = generate(hm, [prompt], (), settings)
        assert res.baselines[p] == base.texts[0]
        for i, L in enumerate(spec.layers):
            site = f"blocks.{L}.hook_resid_post"
            for j, c in enumerate(spec.coefficients):
                ref = steered_generate(
                    hm, prompt, [AddVector(site, vector=concept.vectors[site], coefficient=c)],
                    settings,
                )  # fmt: skip
                assert res.token_ids[i][j][p] == ref.generation.token_ids[1], (L, c, prompt)
                assert res.texts[i][j][p] == ref.steered
    # coefficient 0 steers nothing: KL 0, fluency that of the baseline
    for i in range(2):
        assert res.metrics["kl"][i][1] == pytest.approx(0.0, abs=1e-5)
        assert res.metrics["base_perplexity_of_steered"][i][1] == pytest.approx(
            res.baseline_metrics["base_perplexity_of_steered"], rel=1e-4
        )
    assert all(res.metrics["kl"][i][j] > 0 for i in range(2) for j in (0, 2))


def test_sweep_metrics_against_a_hand_computation():
    hm = tiny_hooked("llama")
    concept = _concept(hm, [1], seed=3)
    prompt = "the capital of France is"
    settings = SamplingSettings(max_new_tokens=4, stop_at_eos=False)
    spec = SteeringSweepSpec(
        layers=(1,), coefficients=(5.0,), prompts=(prompt,), settings=settings, targets=("Paris",)
    )
    res = steering_sweep(hm, concept, spec)
    site = "blocks.1.hook_resid_post"
    iv = [AddVector(site, vector=concept.vectors[site], coefficient=5.0)]
    base = generate(hm, [prompt], (), settings)
    steered = generate(hm, [prompt], iv, settings)
    enc = hm.encode([prompt])["input_ids"]
    n = enc.shape[1]
    with torch.no_grad():
        seq = torch.cat([enc, torch.tensor([base.token_ids[0]])], -1)
        q = torch.log_softmax(hm.forward(seq).logits[0, n - 1 : -1].float(), -1)
        p = torch.log_softmax(hm.forward(seq, None, iv).logits[0, n - 1 : -1].float(), -1)
        kl = float((p[0].exp() * (p[0] - q[0])).sum())  # the next token after the prompt
        target = hm.tokenizer(" Paris", add_special_tokens=False)["input_ids"][0]
        seq2 = torch.cat([enc, torch.tensor([steered.token_ids[0]])], -1)
        lp = torch.log_softmax(hm.forward(seq2).logits[0, n - 1 : -1].float(), -1)
        ppl = math.exp(float(-lp.gather(-1, seq2[0, n:, None]).mean()))
    assert res.metrics["kl"][0][0] == pytest.approx(kl, rel=1e-4, abs=1e-6)
    assert res.metrics["target_logprob"][0][0] == pytest.approx(float(p[0, target]), rel=1e-4)
    assert res.metrics["base_perplexity_of_steered"][0][0] == pytest.approx(ppl, rel=1e-4)


def test_accuracy_counts_answers_by_hand():
    hm = tiny_hooked("llama")
    concept = _concept(hm, [0])
    prompts = ("the king is", "she is", "we are")
    settings = SamplingSettings(max_new_tokens=3, stop_at_eos=False)
    base = generate(hm, list(prompts), (), settings)
    # expected answers: the baseline's own first words for two prompts, a wrong one for the third
    answers = (base.texts[0], base.texts[1], "zzz")
    spec = SteeringSweepSpec(
        layers=(0,), coefficients=(0.0,), prompts=prompts, answers=answers, settings=settings
    )
    res = steering_sweep(hm, concept, spec)
    hand = sum(answer_matches(t, a) for t, a in zip(base.texts, answers, strict=True)) / 3
    assert res.metrics["accuracy"][0][0] == pytest.approx(hand)
    assert res.baseline_metrics["accuracy"] == pytest.approx(hand)
    assert answer_matches(" cold\n\nQ:", "cold") and not answer_matches(" colder", "cold")


def test_progress_reports_every_cell_and_cancels():
    hm = tiny_hooked("llama")
    concept = _concept(hm, [0, 1])
    spec = SteeringSweepSpec(
        layers=(0, 1), coefficients=(1.0, 2.0), prompts=("the king",),
        settings=SamplingSettings(max_new_tokens=2), max_rows=2,
    )  # fmt: skip
    cells = []
    res = run(
        steering_sweep_job(hm, concept, spec),
        on_progress=lambda p: (
            cells.append(p.payload[1:3]) if p.payload and p.payload[0] == "cell" else None
        ),
    )
    assert sorted(cells) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # a closed job leaves no hook behind
    job = steering_sweep_job(hm, concept, spec)
    next(job), next(job), next(job)
    job.close()
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in hm.model.modules())
    # the stored form reads back as it was
    back = SteeringSweepResult.from_dict(res.to_dict())
    assert back.texts == res.texts and back.spec == res.spec


def test_refuses_what_cannot_run():
    hm = tiny_hooked("llama")
    concept = _concept(hm, [0])
    s = SamplingSettings(max_new_tokens=2)
    with pytest.raises(WorkbenchError, match="no vector at resid_post of layer"):
        steering_sweep(hm, concept, SteeringSweepSpec((1,), (1.0,), ("a",), settings=s))
    with pytest.raises(WorkbenchError, match="out of range"):
        steering_sweep(hm, concept, SteeringSweepSpec((7,), (1.0,), ("a",), settings=s))
    with pytest.raises(WorkbenchError, match="finite"):
        steering_sweep(hm, concept, SteeringSweepSpec((0,), (math.nan,), ("a",), settings=s))
    bad = Concept("nan", {"blocks.0.hook_resid_post": torch.full((hm.d_model,), math.nan)}, hm.ref)
    with pytest.raises(WorkbenchError, match="non-finite"):
        steering_sweep(hm, bad, SteeringSweepSpec((0,), (1.0,), ("a",), settings=s))
    z = "blocks.0.attn.hook_z"  # per-head offsets (a LoFiT-style concept)
    offsets = Concept("offsets", {z: torch.zeros(hm.n_heads, hm.d_head)}, hm.ref)
    with pytest.raises(WorkbenchError, match="one offset per head"):
        steering_sweep(
            hm, offsets, SteeringSweepSpec((0,), (1.0,), ("a",), settings=s, vector_site=z)
        )


def test_reads_sweeps_stored_before_version_2():
    old = {
        "prompt": "p", "baseline": "b", "layers": [2], "coefficients": [1.0],
        "texts": [["t"]], "metrics": {"kl": [[0.5]], "perplexity": [[3.0]]}, "targets": [],
    }  # fmt: skip
    r = SteeringSweepResult.from_dict(old, {"site_kind": "resid_pre", "concept": {"name": "c"}})
    assert r.prompts == ["p"] and r.texts == [[["t"]]] and r.site_kind == "resid_pre"
    assert r.metrics["base_perplexity_of_steered"] == [[3.0]]


def test_one_vector_at_every_layer_equals_a_copy_per_layer():
    """``vector_site`` (a function vector made at one layer) steers like a concept holding the
    same vector at each swept layer."""
    hm = tiny_hooked("llama")
    v = _concept(hm, [1]).vectors["blocks.1.hook_resid_post"]
    one = Concept("fv", {"blocks.1.hook_resid_post": v}, hm.ref)
    copies = Concept("copies", {f"blocks.{L}.hook_resid_post": v for L in (0, 1)}, hm.ref)
    s = SamplingSettings(max_new_tokens=3, stop_at_eos=False)
    kw = {"layers": (0, 1), "coefficients": (2.0,), "prompts": ("the king is",), "settings": s}
    with pytest.raises(WorkbenchError, match="vector_site=SITE"):
        steering_sweep(hm, one, SteeringSweepSpec(**kw))
    a = steering_sweep(hm, one, SteeringSweepSpec(**kw, vector_site="blocks.1.hook_resid_post"))
    b = steering_sweep(hm, copies, SteeringSweepSpec(**kw))
    assert a.token_ids == b.token_ids and a.metrics["kl"] == b.metrics["kl"]


def test_prompts_from_a_demonstration_set():
    from workbench.concepts.prompt_sets import PromptSet
    from workbench.concepts.steering_sweep import prompts_from_set
    from workbench.errors import PromptSetError

    ps = PromptSet(
        "opp", "demonstrations", inputs=["hot", "big", "up"], outputs=["cold", "small", "down"]
    )
    assert prompts_from_set(ps) == (["hot ->", "big ->", "up ->"], ["cold", "small", "down"])
    got = prompts_from_set(ps, template="Q: {input}\nA: {output}", inputs=["up", "hot"])
    assert got == (["Q: hot\nA:", "Q: up\nA:"], ["cold", "down"])
    with pytest.raises(PromptSetError, match="none of the 1 requested"):
        prompts_from_set(ps, inputs=["cold"])
    plain = PromptSet("p", "plain", texts=["a b", "c d"])
    assert prompts_from_set(plain) == (["a b", "c d"], [])
    with pytest.raises(PromptSetError, match="need a demonstrations set"):
        prompts_from_set(plain, inputs=["a"])


def test_a_function_vector_is_swept_as_it_was_measured():
    """On the set it was made from, a function vector sweeps its held-out words in its own
    template at the last prompt token; any other concept sweeps the set's own queries."""
    from workbench.concepts.prompt_sets import PromptSet
    from workbench.concepts.steering_sweep import sweep_prompts_for

    hm = tiny_hooked("llama")
    ps = PromptSet(
        "opp", "demonstrations", inputs=["hot", "big", "up"], outputs=["cold", "small", "down"]
    )
    recipe = {
        "method": "function_vector",
        "prompts": {"name": "opp", "kind": "demonstrations", "template": "Q: {input}\nA: {output}"},
        "held_out": {"words": ["up"]},
    }
    fv = Concept("fv:opp", {"blocks.1.hook_resid_post": torch.ones(hm.d_model)}, hm.ref, recipe)
    got = sweep_prompts_for(fv, ps)
    assert (got.prompts, got.answers, got.positions) == (["Q: up\nA:"], ["down"], "last_prompt")
    assert "1 held-out queries of opp" in got.note
    other = PromptSet("opp2", "demonstrations", inputs=["hot"], outputs=["cold"])
    assert sweep_prompts_for(fv, other).prompts == ["Q: hot\nA:"]  # not its set: every query
    plain = sweep_prompts_for(_concept(hm, [1]), ps)
    assert (plain.prompts, plain.positions) == (["hot ->", "big ->", "up ->"], "all")


def test_review_fixes_answers_positions_templates_and_context():
    from workbench.concepts.prompt_sets import PromptSet
    from workbench.errors import PromptSetError

    # a multi-word answer needs all its words
    assert answer_matches(" Mexico City.\n", "Mexico City")
    assert not answer_matches(" Mexico\n\nQ:", "Mexico City")
    assert not answer_matches(" New York", "New Delhi")
    hm = tiny_hooked("llama")
    c = _concept(hm, [0])
    s = SamplingSettings(max_new_tokens=2)
    # 'generated' positions would leave the next-token metrics untouched: refused
    with pytest.raises(WorkbenchError, match="positions 'generated'"):
        steering_sweep(
            hm, c, SteeringSweepSpec((0,), (1.0,), ("a",), settings=s, positions="generated")
        )
    # longer than the context: refused before anything runs
    long = SamplingSettings(max_new_tokens=hm.context_length + 1)
    with pytest.raises(WorkbenchError, match="context holds"):
        steering_sweep(hm, c, SteeringSweepSpec((0,), (1.0,), ("a",), settings=long))
    # a template with a typo is a clear error, not a KeyError
    with pytest.raises(PromptSetError, match=r"must hold \{input\} and \{output\}"):
        PromptSet(
            "bad", "demonstrations", inputs=["a"], outputs=["b"], template="Q: {question} {output}"
        ).validate()


def test_a_prompt_that_overflowed_makes_its_cell_nan():
    from workbench.concepts.steering_sweep import cell_mean

    assert cell_mean("kl", [0.5, 1.5]) == 1.0
    assert math.isnan(cell_mean("kl", [0.5, math.nan]))  # never the mean of the survivors
    assert math.isnan(cell_mean("accuracy", [1.0, math.nan]))
    assert cell_mean("base_perplexity_of_steered", [2.0, math.nan]) == 2.0  # empty text


def test_a_stopped_sweep_keeps_its_finished_cells_as_a_partial_result(tmp_path):
    """Cancelling part-way: the cells finished so far are exactly those of the full run, the
    others are marked not computed; stored, the run says it is partial and holds generations
    for the finished cells only."""
    from workbench.concepts.sweep_partial import PartialSweep
    from workbench.store import Project

    hm = tiny_hooked("llama")
    concept = _concept(hm, [0, 1])
    spec = SteeringSweepSpec(
        layers=(0, 1), coefficients=(1.0, 2.0, 3.0), prompts=("the king", "a cat"),
        settings=SamplingSettings(max_new_tokens=2), targets=("queen",), max_rows=4,
    )  # fmt: skip
    full = steering_sweep(hm, concept, spec)
    assert not full.partial and full.cells_done() == 6
    part = PartialSweep(concept, spec)
    assert part.result() is None  # nothing finished yet
    job = steering_sweep_job(hm, concept, spec)
    while part.cells_done() < 2:
        part.add(next(job))
    job.close()  # stopped
    res = part.result()
    assert res is not None and res.partial and res.cells_done() == 2
    assert res.baselines == full.baselines and res.baseline_metrics == full.baseline_metrics
    for i in range(2):
        for j in range(3):
            if res.is_computed(i, j):
                assert res.texts[i][j] == full.texts[i][j]
                for k in full.metrics:
                    assert res.metrics[k][i][j] == full.metrics[k][i][j]
            else:
                assert all(math.isnan(res.metrics[k][i][j]) for k in res.metrics)
    # stored and read back: marked partial, generations only for the finished cells
    with Project.open(tmp_path / "p.wbproj", create=True) as project:
        project.add_concept(concept)
        rid = res.save_to_project(project, hm.ref, concept)
        rec = project.load_run(rid)

        assert "partial: 2 of 6 cells" in rec.name
        assert rec.settings["partial"] == {"cells_done": 2, "cells": 6}
        back = SteeringSweepResult.from_dict(dict(rec.result), dict(rec.settings))
        assert back.partial and back.computed == res.computed
        assert len(project.generations()) == 2 * len(spec.prompts)
