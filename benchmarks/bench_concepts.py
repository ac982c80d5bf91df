"""Concept extraction throughput on the embedded model: prompts per second at batch 1 and 16.

python3 bootstrap.py bench concepts    # or: .venv/bin/python benchmarks/bench_concepts.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import compare, report, save_results, setup_threads


def main() -> None:
    setup_threads()  # BENCH_THREADS (default 1), also what the loader sets when the model loads
    import torch

    from workbench.concepts.algebra import evaluate
    from workbench.concepts.extraction import ExtractionSpec, extract_job
    from workbench.concepts.prompt_sets import builtin_set
    from workbench.jobs import run
    from workbench.models.loading import load_language_model

    hm = load_language_model(device="cpu")
    print(f"# torch threads: {torch.get_num_threads()}", flush=True)
    ps = builtin_set("sentiment")
    n = 2 * len(ps)  # positives and negatives
    layers = [6, 12, 18, 24]

    def extract(batch: int):
        return lambda: run(
            extract_job(
                hm, ExtractionSpec("diff_of_means", layers=layers, prompts=ps, batch_size=batch)
            )
        )

    t1, t16 = compare(extract(1), extract(16), repeat=3, warmup=1)
    report("concepts.extract_batch1", n / t1, "prompts/s")
    report("concepts.extract_batch16", n / t16, "prompts/s")
    report("concepts.extract_batch16 / batch1", t1 / t16, "x speed-up")

    c = run(
        extract_job(
            hm, ExtractionSpec("diff_of_means", layers=list(range(hm.n_layers)), prompts=ps)
        )
    )
    env = {"a": c, "b": c.renamed("b"), "d": c.renamed("d")}
    t = time.perf_counter()
    for _ in range(20):
        evaluate("normalize(a - 0.5*b) + project_out(d, a, b)", env)
    report("concepts.evaluate (30 sites, 3 terms)", (time.perf_counter() - t) / 20 * 1e3, "ms")
    save_results("concepts", "python3 bootstrap.py bench concepts")


if __name__ == "__main__":
    main()
