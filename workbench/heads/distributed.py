"""Head ablation and patching sweeps on a Ray cluster (:mod:`workbench.cluster`).

The sweep's staircases (:func:`workbench.heads.ablation.sweep_job`) are dealt out round-robin:
worker ``k`` of ``m`` computes staircases ``k, k + m, …`` of the single-process plan, so every
head is computed in the very batch one process would put it in, and its number is the same.
Each worker runs the unchanged (reference) pass itself: it is one forward, and shipping its
per-block activations would cost more than recomputing them. The shares' head maps are merged
here; the unchanged run's metric must agree across workers, or the job fails saying so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from workbench.heads.ablation import heads_per_staircase
from workbench.heads.data import TaskPrompts
from workbench.heads.metrics import encode_task
from workbench.heads.result import HeadScores
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel

TASKS = {
    "ablation": ("workbench.heads.ablation:ablation_scores_job", "ablated_metric"),
    "patching": ("workbench.heads.ablation:patching_scores_job", "patched_metric"),
}


def _staircases(hm: HookedModel, kind: str, task: TaskPrompts, kw: dict[str, Any]) -> int:
    et = encode_task(hm, task, kw.get("metric"))
    ids = et.corrupted()[0] if kind == "patching" else et.ids
    heads: Sequence[Any] | None = kw.get("heads")
    n_variants = len(heads) if heads is not None else hm.n_layers * hm.n_heads
    per = heads_per_staircase(hm, et.n, int(ids.shape[1]), kw.get("max_rows"))
    return math.ceil(n_variants / per)


def cluster_scores_job(
    hm: HookedModel,
    cluster: Any,
    kind: str,
    task: TaskPrompts,
    kw: dict[str, Any],
    mean_prompts: Sequence[str] | None = None,
) -> Job[HeadScores]:
    """``kind`` (``ablation`` or ``patching``) scores of ``task`` on ``cluster``'s workers,
    equal to :func:`~workbench.heads.ablation.ablation_scores_job` /
    :func:`~workbench.heads.ablation.patching_scores_job` in one process."""
    from workbench.cluster import ClusterError, opened, run_shares_job

    factory, matrix_key = TASKS[kind]
    args = {"task": task, **kw}
    if mean_prompts:
        args["mean_prompts"] = list(mean_prompts)
    if args.get("heads") is not None:
        args["heads"] = [tuple(h) for h in args["heads"]]
    n_stairs = _staircases(hm, kind, task, kw)
    with opened(cluster) as cl:
        yield Progress(0, None, "starting cluster workers and loading the model")
        actors = yield from cl.workers_job(hm)
        m = max(1, min(len(actors), n_stairs))
        shares = [{**args, "share": (k, m)} for k in range(m)]
        parts: list[HeadScores] = yield from run_shares_job(cl, factory, shares, f"{kind} sweep")
    first = parts[0]
    for part in parts[1:]:
        for key, value in first.extras.items():
            if key != matrix_key and not _same(part.extras.get(key), value):
                raise ClusterError(
                    f"The cluster's workers disagree on the unchanged run ({key}: {value!r} "
                    f"and {part.extras.get(key)!r}): they do not compute the same numbers "
                    "(different hardware or library versions?). Nothing was stored."
                )
    scores = first.scores.clone()
    matrix = torch.tensor(first.extras[matrix_key], dtype=torch.float64)
    for part in parts[1:]:
        mine = ~torch.isnan(part.scores)
        scores[mine] = part.scores[mine]
        other = torch.tensor(part.extras[matrix_key], dtype=torch.float64)
        theirs = ~torch.isnan(other)
        matrix[theirs] = other[theirs]
    extras = {**first.extras, matrix_key: matrix.tolist()}
    return HeadScores(first.kind, scores, dict(first.settings), dict(first.model), extras)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (an undefined metric is undefined on every worker)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)
