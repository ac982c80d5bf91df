"""The batched steering sweep against a loop of steered generations, on the embedded model.

A 5 layers × 6 coefficients sweep of 32 new tokens (greedy). The loop runs one steered
``generate`` per cell (all prompts of the cell as one batch): texts only. The sweep runs every
variant and prompt as rows of one batch; like for like it gives texts plus KL and target
log-prob (read off the first step, free), and is timed again with its fluency pass (the base
model's perplexity of every steered text: one more forward per row). All three run in this
process, alternately; the tokens must be identical. Results go to
``benchmarks/results/sweep.json``.

python3 bootstrap.py bench sweep      # or: .venv/bin/python benchmarks/bench_sweep.py [--quick]
.venv/bin/python benchmarks/bench_sweep.py --readme   # rewrite the README block from the JSON
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import report, update_readme_block  # noqa: E402

LAYERS = (6, 9, 12, 15, 18)
COEFFICIENTS = (-8.0, -4.0, 0.0, 4.0, 8.0, 12.0)
PROMPTS = [
    "I think the movie was",
    "My day at work was",
    "The food at this restaurant is",
    "Honestly, the new phone feels",
    "The weather this weekend will be",
    "Our trip to the coast was",
    "The book I read last week was",
    "My neighbour's dog is",
    "The concert last night was",
    "This coffee tastes",
    "The meeting this morning was",
    "The hotel room looked",
    "The service at the bank was",
    "My new shoes feel",
    "The traffic on the way home was",
    "The final exam was",
]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def readme_block(r: dict) -> str:
    """The README's sweep block, from ``benchmarks/results/sweep.json``."""
    lines = [
        f"Measured {r['measured']} (commit {r['commit']}) with `python3 bootstrap.py bench sweep`: "
        f"{len(r['layers'])} layers × {len(r['coefficients'])} coefficients, "
        f"{r['new_tokens']} new tokens, greedy, torch threads {r['threads']}, "
        f"{r['machine']['cpus']} cores. Loop: one steered generation per cell (the cell's "
        "prompts as one batch). Batched: every variant and prompt as rows of one batch. "
        "Medians of 3 alternating runs for 1 prompt, one run each for 4 and 16.",
        "",
        "```text",
    ]
    for run in r["runs"]:
        n = run["prompts"]
        same = (
            "identical tokens"
            if run["identical_tokens"]
            else f"{run['rows_differing']} rows differ"
        )
        lines.append(
            f"sweep.{n}_prompts: loop {run['loop_s']:.1f} s, batched {run['batched_s']:.1f} s "
            f"= {run['speedup']:.2f}x{'  (target >= 6x)' if n == 1 else ''} "
            f"(CPU time {run['speedup_cpu']:.2f}x); with the fluency "
            f"pass {run['batched_with_fluency_s']:.1f} s = {run['speedup_with_fluency']:.2f}x; "
            f"{same}"
        )
    lines.append(
        f"sweep.peak_rss: {r['peak_rss_mib']:.0f} MiB (model loaded: {r['rss_after_load_mib']:.0f} MiB)"
    )
    lines.append("```")
    return "\n".join(lines)


