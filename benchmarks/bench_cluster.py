"""The ablation sweep of every head of the embedded model on a local Ray cluster: 1 worker
against 2, and one process without Ray.

Reports the sweep's wall time on each, the speed-up and efficiency of 2 workers over 1, and
what a cluster costs before it computes anything: starting Ray, and starting the workers with
the model loaded once in each. Every run's scores must equal the single-process scores bit for
bit. Results go to ``benchmarks/results/cluster.json`` and the README block BENCH_CLUSTER.

python3 bootstrap.py bench cluster   # or: .venv/bin/python benchmarks/bench_cluster.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import note, report, save_results, setup_threads  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/bench_cluster.py"


def main() -> int:
    threads = setup_threads()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import torch

    from workbench.cluster import Cluster
    from workbench.heads.ablation import ablation_scores_job
    from workbench.heads.data import successor_task
    from workbench.jobs import run
    from workbench.models.loading import load_language_model

    hm = load_language_model(None, device="cpu", dtype="float32")
    task = successor_task()
    n_heads = hm.n_layers * hm.n_heads
    note(
        f"ablation sweep: all {n_heads} heads of {hm.ref.name}, {len(task.prompts)} prompts, "
        f"{threads} torch thread(s) per process"
    )
    t = time.perf_counter()
    one = run(ablation_scores_job(hm, task))
    t_single = time.perf_counter() - t
    report("one process, no Ray: sweep", t_single, "s")
    times: dict[int, float] = {}
    for n in (1, 2):
        cl = Cluster(f"local:{n}", threads=threads)
        try:
            cl.open()
            cl.workers_for(hm)
            loads = [w["load_s"] for w in cl.worker_info]
            t = time.perf_counter()
            got = run(ablation_scores_job(hm, task, cluster=cl))
            times[n] = time.perf_counter() - t
        finally:
            cl.close()
        same = torch.equal(
            torch.nan_to_num(got.scores, nan=1e9), torch.nan_to_num(one.scores, nan=1e9)
        )
        if not same:
            print("FAIL: the cluster's scores differ from one process", flush=True)
            return 1
        report(f"{n} worker(s): Ray start", cl.start_s, "s")
        report(f"{n} worker(s): workers ready (model loaded in each)", cl.actors_s, "s")
        report(f"{n} worker(s): model load per worker (mean)", sum(loads) / len(loads), "s")
        report(f"{n} worker(s): sweep", times[n], "s")
        report(f"{n} worker(s): total with start-up", cl.start_s + cl.actors_s + times[n], "s")
    speedup = times[1] / times[2]
    report("speed-up of the sweep, 2 workers over 1", speedup, "x")
    report("efficiency (speed-up / 2)", speedup / 2, "")
    report("2 workers against one process (sweep only)", t_single / times[2], "x")
    note("scores of every cluster run equal the single-process scores bit for bit")
    cores = os.cpu_count() or 1
    save_results(
        "cluster",
        COMMAND,
        notes=(
            f"On {cores} cores shared with other work, two workers each with one thread "
            "compete for the same cores as everything else on the machine: the speed-up says "
            "what a second worker buys here, not on a cluster of separate machines. The three "
            "sweeps run one after another, not alternately (each needs its own Ray start and "
            "model loads): under a moving load, 1 against 2 workers, run back to back, is the "
            "fairer figure."
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
