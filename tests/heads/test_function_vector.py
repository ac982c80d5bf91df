"""Function vectors on a tiny model: prompts, the vector as a sum of head outputs, the concept."""

from __future__ import annotations

import pytest
import torch
from tiny import OPPOSITE_PAIRS, tiny_hooked

from workbench.concepts.concept import Concept
from workbench.heads.function_vector import (
    ICLTask,
    function_vector_job,
    fv_head_scores_job,
    icl_prompts,
    sweep_function_vector_job,
    zero_shot_accuracy,
)
from workbench.heads.headset import HeadSet, top_k
from workbench.jobs import run

TASK = ICLTask(
    "opposites",
    OPPOSITE_PAIRS,
    template="{input} is {output}",
    separator=" .",
)  # fmt: skip


def test_icl_prompts_and_shuffled_corruption():
    p = icl_prompts(TASK, n_prompts=6, n_shots=3, seed=1)
    assert len(p) == 6 and p.foils is None
    for clean, corr, target in zip(p.prompts, p.corrupted, p.targets, strict=True):
        assert clean.count(" is ") == 3 and clean.endswith(" is")
        assert clean.split(" .")[-1] == corr.split(" .")[-1]  # same query
        assert clean != corr and sorted(clean.split()) == sorted(corr.split())  # answers shuffled
        assert target.startswith(" ")
    assert TASK.query("hot") == "hot is" and TASK.answer("cold") == " cold"


def test_vector_is_the_sum_of_mean_head_outputs():
    hm = tiny_hooked("llama")
    prompts = icl_prompts(TASK, n_prompts=4, n_shots=3)
    heads = [(1, 2), (2, 0)]
    fv = run(function_vector_job(hm, heads, prompts, layer=1))
    enc = hm.encode(prompts.prompts)
    last = enc["attention_mask"].sum(-1) - 1
    want = torch.zeros(hm.d_model)
    for L, h in heads:
        zs = {}
        with torch.no_grad():
            hm.forward(
                enc["input_ids"],
                enc["attention_mask"],
                (),
                {f"blocks.{L}.attn.hook_z": [lambda x, zs=zs: zs.setdefault("z", x.clone())]},
            )
        z = zs["z"][torch.arange(4), last, h].mean(0)  # [d_head]
        want += (
            z
            @ hm.model.model.layers[L]
            .self_attn.o_proj.weight[:, h * hm.d_head : (h + 1) * hm.d_head]
            .T
        ).detach()
    torch.testing.assert_close(fv.vector, want, atol=1e-5, rtol=1e-5)
    assert fv.head_vectors.shape == (2, hm.d_model) and fv.site == "blocks.1.hook_resid_post"


def test_concept_records_heads_task_and_prompts():
    hm = tiny_hooked("llama")
    prompts = icl_prompts(TASK, n_prompts=4, n_shots=3)
    fv = run(
        function_vector_job(hm, HeadSet("s", "tiny", [(2, 1)]), prompts, task_name="opposites")
    )
    c = fv.to_concept(coefficient=2.0)
    assert isinstance(c, Concept) and c.sites == ["blocks.1.hook_resid_post"]  # n_layers // 3
    assert c.recipe["method"] == "function_vector" and c.recipe["heads"] == [[2, 1]]
    assert c.recipe["task"] == "opposites" and c.recipe["prompts"] == prompts.prompts
    assert c.recipe["coefficient"] == 2.0 and c.model == hm.ref
    torch.testing.assert_close(c.vector("blocks.1.hook_resid_post"), fv.vector)


def test_zero_vector_changes_no_accuracy_and_sweep_reports_baseline():
    hm = tiny_hooked("llama")
    base = zero_shot_accuracy(hm, TASK)
    assert zero_shot_accuracy(hm, TASK, torch.zeros(hm.d_model), 1, 5.0) == base
    prompts = icl_prompts(TASK, n_prompts=4, n_shots=3)
    scores = run(fv_head_scores_job(hm, prompts))
    assert scores.kind == "function_vector" and scores.settings["source"] == "mean"
    fv = run(function_vector_job(hm, top_k(scores, 3), prompts))
    sweep = run(sweep_function_vector_job(hm, fv, TASK, [0, 1], [1.0, 4.0]))
    assert sweep["baseline"] == base and len(sweep["accuracy"]) == 2
    assert sweep["best_accuracy"] == pytest.approx(max(max(r) for r in sweep["accuracy"]))