def main() -> None:
    if "--readme" in sys.argv:
        r = json.loads((HERE / "results" / "sweep.json").read_text())
        print(readme_block(r))
        print(
            "# updated the README's sweep block"
            if update_readme_block("SWEEP", readme_block(r))
            else "# no SWEEP markers in the README"
        )
        return
    import torch

    import workbench as wb
    from workbench.concepts.steering_sweep import SteeringSweepSpec, steering_sweep
    from workbench.models.generation import SamplingSettings, generate
    from workbench.models.interventions import AddVector
    from workbench.models.sites import resid_post

    quick = "--quick" in sys.argv
    hm = wb.load_language_model(device="cpu")
    concept = wb.extract(hm, "sentiment", layers=list(LAYERS))
    settings = SamplingSettings(max_new_tokens=8 if quick else 32)
    rss_loaded = _rss_mib()
    results: dict = {
        "threads": torch.get_num_threads(),
        "new_tokens": settings.max_new_tokens,
        "layers": list(LAYERS),
        "coefficients": list(COEFFICIENTS),
        "runs": [],
    }
    print(f"# torch threads in force: {torch.get_num_threads()}", flush=True)

    def loop(prompts: list[str]) -> list[list[list[int]]]:
        out = []
        for L in LAYERS:
            for c in COEFFICIENTS:
                iv = AddVector(resid_post(L), vector=concept.vector(resid_post(L)), coefficient=c)
                out.append(generate(hm, prompts, [iv], settings).token_ids)
        return out

    def batched(prompts: list[str], fluency: bool = False):
        spec = SteeringSweepSpec(
            LAYERS,
            COEFFICIENTS,
            tuple(prompts),
            targets=("great", "terrible"),
            settings=settings,
            fluency=fluency,
        )
        return steering_sweep(hm, concept, spec)

    batched(PROMPTS[:1])  # warm-up: first-call costs hit neither side
    for n in (1,) if quick else (1, 4, 16):
        prompts = PROMPTS[:n]
        # alternate the order between sizes so drift hits both alike
        times: dict[str, list[float]] = {"loop": [], "batched": [], "fluency": []}
        cpu: dict[str, list[float]] = {"loop": [], "batched": [], "fluency": []}
        for rep in range(3 if n == 1 else 1):
            # alternate the order so that drift and other processes hit every side alike
            order = ["loop", "batched", "fluency"]
            if (rep + n) % 2:
                order.reverse()
            for which in order:
                t, c = time.perf_counter(), time.process_time()
                if which == "loop":
                    ref = loop(prompts)
                elif which == "batched":
                    res = batched(prompts)
                else:
                    full = batched(prompts, fluency=True)
                times[which].append(time.perf_counter() - t)
                cpu[which].append(time.process_time() - c)
        wall = {k: statistics.median(v) for k, v in times.items()}
        cpus = {k: statistics.median(v) for k, v in cpu.items()}
        assert full.token_ids == res.token_ids
        got = [
            [res.token_ids[i][j][p] for p in range(n)]
            for i in range(len(LAYERS))
            for j in range(len(COEFFICIENTS))
        ]
        identical = got == ref
        mismatched = sum(
            a != b
            for cell_a, cell_b in zip(got, ref, strict=True)
            for a, b in zip(cell_a, cell_b, strict=True)
        )
        ratio = wall["loop"] / wall["batched"]
        ratio_full = wall["loop"] / wall["fluency"]
        cpu_ratio = cpus["loop"] / cpus["batched"]
        report(f"sweep.{n}_prompts loop (30 generations)", wall["loop"], "s")
        report(f"sweep.{n}_prompts batched (texts, KL, log-prob)", wall["batched"], "s")
        report(f"sweep.{n}_prompts batched + fluency pass", wall["fluency"], "s")
        report(f"sweep.{n}_prompts loop / batched", ratio, "x", ">= 6x" if n == 1 else "")
        report(f"sweep.{n}_prompts loop / batched, CPU time", cpu_ratio, "x")
        report(f"sweep.{n}_prompts loop / (batched + fluency)", ratio_full, "x")
        print(f"sweep.{n}_prompts identical tokens: {identical} ({mismatched} rows differ)")
        results["runs"].append(
            {
                "prompts": n,
                "repeats": len(times["loop"]),
                "loop_s": round(wall["loop"], 3),
                "batched_s": round(wall["batched"], 3),
                "batched_with_fluency_s": round(wall["fluency"], 3),
                "loop_cpu_s": round(cpus["loop"], 3),
                "batched_cpu_s": round(cpus["batched"], 3),
                "speedup": round(ratio, 2),
                "speedup_cpu": round(cpu_ratio, 2),
                "speedup_with_fluency": round(ratio_full, 2),
                "identical_tokens": identical,
                "rows_differing": mismatched,
            }
        )
    results["peak_rss_mib"] = round(_rss_mib(), 1)
    results["rss_after_load_mib"] = round(rss_loaded, 1)
    report("sweep.peak_rss", results["peak_rss_mib"], "MiB")
    report("sweep.rss_after_model_load", rss_loaded, "MiB")
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        results["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        results["commit"] = ""
    results["measured"] = time.strftime("%Y-%m-%d")
    if not quick:
        out = HERE / "results" / "sweep.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"# wrote {out}")
        if update_readme_block("SWEEP", readme_block(results)):
            print("# updated the README's sweep block")


if __name__ == "__main__":
    main()
