"""Captures over large prompt sets on a Ray cluster: concept extraction and probing
(:mod:`workbench.cluster`).

:class:`ClusterCapture` stands in for a :class:`~workbench.models.hooked.HookedModel` whose
:meth:`capture_job` deals the prompt batches out round-robin (worker ``k`` of ``m`` captures
batches ``k, k + m, …``, each exactly the batch one process would run, padding included) and
puts the activations back in prompt order; everything else is the model's own. What is computed
from the activations (means, PCA, a probe's logistic regression) runs in this process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from workbench.jobs import Job
from workbench.models.hooked import Captured, HookedModel
from workbench.models.interventions import Intervention

TASK = "workbench.concepts.capture_distributed:capture_share_job"


def capture_share_job(
    hm: HookedModel,
    prompts: list[str],
    sites: list[str],
    position: str,
    batch_size: int,
    interventions: list[Intervention],
    chat: bool,
    share: tuple[int, int],
) -> Job[dict[int, tuple[dict[str, torch.Tensor], list[int]]]]:
    """Part ``k`` of ``m`` of a capture: ``{first prompt of a batch: (acts, lengths)}``."""
    starts = list(range(0, len(prompts), batch_size))[share[0] :: share[1]]
    out: dict[int, tuple[dict[str, torch.Tensor], list[int]]] = {}
    for start in starts:
        cap = yield from hm.capture_job(
            prompts[start : start + batch_size], sites, position, batch_size, interventions, chat
        )
        out[start] = (cap.acts, cap.lengths)
    return out


class ClusterCapture:
    """``hm`` with its captures split over ``cluster``'s workers (an open Cluster)."""

    def __init__(self, hm: HookedModel, cluster: Any):
        self._hm = hm
        self._cluster = cluster

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hm, name)

    def capture_job(
        self,
        prompts: Sequence[str],
        sites: Sequence[str],
        position: str = "last",
        batch_size: int = 16,
        interventions: Sequence[Intervention] = (),
        chat: bool = False,
    ) -> Job[Captured]:
        from workbench.cluster import run_shares_job

        prompts = list(prompts)
        n_batches = math.ceil(len(prompts) / max(1, batch_size))
        if n_batches < 2:  # one batch: nothing to split
            return (
                yield from self._hm.capture_job(
                    prompts, sites, position, batch_size, interventions, chat
                )
            )
        for s in sites:  # refuse a bad site here, before any worker starts
            self._hm.check_site(s)
        actors = yield from self._cluster.workers_job(self._hm)
        m = max(1, min(len(actors), n_batches))
        base = dict(
            prompts=prompts, sites=list(sites), position=position, batch_size=batch_size,
            interventions=list(interventions), chat=chat,
        )  # fmt: skip
        shares = [{**base, "share": (k, m)} for k in range(m)]
        parts = yield from run_shares_job(self._cluster, TASK, shares, "capture")
        batches: dict[int, tuple[dict[str, torch.Tensor], list[int]]] = {}
        for part in parts:
            batches.update(part)
        order = sorted(batches)
        acts = {s: torch.cat([batches[b][0][s] for b in order]) for s in sites}
        lengths = [n for b in order for n in batches[b][1]]
        return Captured(acts, lengths, position)
