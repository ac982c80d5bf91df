"""Attention-pattern scores: induction, previous-token and duplicate-token.

Each score is the mean attention that a query pays to its *target* keys, over the queries that
have a target (published definitions, see ``docs``/REFERENCE):

=============  ========================================================================
kind           target keys of query ``q`` (token ``t_q``)
=============  ========================================================================
``previous``   ``q - 1``
``duplicate``  earlier positions ``k < q`` holding the same token, ``t_k == t_q``
``induction``  positions right after an earlier occurrence, ``t_{k-1} == t_q``, ``k <= q``
=============  ========================================================================

On the default input (random tokens repeated twice, :func:`repeated_random_tokens`) these are
exactly Olsson et al.'s induction score (attention from each token of the second copy to the
token after its first occurrence), the previous-token score and the duplicate-token score. Key
position 0 (the BOS / attention sink) is never a target. All three come from one forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from workbench.heads.data import repeated_random_tokens
from workbench.heads.result import HeadScores
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention
from workbench.models.sites import pattern

PATTERN_KINDS = ("induction", "previous", "duplicate")


def target_mask(
    ids: torch.Tensor, mask: torch.Tensor, kind: str, skip_first: bool = True
) -> torch.Tensor:
    """``[batch, query, key]`` bool: the keys each query's ``kind`` score counts.

    Parameters
    ----------
    ids, mask
        Right-padded ``[batch, pos]`` token ids and attention mask.
    kind
        ``previous``, ``duplicate`` or ``induction``.
    skip_first
        Never count key position 0 (the attention sink).
    """
    b, n = ids.shape
    q = torch.arange(n)[:, None]
    k = torch.arange(n)[None, :]
    real = mask.bool()
    pair_ok = real[:, :, None] & real[:, None, :]
    if kind == "previous":
        t = (k == q - 1).expand(b, n, n)
    elif kind == "duplicate":
        t = (ids[:, :, None] == ids[:, None, :]) & (k < q)
    elif kind == "induction":
        prev = torch.cat([torch.full((b, 1), -1, dtype=ids.dtype), ids[:, :-1]], 1)  # t_{k-1}
        t = (ids[:, :, None] == prev[:, None, :]) & (k <= q) & (k >= 1)
    else:
        raise ValueError(f"unknown pattern score {kind!r}: use {', '.join(PATTERN_KINDS)}")
    t = t & pair_ok
    if skip_first:
        t[:, :, 0] = False
    return t


def pattern_scores_job(
    hm: HookedModel,
    kinds: Sequence[str] = PATTERN_KINDS,
    prompts: Sequence[str] | None = None,
    n_seqs: int = 8,
    seq_len: int = 32,
    seed: int = 0,
    batch_size: int = 8,
    interventions: Sequence[Intervention] = (),
) -> Job[dict[str, HeadScores]]:
    """Several pattern scores from the same forward passes.

    Parameters
    ----------
    hm
        The model.
    kinds
        Any of ``induction``, ``previous``, ``duplicate``.
    prompts
        Score on these texts instead of random repeated tokens.
    n_seqs, seq_len, seed
        The random input: ``n_seqs`` rows of ``seq_len`` distinct tokens, repeated twice.
    batch_size
        Rows per forward.
    interventions
        Applied during the forward passes (scores of an edited model).

    Returns
    -------
    dict
        ``kind -> HeadScores``.
    """
    kinds = list(kinds)
    for k in kinds:
        if k not in PATTERN_KINDS:
            raise ValueError(f"unknown pattern score {k!r}: use {', '.join(PATTERN_KINDS)}")
    if prompts is not None:
        enc = hm.encode(list(prompts))
        ids, mask = enc["input_ids"].cpu(), enc["attention_mask"].cpu()
        source: dict[str, Any] = {"prompts": list(prompts)}
    else:
        ids = repeated_random_tokens(hm.tokenizer, n_seqs, seq_len, seed)
        mask = torch.ones_like(ids)
        source = {
            "input": "repeated_random_tokens",
            "n_seqs": n_seqs,
            "seq_len": seq_len,
            "seed": seed,
        }
    L, H = hm.n_layers, hm.n_heads
    sums = {k: torch.zeros(L, H, dtype=torch.float64) for k in kinds}
    counts = dict.fromkeys(kinds, 0)
    total = ids.shape[0]
    yield Progress(0, total, "attention patterns")
    for start in range(0, total, batch_size):
        bi, bm = ids[start : start + batch_size], mask[start : start + batch_size]
        targets = {k: target_mask(bi, bm, k).to(hm.device) for k in kinds}
        for k in kinds:
            counts[k] += int(targets[k].any(-1).sum())
        readers = {pattern(layer): [_accumulate(sums, targets, layer)] for layer in range(L)}
        with torch.no_grad():
            hm.forward(bi.to(hm.device), bm.to(hm.device), interventions, readers, use_cache=False)
        done = min(start + batch_size, total)
        yield Progress(done, total, f"{done}/{total} sequences")
    settings = {
        **source,
        "skip_first": True,
        "interventions": [iv.describe() for iv in interventions],
    }
    out = {}
    for k in kinds:
        scores = (sums[k] / max(counts[k], 1)).float()
        out[k] = HeadScores(
            k, scores, {"kind": k, **settings}, hm.ref.to_dict(), {"n_queries": counts[k]}
        )
    return out


def _accumulate(sums: dict, targets: dict, layer: int):
    def read(p: torch.Tensor) -> None:  # [batch, head, query, key]
        p = p.detach().double()
        for k, t in targets.items():
            sums[k][layer] += (p * t[:, None]).sum((0, 2, 3)).cpu()

    return read


def pattern_score_job(hm: HookedModel, kind: str, **kw: Any) -> Job[HeadScores]:
    """One pattern score (``induction``, ``previous`` or ``duplicate``) as a job."""
    out = yield from pattern_scores_job(hm, [kind], **kw)
    return out[kind]


def induction_score_job(hm: HookedModel, **kw: Any) -> Job[HeadScores]:
    """Induction score of every head; see :func:`pattern_scores_job` for the options."""
    return (yield from pattern_score_job(hm, "induction", **kw))


def previous_token_score_job(hm: HookedModel, **kw: Any) -> Job[HeadScores]:
    """Previous-token score of every head; see :func:`pattern_scores_job`."""
    return (yield from pattern_score_job(hm, "previous", **kw))


def duplicate_token_score_job(hm: HookedModel, **kw: Any) -> Job[HeadScores]:
    """Duplicate-token score of every head; see :func:`pattern_scores_job`."""
    return (yield from pattern_score_job(hm, "duplicate", **kw))
