"""``--cluster ADDRESS``: the sweeps that run on a Ray cluster (:mod:`workbench.cluster`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.cluster.address import ADDRESS_HELP, parse_address


def _address(text: str) -> str:
    from workbench.cluster.address import ClusterError

    try:
        parse_address(text)
    except ClusterError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def add_cluster_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", metavar="ADDRESS", type=_address, default=None, help=ADDRESS_HELP)


def report(cluster: Any, quiet: bool) -> None:
    """One line on stderr: where the job ran and what starting the workers cost."""
    if quiet or cluster is None or not cluster.worker_info:
        return
    info = cluster.worker_info
    loads = ", ".join(f"{w['load_s']:.1f}" for w in info)
    hosts = sorted({w["host"] for w in info})
    print(
        f"cluster {cluster.address.text}: {len(info)} workers on {', '.join(hosts)}; Ray start "
        f"{cluster.start_s:.1f} s, workers ready in {cluster.actors_s:.1f} s (model loads: "
        f"{loads} s)",
        file=sys.stderr,
    )


def cluster_from_args(args: argparse.Namespace) -> Any:
    """A :class:`workbench.cluster.Cluster` for ``--cluster`` (not started yet), or None."""
    if not getattr(args, "cluster", None):
        return None
    from workbench.cluster import Cluster

    return Cluster(args.cluster)


def finish(cluster: Any, args: argparse.Namespace) -> None:
    """Say where the job ran, and stop the workers (and a local Ray)."""
    if cluster is None:
        return
    report(cluster, getattr(args, "json", False))
    cluster.close()
