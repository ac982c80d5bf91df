"""Diffusion engine overheads, as ratios measured in one run (CPU, a small random SD1.x model).

python3 bootstrap.py bench diffusion      # or: .venv/bin/python benchmarks/bench_diffusion.py

- ``arithmetic_overhead``: ``generate_image`` with ``castle + 0.6*winter - 0.4*summer`` (library
  concepts, an x0 preview after every step, the job's thread and hooks) over a plain
  ``pipe(prompt=...)`` call with the same steps, size and seed. Target <= 1.02x.
- ``sweep_batched_speedup``: an 8-value coefficient sweep, batched into one pipeline call vs.
  one call per image (> 1 means batching pays).
- ``arithmetic_overhead_from_prompts``: the same with raw prompts encoded in every call.
- ``noise_level_cost``: 3-term noise-prediction composition over a plain call (the denoiser
  runs on 4 conditionings instead of 2, so about 2x is expected).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import statistics
import time
from collections.abc import Callable


def compare(
    a: Callable[[], object], b: Callable[[], object], repeat: int = 7, warmup: int = 1
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Interleaved medians of ``a`` and ``b``: ``((wall_a, wall_b), (cpu_a, cpu_b))``.

    CPU time (all threads of this process) is the steadier figure on a shared machine, where
    wall time mostly measures the other tenants; both are printed.
    """
    for _ in range(warmup):
        a()
        b()
    wall: dict[int, list[float]] = {0: [], 1: []}
    cpu: dict[int, list[float]] = {0: [], 1: []}
    for i in range(repeat):
        order = ((0, a), (1, b)) if i % 2 == 0 else ((1, b), (0, a))
        for k, fn in order:
            w, c = time.perf_counter(), time.process_time()
            fn()
            cpu[k].append(time.process_time() - c)
            wall[k].append(time.perf_counter() - w)
    med = statistics.median
    return (med(wall[0]), med(wall[1])), (med(cpu[0]), med(cpu[1]))


def line(name: str, ratio: float, detail: str) -> None:
    print(f"diffusion.{name}: {ratio:.2f}x ({detail})", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sweep-steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="pixels (latents are size/2)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steady on a shared machine)"
    )
    args = parser.parse_args(argv or [])

    import torch

    from workbench.diffusion.embeddings import encode_concept
    from workbench.diffusion.generate import ImageSpec, generate_batch, generate_image
    from workbench.diffusion.loading import wrap_pipeline
    from workbench.diffusion.sweep import SweepAxis, SweepSpec, run_sweep
    from workbench.diffusion.tiny import tiny_sd_pipeline
    from workbench.jobs import run

    torch.set_num_threads(max(1, args.threads))
    # wider than the test model so that the denoiser, not Python, dominates as in real models
    dm = wrap_pipeline(tiny_sd_pipeline(seed=0, width=32, text_dim=32), name="bench-sd")
    steps, size = args.steps, args.size
    concepts = {p: encode_concept(dm, p) for p in ("castle", "winter", "summer")}
    terms = [(1.0, concepts["castle"]), (0.6, concepts["winter"]), (-0.4, concepts["summer"])]
    spec = ImageSpec(terms=terms, steps=steps, width=size, height=size, guidance=7.5, seed=0)

    def plain() -> None:
        dm.pipe(
            prompt="castle",
            num_inference_steps=steps,
            guidance_scale=7.5,
            height=size,
            width=size,
            generator=torch.Generator("cpu").manual_seed(0),
            output_type="np",
        )

    def arithmetic() -> None:
        run(generate_image(dm, spec))

    (w_plain, w_arith), (c_plain, c_arith) = compare(plain, arithmetic, repeat=args.repeat)
    line(
        "arithmetic_overhead",
        c_arith / c_plain,
        f"target <= 1.02x; cpu {c_arith * 1e3:.0f} vs {c_plain * 1e3:.0f} ms, wall "
        f"{w_arith / w_plain:.2f}x; {steps} steps, {size}px, a preview every step",
    )

    values = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
    sweep = SweepSpec(
        spec.replace(steps=args.sweep_steps), x=SweepAxis("coefficient", values, term=1)
    )
    (t_single, t_batched), _ = compare(
        lambda: run(run_sweep(dm, sweep, batched=False)),
        lambda: run(run_sweep(dm, sweep, batched=True, max_batch=len(values))),
        repeat=3,
        warmup=1,
    )
    line(
        "sweep_batched_speedup",
        t_single / t_batched,
        f"{len(values)} images x {args.sweep_steps} steps: {len(values)} calls {t_single:.2f} s "
        f"vs one batched call {t_batched:.2f} s",
    )

    from_prompts = spec.replace(terms=tuple((w, c.name) for w, c in terms))
    _, (c_plain3, c_prompts) = compare(
        plain, lambda: run(generate_image(dm, from_prompts)), repeat=3
    )
    line(
        "arithmetic_overhead_from_prompts",
        c_prompts / c_plain3,
        "cpu; the same with the three prompts encoded in every call",
    )

    noise = spec.replace(terms=tuple((w, c.name) for w, c in terms), level="noise")
    _, (c_plain2, c_noise) = compare(plain, lambda: run(generate_batch(dm, [noise])), repeat=3)
    line("noise_level_cost", c_noise / c_plain2, "cpu; 3 terms: 4 conditionings per step vs 2")


if __name__ == "__main__":
    main(sys.argv[1:])
