"""Induction, previous-token and duplicate-token scores against hand computations."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from tiny import tiny_hooked

from workbench.heads.data import repeated_random_tokens
from workbench.heads.pattern_scores import pattern_scores_job, target_mask
from workbench.jobs import Cancelled, run
from workbench.models.interventions import Intervention


@dataclass
class PlantPattern(Intervention):
    """Replace one head's pattern by a fixed rule (planted structure for the tests)."""

    head: int = 0
    rule: str = "previous"
    half: int = 0  # length of one copy of the repeated sequence (induction rule)

    def apply(self, p, mask):  # [batch, head, query, key]
        n = p.shape[-1]
        new = torch.zeros(n, n, dtype=p.dtype)
        for q in range(n):
            if self.rule == "previous":
                k = max(q - 1, 0)
            else:  # induction on [bos, r, r]: second-copy queries look at q - half + 1
                k = q - self.half + 1 if q > self.half else 0
            new[q, k] = 1.0
        out = p.clone()
        out[:, self.head] = new
        return out


def _hand_scores(attn, ids, T):
    """Published definitions, by loops, on [bos, r_1..r_T, r_1..r_T]."""
    b, H, n, _ = attn.shape
    ind = torch.zeros(H)
    dup = torch.zeros(H)
    prev = torch.zeros(H)
    n_ind = n_prev = 0
    for r in range(b):
        for q in range(T + 1, 2 * T + 1):  # second copy
            ind += attn[r, :, q, q - T + 1]
            dup += attn[r, :, q, q - T]
            n_ind += 1
        for q in range(2, n):  # key 0 (the BOS) is never counted
            prev += attn[r, :, q, q - 1]
            n_prev += 1
    return ind / n_ind, prev / n_prev, dup / n_ind


def test_target_mask_by_hand():
    ids = torch.tensor([[9, 5, 6, 5, 6, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
    prev = target_mask(ids, mask, "previous")
    dup = target_mask(ids, mask, "duplicate")
    ind = target_mask(ids, mask, "induction")
    assert prev[0].nonzero().tolist() == [[2, 1], [3, 2], [4, 3]]  # key 0 skipped, pad skipped
    assert dup[0].nonzero().tolist() == [[3, 1], [4, 2]]
    # query 3 (token 5): the token after the earlier 5 is position 2; query 4 (6) -> 3
    assert ind[0].nonzero().tolist() == [[3, 2], [4, 3]]


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_scores_equal_hand_computation_from_output_attentions(family):
    hm = tiny_hooked(family, attn="eager")
    T = 12
    ids = repeated_random_tokens(hm.tokenizer, n_seqs=3, seq_len=T, seed=1)
    with torch.no_grad():
        attn = torch.stack(
            hm.model(input_ids=ids, output_attentions=True).attentions
        )  # [L, b, H, q, k]
    got = run(pattern_scores_job(hm, n_seqs=3, seq_len=T, seed=1, batch_size=2))
    for L in range(hm.n_layers):
        ind, prev, dup = _hand_scores(attn[L], ids, T)
        torch.testing.assert_close(got["induction"].scores[L], ind, atol=1e-5, rtol=0)
        torch.testing.assert_close(got["previous"].scores[L], prev, atol=1e-5, rtol=0)
        torch.testing.assert_close(got["duplicate"].scores[L], dup, atol=1e-5, rtol=0)


def test_planted_previous_token_head_scores_one():
    hm = tiny_hooked("llama")
    plant = PlantPattern("blocks.1.attn.hook_pattern", head=2, rule="previous")
    s = run(
        pattern_scores_job(
            hm, ["previous", "induction"], n_seqs=4, seq_len=10, interventions=[plant]
        )
    )
    prev = s["previous"].scores
    assert prev[1, 2] == pytest.approx(1.0, abs=1e-6)
    others = torch.cat([prev.flatten()[:6], prev.flatten()[7:]])
    assert float(others.max()) < 0.5
    assert s["previous"].top(1)[0][:2] == (1, 2)
    assert s["induction"].scores[1, 2] < 0.05  # a previous-token head is not an induction head


def test_planted_induction_head_scores_one():
    hm = tiny_hooked("llama")
    T = 10
    plant = PlantPattern("blocks.2.attn.hook_pattern", head=1, rule="induction", half=T)
    s = run(pattern_scores_job(hm, n_seqs=4, seq_len=T, interventions=[plant]))
    ind = s["induction"].scores
    assert ind[2, 1] == pytest.approx(1.0, abs=1e-6)
    assert ind.flatten().topk(2).values[1] < 0.5
    assert s["duplicate"].scores[2, 1] < 0.05


def test_scores_on_prompts_with_padding():
    hm = tiny_hooked("llama", attn="eager")
    prompts = ["the king is the king", "I feel good . I feel good . I"]
    got = run(pattern_scores_job(hm, prompts=prompts))
    enc = hm.encode(prompts)
    with torch.no_grad():
        attn = torch.stack(hm.model(**enc, output_attentions=True).attentions)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    for kind in ("previous", "duplicate", "induction"):
        t = target_mask(ids, mask, kind).float()
        want = (attn * t[None, :, None]).sum((1, 3, 4)) / t.any(-1).sum()
        torch.testing.assert_close(got[kind].scores, want.float(), atol=1e-5, rtol=0)
    assert got["induction"].settings["prompts"] == prompts


def test_job_reports_progress_and_can_be_cancelled():
    hm = tiny_hooked("llama")
    seen = []
    run(pattern_scores_job(hm, n_seqs=4, batch_size=2), on_progress=seen.append)
    assert [p.done for p in seen] == [0, 2, 4] and seen[-1].total == 4
    with pytest.raises(Cancelled):
        run(pattern_scores_job(hm, n_seqs=4, batch_size=2), should_cancel=lambda: True)
