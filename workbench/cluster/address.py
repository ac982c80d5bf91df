"""Cluster addresses as a user writes them: ``local[:N]``, ``ray://host:port``, ``host:port``
or ``auto``. Parsing imports nothing heavy (every ``--help`` and the Preferences field use it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.errors import WorkbenchError


class ClusterError(WorkbenchError):
    """A cluster cannot be reached or started, or a worker failed: what happened, what to do."""


ADDRESS_HELP = (
    "run the sweep on a Ray cluster: local[:N] starts a local Ray with N workers on "
    "127.0.0.1 (default 2), ray://HOST:PORT or HOST:PORT or auto joins a running one "
    "(pip install 'concept-workbench[cluster]')"
)


@dataclass(frozen=True)
class ClusterAddress:
    """Where to run: ``local`` (start a Ray instance on this machine with ``workers`` workers)
    or ``join`` (connect to ``address``; ``workers`` None means one per free CPU, or GPU when
    the model is on a GPU)."""

    kind: str  # "local" or "join"
    address: str | None = None
    workers: int | None = None

    @property
    def text(self) -> str:
        if self.kind == "local":
            return f"local:{self.workers}"
        return str(self.address)


def parse_address(text: str) -> ClusterAddress:
    """``local``, ``local:N``, ``auto``, ``ray://host:port`` or ``host:port``; a clear error
    for anything else."""
    s = (text or "").strip()
    m = re.fullmatch(r"local(?::(\d+))?", s)
    if m:
        n = int(m.group(1)) if m.group(1) else 2
        if not 1 <= n <= 256:
            raise ClusterError(f"--cluster {s}: give 1 to 256 local workers, e.g. local:2.")
        return ClusterAddress("local", None, n)
    if s == "auto":
        return ClusterAddress("join", "auto")
    if re.fullmatch(r"(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}", s):
        return ClusterAddress("join", s)
    raise ClusterError(
        f"cluster address {text!r}: use local:N (start N workers here), auto (the Ray cluster "
        "this machine belongs to), ray://HOST:PORT (Ray Client) or HOST:PORT (a head node's "
        "GCS port, e.g. 127.0.0.1:6379)."
    )
