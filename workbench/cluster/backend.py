"""A Ray cluster of model workers, and one job that runs a sweep's shares on them.

:class:`Cluster` starts a local Ray instance on 127.0.0.1 (``local:N``) or joins a running
cluster (``auto``, ``ray://host:port``, ``host:port``), and keeps one :class:`ModelWorker`
actor per worker, each with the model loaded once. :func:`run_shares_job` runs share
``k`` of ``m`` of an engine job on the workers and returns the shares' results in order:

* progress is the sum of the workers' own progress, polled a few times a second;
* a cancel (the job closed at a yield) asks every worker to stop at its next yield and kills
  any worker that has not stopped within :data:`CANCEL_GRACE_S` seconds;
* a worker that dies has its share run again on another live worker, once; a second death,
  or no worker left, fails the job with a :class:`ClusterError` saying so;
* an error inside a worker's job (a bad head index, say) is raised here as it would be in one
  process.

Nothing here writes a project: the caller merges the shares and stores the result itself.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from workbench import compat
from workbench.cluster.address import ClusterAddress, ClusterError, parse_address
from workbench.errors import WorkbenchError
from workbench.jobs import Job, Progress

CANCEL_GRACE_S = 3.0  # a worker that has not stopped by then is killed
POLL_S = 0.25  # progress polls and cancel checks
LOCAL_OBJECT_STORE_MB = 256  # a local cluster's shared-memory object store


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "Running on a cluster needs Ray: pip install 'concept-workbench[cluster]' (or pip "
            "install ray), then try again."
        ) from None
    return ray


def load_spec(hm: Any) -> dict[str, Any]:
    """How a worker loads the same model as ``hm``: its source, device kind, dtype and
    attention implementation (from the loader's record of the load)."""
    info = getattr(hm, "info", None) or {}
    if not info.get("source"):
        raise ClusterError(
            "This model was built in memory, not loaded from a file, so cluster workers cannot "
            "load it. Load it with workbench.models.loading.load_language_model (a folder or "
            "a .gguf file) to run on a cluster."
        )
    device = str(info.get("device", "cpu"))
    return {
        "source": dict(info["source"]),
        "device": "cuda" if device.startswith("cuda") else device,
        "dtype": str(info.get("dtype", "auto")),
        "attn": str(compat.attn_implementation(hm.model.config) or "sdpa"),
    }


class Cluster:
    """Ray workers holding one model each. Use as a context manager, or :meth:`close`.

    Parameters
    ----------
    address
        ``local[:N]``, ``auto``, ``ray://host:port`` or ``host:port`` (see
        :func:`workbench.cluster.address.parse_address`).
    workers
        Workers to start on a joined cluster (default: one per CPU it has free, or per GPU
        for a model on a GPU). Ignored for ``local:N``.
    threads
        Torch threads per worker (default: the cores left after one for this process, shared
        out among local workers; 1 on a joined cluster).
    object_store_mb
        Shared-memory object store of a local cluster.
    """

    def __init__(
        self,
        address: str | ClusterAddress,
        *,
        workers: int | None = None,
        threads: int | None = None,
        object_store_mb: int = LOCAL_OBJECT_STORE_MB,
    ):
        self.address = parse_address(address) if isinstance(address, str) else address
        self._workers_wanted = self.address.workers if self.address.kind == "local" else workers
        self._threads = threads
        self._object_store_mb = object_store_mb
        self._started = False
        self._open = False
        self.actors: list[Any] = []
        self.worker_info: list[dict[str, Any]] = []
        self._spec: dict[str, Any] | None = None
        self.start_s = 0.0  # Ray start or connect
        self.actors_s = 0.0  # actors created and every model loaded
        self.last_cancel: dict[str, Any] = {}  # what the last cancel did (tests, logs)
        self.last_run: dict[str, Any] = {}  # the last job's attempts per share and deaths
        self._n_workers = 0

    def drop(self, actor: Any) -> None:
        """Forget a worker that died or was killed (the next job starts a new one)."""
        keep = [i for i, a in enumerate(self.actors) if a != actor]
        self.actors = [self.actors[i] for i in keep]
        self.worker_info = [self.worker_info[i] for i in keep if i < len(self.worker_info)]

    # ------------------------------------------------------------ life cycle
    def open(self) -> Cluster:
        if self._open:
            return self
        ray = _ray()
        t = time.perf_counter()
        try:
            if self.address.kind == "local":
                if ray.is_initialized():
                    raise ClusterError(
                        "A Ray instance is already running in this process; close the other "
                        "cluster first, or pass its Cluster object instead of an address."
                    )
                n = int(self.address.workers or 2)
                ray.init(
                    address="local",
                    num_cpus=n * self.threads_per_worker,
                    num_gpus=0,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    object_store_memory=self._object_store_mb * 2**20,
                    log_to_driver=False,
                    configure_logging=False,
                )
                self._started = True
            elif not ray.is_initialized():
                _check_reachable(str(self.address.address))
                kw: dict[str, Any] = {}
                host = str(self.address.address).removeprefix("ray://").rsplit(":", 1)[0]
                if host in ("127.0.0.1", "localhost") and not str(self.address.address).startswith(
                    "ray://"
                ):
                    kw["_node_ip_address"] = "127.0.0.1"  # stay on loopback
                ray.init(address=self.address.address, log_to_driver=False, **kw)
                self._started = True
        except WorkbenchError:
            raise
        except (ConnectionError, RuntimeError, ValueError, OSError, TimeoutError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ClusterError(
                f"Could not {'start a local' if self.address.kind == 'local' else 'join the'} "
                f"Ray cluster at {self.address.text} ({first}). Check the address (the head "
                "node prints it after `ray start --head`) and that this machine can reach it."
            ) from e
        self.start_s = time.perf_counter() - t
        self._open = True
        return self

    @property
    def threads_per_worker(self) -> int:
        if self._threads:
            return int(self._threads)
        env = os.environ.get("WORKBENCH_TORCH_THREADS")
        if self.address.kind != "local":
            return 1
        n = int(self.address.workers or 2)
        free = max(1, (os.cpu_count() or 2) - 1)
        return int(env) if env else max(1, free // n)

    def close(self) -> None:
        ray = _ray() if self._open else None
        if ray is not None:
            for a in self.actors:
                ray.kill(a)  # a dead actor: nothing happens
        self.actors, self.worker_info, self._spec = [], [], None
        if ray is not None and self._started:
            ray.shutdown()
        self._open = self._started = False

    def __enter__(self) -> Cluster:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- workers
    def _worker_count(self, spec: dict[str, Any]) -> int:
        if self._workers_wanted:
            return int(self._workers_wanted)
        res = _ray().available_resources()
        key = "GPU" if spec["device"] != "cpu" else "CPU"
        n = int(res.get(key, 0) // (1 if key == "GPU" else self.threads_per_worker))
        if n < 1:
            raise ClusterError(
                f"The cluster at {self.address.text} has no free {key} for a worker; free one "
                "or give the number of workers."
            )
        return n

    def workers_for(self, hm: Any) -> list[Any]:
        """The workers, each with ``hm``'s model loaded (started and loaded on first use)."""
        from workbench.jobs import run

        return run(self.workers_job(hm))

    def workers_job(self, hm: Any) -> Job[list[Any]]:
        """:meth:`workers_for` as a job: a cancel while the models load stops the workers."""
        spec = load_spec(hm)
        self.open()
        ray = _ray()
        if self._spec != spec:
            for a in self.actors:
                ray.kill(a)
            self.actors, self.worker_info = [], []
        if not self.actors:
            self._n_workers = self._worker_count(spec)
        n = self._n_workers
        if len(self.actors) >= n:
            return self.actors
        from workbench.cluster.worker import ModelWorker

        t = time.perf_counter()
        threads = self.threads_per_worker
        gpu = spec["device"] != "cpu"
        env = {"HF_HUB_OFFLINE": "1"}
        if self.address.kind == "local":  # same machine: the same cache and settings folders
            env.update({k: v for k, v in os.environ.items() if k.startswith("WORKBENCH_")})
        remote = ray.remote(
            num_cpus=threads, num_gpus=1 if gpu else 0, max_concurrency=4, max_restarts=0
        )(ModelWorker)
        new = [remote.remote(spec, threads, env) for _ in range(n - len(self.actors))]
        refs = [a.load.remote() for a in new]  # a worker that died is replaced here
        loaded = False
        try:
            while True:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=POLL_S)
                if len(ready) == len(refs):
                    break
                yield Progress(len(ready), len(refs), f"loading the model on {len(refs)} workers")
            info = ray.get(refs)
            loaded = True
        except Exception as e:  # noqa: BLE001 - a worker's load error, told as the user's
            raise ClusterError(
                f"A cluster worker could not load {spec['source'].get('name')}: "
                f"{_cause_text(e)}. Every worker needs the model at the same path "
                f"({spec['source'].get('path')})."
            ) from None
        finally:
            if not loaded:  # failed or cancelled: stop the half-started workers
                for a in new:
                    ray.kill(a)
        self.actors += new
        self.worker_info += info
        self._spec = spec
        self.actors_s = time.perf_counter() - t
        return self.actors


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse an address whose port does not answer at once (Ray itself retries for a minute
    or more before it gives up)."""
    if address == "auto":
        return
    import socket

    host, port = address.removeprefix("ray://").rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(
            f"Nothing answers at {address} ({e.strerror or type(e).__name__}). Start the "
            "cluster first (`ray start --head --port=6379` on the head node), or check the "
            "address and that this machine can reach it."
        ) from None


def _cause(e: BaseException) -> BaseException:
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, BaseException) else e


def _cause_text(e: BaseException) -> str:
    c = _cause(e)
    text = str(c).strip().splitlines()
    return text[0] if text else type(c).__name__


def run_shares_job(
    cluster: Cluster,
    task: str,
    shares: Sequence[dict[str, Any]],
    label: str = "cluster",
) -> Job[list[Any]]:
    """Run ``task`` (``"module:function"``, a job factory ``f(hm, **kwargs)``) once per entry
    of ``shares`` (its kwargs) on the cluster's workers; the results in ``shares`` order."""
    ray = _ray()
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

    if not cluster.actors:
        raise ClusterError("The cluster has no workers: call Cluster.workers_for(hm) first.")
    alive = list(cluster.actors)
    idle = deque(alive)
    queue = deque(range(len(shares)))
    attempts = [0] * len(shares)
    results: list[Any] = [None] * len(shares)
    finished = [False] * len(shares)
    running: dict[Any, tuple[int, Any]] = {}  # result ref -> (share, actor)
    seen: dict[int, tuple[float, float | None]] = {}  # share -> (done, total)
    deaths: list[str] = []
    complete = False
    try:
        yield Progress(0, None, f"{label}: {len(shares)} shares on {len(alive)} workers")
        while not all(finished):
            while queue and idle:
                k, actor = queue.popleft(), idle.popleft()
                attempts[k] += 1
                running[actor.run.remote(task, dict(shares[k]))] = (k, actor)
            if not running:
                raise ClusterError(
                    f"Every cluster worker died ({'; '.join(deaths)}); the job did not finish "
                    "and nothing was stored. Check the workers' memory and try again."
                )
            ready, _ = ray.wait(list(running), num_returns=len(running), timeout=POLL_S)
            for ref in ready:
                k, actor = running.pop(ref)
                try:
                    results[k] = ray.get(ref)
                except RayActorError as e:
                    alive.remove(actor)
                    cluster.drop(actor)
                    deaths.append(f"share {k + 1}: {_cause_text(e)}")
                    seen.pop(k, None)
                    if attempts[k] >= 2:
                        raise ClusterError(
                            f"Share {k + 1} of {len(shares)} failed twice because its worker "
                            f"died ({deaths[-1]}); the job did not finish and nothing was "
                            "stored. Check the workers' memory and logs, then try again."
                        ) from None
                    queue.appendleft(k)  # once more, on another worker
                    continue
                except RayTaskError as e:
                    cause = _cause(e)
                    if isinstance(cause, WorkbenchError):
                        raise cause from None
                    raise ClusterError(
                        f"A cluster worker failed on share {k + 1}: "
                        f"{type(cause).__name__}: {_cause_text(e)}"
                    ) from None
                finished[k] = True
                if seen.get(k) and seen[k][1]:
                    seen[k] = (seen[k][1] or 0.0, seen[k][1])  # a finished share counts whole
                idle.append(actor)
            busy = list(running.values())
            if busy:
                polls = [a.progress.remote() for _, a in busy]
                try:
                    got = ray.get(polls, timeout=2.0)
                except (RayActorError, GetTimeoutError):
                    got = []  # a dying worker: its run result says so next round
                for (k, _), (done, total, _msg, _state) in zip(busy, got, strict=False):
                    seen[k] = (done, total)
            # Steps summed over the shares once every share has said how many it has.
            known = [seen.get(k) for k in range(len(shares))]
            total = sum(t[1] or 0 for t in known if t) if all(t and t[1] for t in known) else None
            done_steps = sum(t[0] for t in known if t)
            n_done = sum(finished)
            yield Progress(
                n_done if total is None else done_steps,
                len(shares) if total is None else total,
                f"{label}: {n_done}/{len(shares)} shares done on {len(alive)} workers",
            )
        complete = True
        cluster.last_run = {"shares": len(shares), "attempts": attempts, "deaths": deaths}
        return results
    finally:
        if not complete:
            _stop(cluster, running)


def _stop(cluster: Cluster, running: dict[Any, tuple[int, Any]]) -> None:
    """Ask every busy worker to stop; kill those that do not within the grace time."""
    ray = _ray()
    t = time.perf_counter()
    busy = [a for _, a in running.values()]
    for a in busy:
        a.cancel.remote()  # a dead worker's call fails on its own, unread
    refs = list(running)
    stopped: list[Any] = []
    if refs:
        stopped, _ = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S)
    killed = 0
    for ref in refs:
        if ref not in stopped:
            _, a = running[ref]
            ray.kill(a)
            cluster.drop(a)
            killed += 1
    cluster.last_cancel = {
        "busy": len(busy),
        "stopped": len(stopped),
        "killed": killed,
        "seconds": time.perf_counter() - t,
    }
