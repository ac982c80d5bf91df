"""Ablation and activation patching per head: against zeroed weights, against one plain
forward per head, and batched against unbatched."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest
import torch
from tiny import FAMILIES, tiny_hooked

from workbench.errors import PromptSetError
from workbench.heads.ablation import ablation_scores_job, patching_scores_job
from workbench.heads.data import TaskPrompts
from workbench.heads.metrics import encode_task
from workbench.jobs import run
from workbench.models.hooked import HookedModel
from workbench.models.interventions import AblateHeads, Intervention

TASK = TaskPrompts(
    ["the king is a", "I feel very", "Paris is the capital of", "the weather today is"],
    [" man", " happy", " France", " hot"],
    [" woman", " sad", " London", " cold"],
    ["the queen is a", "I feel not", "London is the capital of", "the film today is"],
)


def _metric(hm, ivs=(), prompts=None):
    et = encode_task(hm, TASK)
    ids, mask = (
        (et.ids, et.mask) if prompts is None else (prompts["input_ids"], prompts["attention_mask"])
    )
    with torch.no_grad():
        logits = hm.forward(ids, mask, list(ivs)).logits
    last = mask.sum(-1) - 1
    return float(et.metric.mean(logits[torch.arange(len(last)), last]))


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_zero_ablation_equals_zeroed_output_weights(family):
    hm = tiny_hooked(family)
    s = run(ablation_scores_job(hm, TASK, max_rows=8))
    base = s.extras["baseline_metric"]
    assert base == pytest.approx(_metric(hm), abs=1e-5)
    for L, h in [(0, 1), (1, 3), (2, 0)]:
        model = copy.deepcopy(hm.model)
        edited = HookedModel(model, hm.tokenizer)
        with torch.no_grad():
            # the head's columns of W_O (GPT-2's Conv1D stores the transpose: a view of it)
            edited.adapter.o_proj_weight(L)[:, h * hm.d_head : (h + 1) * hm.d_head] = 0
        assert s.scores[L, h] == pytest.approx(base - _metric(edited), abs=1e-5)


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_batched_equals_one_forward_per_head(mode):
    hm = tiny_hooked("llama")
    batched = run(ablation_scores_job(hm, TASK, mode=mode, max_rows=64))  # 12 heads in one forward
    single = run(ablation_scores_job(hm, TASK, mode=mode, max_rows=len(TASK)))  # one per head
    torch.testing.assert_close(batched.scores, single.scores, atol=1e-5, rtol=0)
    # and against a plain full forward per head with the engine's own AblateHeads
    mean = None
    if mode == "mean":
        from workbench.heads.ablation import reference_pass

        et = encode_task(hm, TASK)
        ref = reference_pass(hm, et.ids, et.mask, et.last, z="mean")
    base = _metric(hm)
    for L in range(hm.n_layers):
        for h in range(hm.n_heads):
            mean = None if mode == "zero" else ref.z[L]
            iv = AblateHeads(f"blocks.{L}.attn.hook_z", heads=[h], mode=mode, mean=mean)
            assert batched.scores[L, h] == pytest.approx(base - _metric(hm, [iv]), abs=1e-5)


@pytest.mark.parametrize("max_rows", [None, 12])
@pytest.mark.parametrize("family", FAMILIES)
def test_staircase_equals_plain_forward_in_every_family(family, max_rows):
    """Blocks run one by one on a growing batch, the final MLP at the last position only, and
    the model's own tail: every family, padded prompts of different lengths, one staircase or
    several that split a block's heads (``max_rows=12``: three heads of four prompts)."""
    hm = tiny_hooked(family)
    et = encode_task(hm, TASK)
    assert len(set(et.mask.sum(-1).tolist())) > 1  # right padding is exercised
    s = run(ablation_scores_job(hm, TASK, max_rows=max_rows))
    base = _metric(hm)
    for L in range(hm.n_layers):
        for h in range(hm.n_heads):
            iv = AblateHeads(f"blocks.{L}.attn.hook_z", heads=[h])
            assert s.scores[L, h] == pytest.approx(base - _metric(hm, [iv]), abs=2e-5), (L, h)


def test_subset_of_heads_leaves_others_nan():
    hm = tiny_hooked("llama")
    s = run(ablation_scores_job(hm, TASK, heads=[(1, 1), (2, 3)]))
    assert torch.isnan(s.scores).sum() == hm.n_layers * hm.n_heads - 2
    assert not torch.isnan(s.scores[1, 1]) and not torch.isnan(s.scores[2, 3])


@dataclass
class _PatchHead(Intervention):
    head: int = 0
    source: torch.Tensor = field(default=None)  # [batch, pos, head, d_head]
    last: torch.Tensor | None = None  # patch only these positions (per row) when given

    def apply(self, x, mask):
        out = x.clone()
        if self.last is None:
            out[:, :, self.head] = self.source[:, :, self.head]
        else:
            rows = torch.arange(x.shape[0])
            out[rows, self.last, self.head] = self.source[rows, self.head]
        return out


@pytest.mark.parametrize("positions", ["all", "last"])
def test_patching_equals_plain_forward_per_head(positions):
    hm = tiny_hooked("llama")
    s = run(patching_scores_job(hm, TASK, positions=positions, max_rows=20))
    et = encode_task(hm, TASK)
    corr = {"input_ids": et.corrupted_ids, "attention_mask": et.corrupted_mask}
    clean_m, corr_m = _metric(hm), _metric(hm, prompts=corr)
    assert s.extras["clean_metric"] == pytest.approx(clean_m, abs=1e-5)
    assert s.extras["corrupted_metric"] == pytest.approx(corr_m, abs=1e-5)
    for L in range(hm.n_layers):
        zs = {}
        with torch.no_grad():
            hm.forward(
                et.ids,
                et.mask,
                (),
                {f"blocks.{L}.attn.hook_z": [lambda x, zs=zs: zs.setdefault("z", x.clone())]},
            )
        src = zs["z"]
        if positions == "last":
            src = src[torch.arange(len(TASK)), et.last]
        for h in range(hm.n_heads):
            iv = _PatchHead(
                f"blocks.{L}.attn.hook_z",
                head=h,
                source=src,
                last=None if positions == "all" else et.corrupted_last,
            )
            want = (_metric(hm, [iv], corr) - corr_m) / (clean_m - corr_m)
            assert s.scores[L, h] == pytest.approx(want, abs=1e-4)


def test_patching_every_position_needs_equal_lengths():
    hm = tiny_hooked("llama")
    bad = TaskPrompts(["the king is a"], [" man"], [" woman"], ["the very old queen is a"])
    with pytest.raises(PromptSetError, match="same number of tokens"):
        run(patching_scores_job(hm, bad))
    run(patching_scores_job(hm, bad, positions="last"))  # fine at the last token


def test_mean_source_patching_runs_and_records_settings():
    hm = tiny_hooked("llama")
    s = run(
        patching_scores_job(
            hm, TASK, metric="prob", positions="last", source="mean", normalize=False
        )
    )
    assert s.settings["source"] == "mean" and s.settings["metric"] == "prob"
    assert torch.isfinite(s.scores).all()
