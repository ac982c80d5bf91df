"""Head analysis on the embedded model, as ratios measured in one run.

python3 bootstrap.py bench heads      # or: .venv/bin/python benchmarks/bench_heads.py

* the ablation sweep over all 270 heads: batched (several heads per forward, starting at the
  ablated block, last-token logits only) against one plain forward per head (target: batched
  at least 4x faster); the same sweep with one head per forward but the other shortcuts shows
  what batching alone buys;
* attribution patching (every head from one forward and one backward) against one plain
  forward + backward on the same prompts (target: within 3x).

``BENCH_THREADS`` sets torch's thread count (default 1; ``run_all.py --threads N`` sets it for
every script). The JSON result and the README block say which count was used.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import report, save_results, setup_threads


def _time(fn, *args) -> float:
    return _timed(fn, *args)[0]


def _timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, nargs="+", default=[4, 8], help="ablation task sizes")
    args = ap.parse_args(argv)
    setup_threads()  # BENCH_THREADS (default 1), also what the loader sets when the model loads
    import torch

    from workbench.heads.ablation import ablation_scores_job
    from workbench.heads.attribution import attribution_scores_job
    from workbench.heads.data import successor_task
    from workbench.heads.metrics import encode_task
    from workbench.jobs import run
    from workbench.models.interventions import AblateHeads
    from workbench.models.loading import load_language_model
    from workbench.models.sites import head_z

    hm = load_language_model(device="cpu")
    threads = torch.get_num_threads()
    run(ablation_scores_job(hm, successor_task(n=2), heads=[(0, 0), (29, 8)]))  # warm up
    for n_prompts in args.prompts:
        task = successor_task(n=n_prompts)
        et = encode_task(hm, task)
        n_heads = hm.n_layers * hm.n_heads
        print(
            f"# ablation of {n_heads} heads, {n_prompts} prompts of {et.ids.shape[1]} tokens, {threads} thread(s)",
            flush=True,
        )

        def naive(et=et) -> torch.Tensor:
            """One plain forward per head: the whole model, full logits."""
            out = torch.zeros(hm.n_layers, hm.n_heads)
            rows = torch.arange(et.n)
            with torch.no_grad():
                base = et.metric.mean(hm.forward(et.ids, et.mask).logits[rows, et.last])
                for L in range(hm.n_layers):
                    for h in range(hm.n_heads):
                        iv = AblateHeads(head_z(L), heads=[h])
                        logits = hm.forward(et.ids, et.mask, [iv], use_cache=False).logits
                        out[L, h] = base - et.metric.mean(logits[rows, et.last])
            return out

        t_batched, batched = _timed(run, ablation_scores_job(hm, task))
        t_naive, plain = _timed(naive)
        t_single, _ = _timed(run, ablation_scores_job(hm, task, max_rows=et.n))
        err = float((batched.scores - plain).abs().max())
        tag = f"heads.ablation[{n_prompts}]"
        report(f"{tag} batched", t_batched, "s")
        report(f"{tag} one forward per head", t_naive, "s")
        report(f"{tag} one head/forward + shortcuts", t_single, "s")
        report(f"{tag} one-per-head / batched", t_naive / t_batched, "x", ">= 4x")
        report(f"{tag} shortcuts-only / batched", t_single / t_batched, "x")
        report(f"{tag} max |batched - naive|", err, "logit")

    task = successor_task(n=8)
    et = encode_task(hm, task)
    rows = torch.arange(et.n)

    def forward_backward() -> None:
        with torch.enable_grad():
            logits = hm.forward(et.corrupted_ids, et.corrupted_mask, use_cache=False).logits[
                rows, et.corrupted_last
            ]
            et.metric.mean(logits).backward()
        hm.model.zero_grad(set_to_none=True)

    forward_backward()  # warm up
    t_fb = min(_time(forward_backward) for _ in range(3))
    t_attr = min(_time(lambda: run(attribution_scores_job(hm, task))) for _ in range(3))
    print(f"# attribution patching, 8 prompts, {threads} thread(s)", flush=True)
    report("heads.one forward + backward", t_fb, "s")
    report("heads.attribution patching (all heads)", t_attr, "s")
    report("heads.attribution / (forward + backward)", t_attr / t_fb, "x", "<= 3x")
    cmd = "python3 bootstrap.py bench heads"
    if args.prompts != [4, 8]:
        cmd = f"python benchmarks/bench_heads.py --prompts {' '.join(map(str, args.prompts))}"
    save_results("heads", cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
