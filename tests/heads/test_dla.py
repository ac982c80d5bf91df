"""Direct logit attribution: the parts add up to the model's logit difference, and one
head's share matches a hand computation."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.errors import UnsupportedModelError
from workbench.heads.data import TaskPrompts
from workbench.heads.dla import dla_job
from workbench.jobs import run

TASK = TaskPrompts(
    ["the king is a", "I feel very", "Paris is the capital of"],
    [" man", " happy", " France"],
    [" woman", " sad", " London"],
)


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma", "gpt2", "gpt_neox", "phi"])
def test_parts_sum_to_the_logit_difference(family):
    hm = tiny_hooked(family)
    d = run(dla_job(hm, TASK, batch_size=2))
    e = d.extras
    parts = (
        d.scores.sum()
        + sum(e["mlp"])
        + sum(e["attn_bias"])
        + e["embed"]
        + e["norm_bias"]
        + e["unembed_bias"]
    )
    assert float(parts) == pytest.approx(e["total"], abs=1e-4)
    assert abs(e["residual"]) < 1e-4
    # and "total" is the model's own mean logit difference
    logits = hm.logits(TASK.prompts)
    enc = hm.encode(TASK.prompts)
    last = enc["attention_mask"].sum(-1) - 1
    tok = hm.tokenizer
    t = [tok(x, add_special_tokens=False)["input_ids"][0] for x in TASK.targets]
    f = [tok(x, add_special_tokens=False)["input_ids"][0] for x in TASK.foils]
    rows = torch.arange(3)
    want = (logits[rows, last, t] - logits[rows, last, f]).mean()
    assert e["total"] == pytest.approx(float(want), abs=1e-4)


def test_one_head_by_hand():
    hm = tiny_hooked("llama")
    task = TaskPrompts(["the king is a"], [" man"])  # target only: the logit itself
    d = run(dla_job(hm, task))
    L, h, dh = 1, 2, hm.d_head
    _, cache = hm.run_with_cache(
        task.prompts[0], ["blocks.1.attn.hook_z", "blocks.2.hook_resid_post"]
    )
    z = cache["blocks.1.attn.hook_z"][0, -1, h]  # last token
    out = z @ hm.model.model.layers[L].self_attn.o_proj.weight[:, h * dh : (h + 1) * dh].T
    x = cache["blocks.2.hook_resid_post"][0, -1]
    norm = hm.model.model.norm
    s = torch.sqrt(x.pow(2).mean() + norm.variance_epsilon)
    u = hm.model.lm_head.weight[hm.tokenizer(" man", add_special_tokens=False)["input_ids"][0]]
    want = float(((norm.weight * out / s) @ u).detach())
    assert float(d.scores[L, h]) == pytest.approx(want, rel=1e-4, abs=1e-6)


def test_gemma2_is_refused_with_a_reason():
    hm = tiny_hooked("gemma2")
    with pytest.raises(UnsupportedModelError, match="normalises the attention output"):
        run(dla_job(hm, TASK))
