"""Sweeps on a Ray cluster: model workers that each load the model once and run their share
of an engine job, merged into the result one process would give.

>>> from workbench.heads.ablation import ablation_scores_job
>>> scores = run(ablation_scores_job(hm, task, cluster="local:2"))

What is split, and how the shares are merged, lives with each job
(:mod:`workbench.heads.distributed`, :mod:`workbench.concepts.sweep_distributed`); this
package holds the cluster itself (:class:`Cluster`), the worker actor
(:mod:`workbench.cluster.worker`) and the job that runs shares on it
(:func:`run_shares_job`). Ray is optional: ``pip install 'concept-workbench[cluster]'``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from workbench.cluster.address import (
    ADDRESS_HELP,
    ClusterAddress,
    ClusterError,
    parse_address,
)
from workbench.cluster.backend import Cluster, load_spec, run_shares_job


@contextlib.contextmanager
def opened(cluster: str | ClusterAddress | Cluster) -> Iterator[Cluster]:
    """An open :class:`Cluster` for one job: the one given (left open), or one started from
    an address and closed (its workers stopped, a local Ray shut down) when the job ends."""
    if isinstance(cluster, Cluster):
        yield cluster.open()
        return
    own = Cluster(cluster)
    try:
        yield own.open()
    finally:
        own.close()


def available() -> bool:
    """Whether Ray is installed (the ``cluster`` extra)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


__all__ = [
    "ADDRESS_HELP",
    "Cluster",
    "ClusterAddress",
    "ClusterError",
    "available",
    "load_spec",
    "opened",
    "parse_address",
    "run_shares_job",
]
