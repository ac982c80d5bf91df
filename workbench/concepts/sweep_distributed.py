"""The steering sweep on a Ray cluster (:mod:`workbench.cluster`).

The sweep's batches (:func:`workbench.concepts.steering_sweep.sweep_plan`) are dealt out
round-robin: worker ``k`` of ``m`` generates batches ``k, k + m, …`` exactly as one process
would (same rows, same padding), and returns each batch's texts, tokens, next-token
log-probabilities and fluency NLLs. Metrics that compare a row with its prompt's unsteered
baseline (KL, which lives in the first batch) are computed here, batch by batch in the plan's
order, by the same :class:`~workbench.concepts.steering_sweep.SweepAccumulator` that one process
uses, so the result and the cell reports are the same. The cost of this split: each batch's
``[rows, vocab]`` log-probabilities travel back to this process.
"""

from __future__ import annotations

from typing import Any

from workbench.concepts.concept import Concept
from workbench.concepts.steering_sweep import (
    ChunkOutput,
    SteeringSweepResult,
    SteeringSweepSpec,
    SweepAccumulator,
    sweep_plan,
)
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel

TASK = "workbench.concepts.steering_sweep:sweep_chunks_job"


def cluster_sweep_job(
    hm: HookedModel, concept: Concept, spec: SteeringSweepSpec, cluster: Any
) -> Job[SteeringSweepResult]:
    """:func:`~workbench.concepts.steering_sweep.steering_sweep_job` on ``cluster``'s workers;
    the cell reports come once every batch is back."""
    from workbench.cluster import opened, run_shares_job

    plan = sweep_plan(hm, concept, spec)  # checks the spec here, before any worker starts
    with opened(cluster) as cl:
        yield Progress(0, None, "starting cluster workers and loading the model")
        actors = yield from cl.workers_job(hm)
        m = max(1, min(len(actors), len(plan.chunks)))
        shares = [{"concept": concept, "spec": spec, "share": (k, m)} for k in range(m)]
        parts: list[dict[int, ChunkOutput]] = yield from run_shares_job(
            cl, TASK, shares, "steering sweep"
        )
    outs: dict[int, ChunkOutput] = {}
    for part in parts:
        outs.update(part)
    acc = SweepAccumulator(concept, spec, plan)
    total = len(plan.chunks) * plan.steps_per_chunk
    for c, chunk in enumerate(plan.chunks):
        yield from acc.add(chunk, outs[c], (c + 1) * plan.steps_per_chunk, total)
    return acc.result()
