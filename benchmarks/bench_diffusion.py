"""Diffusion engine overheads, as ratios measured in one run (CPU, a small random SD1.x model).

python3 bootstrap.py bench diffusion      # or: .venv/bin/python benchmarks/bench_diffusion.py

Like for like: the plain call is ``pipe(...)`` given the very conditioning that
``generate_image`` builds from the concepts (the same ``prompt_embeds`` and negative embeddings,
steps, size, seed and ``output_type``), so the ratio is what the job adds and nothing else.

- ``arithmetic_overhead``: ``generate_image`` with ``castle + 0.6*winter - 0.4*summer`` (library
  concepts, the job's thread and step callback, no previews) over that plain call. Target
  <= 1.02x.
- ``preview_cost``: the same job with an x0 preview after every step, over the plain call.
- ``sweep_batched_speedup``: an 8-value coefficient sweep, batched into one pipeline call vs.
  one call per image (> 1 means batching pays).
- ``arithmetic_overhead_from_prompts``: the job with raw prompts encoded in every call, over a
  plain call that encodes its one prompt (both encode text: like for like).
- ``noise_level_cost``: 3-term noise-prediction composition over the plain call (the denoiser
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

from _common import note, save_results, setup_threads


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
    note(f"diffusion.{name}: {ratio:.2f}x ({detail})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sweep-steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="pixels (latents are size/2)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv or [])
    setup_threads()  # BENCH_THREADS (default 1: steady on a shared machine)
    import torch

    from workbench.diffusion.embeddings import encode_concept
    from workbench.diffusion.generate import ImageSpec, generate_batch, generate_image
    from workbench.diffusion.loading import wrap_pipeline
    from workbench.diffusion.sweep import SweepAxis, SweepSpec, run_sweep
    from workbench.diffusion.tiny import tiny_sd_pipeline
    from workbench.jobs import run

    # wider than the test model so that the denoiser, not Python, dominates as in real models
    dm = wrap_pipeline(tiny_sd_pipeline(seed=0, width=32, text_dim=32), name="bench-sd")
    steps, size = args.steps, args.size
    concepts = {p: encode_concept(dm, p) for p in ("castle", "winter", "summer")}
    terms = [(1.0, concepts["castle"]), (0.6, concepts["winter"]), (-0.4, concepts["summer"])]
    spec = ImageSpec(
        terms=terms, steps=steps, width=size, height=size, guidance=7.5, seed=0, preview_every=0
    )
    # the exact pipeline arguments the job builds (conditioning included), for the plain call
    from workbench.diffusion.generate import _call_kwargs

    kwargs, _ = _call_kwargs(dm, [spec])

    def plain() -> None:
        dm.pipe(**{**kwargs, "generator": [torch.Generator("cpu").manual_seed(0)]})

    def arithmetic() -> None:
        run(generate_image(dm, spec))

    def with_previews() -> None:
        run(generate_image(dm, spec.replace(preview_every=1)))

    (w_plain, w_arith), (c_plain, c_arith) = compare(plain, arithmetic, repeat=args.repeat)
    line(
        "arithmetic_overhead",
        c_arith / c_plain,
        f"target <= 1.02x; cpu {c_arith * 1e3:.0f} vs {c_plain * 1e3:.0f} ms, wall "
        f"{w_arith / w_plain:.2f}x; {steps} steps, {size}px, same conditioning, no previews",
    )
    (w_plain, w_prev), (c_plain, c_prev) = compare(plain, with_previews, repeat=args.repeat)
    line(
        "preview_cost",
        c_prev / c_plain,
        f"cpu {c_prev * 1e3:.0f} vs {c_plain * 1e3:.0f} ms, wall {w_prev / w_plain:.2f}x; "
        "the same job with an x0 preview after every step",
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

    def plain_prompt() -> None:  # encodes its prompt in the call, as the job below does
        dm.pipe(
            prompt="castle",
            num_inference_steps=steps,
            guidance_scale=7.5,
            height=size,
            width=size,
            generator=torch.Generator("cpu").manual_seed(0),
            output_type="np",
        )

    from_prompts = spec.replace(terms=tuple((w, c.name) for w, c in terms))
    _, (c_plain3, c_prompts) = compare(
        plain_prompt, lambda: run(generate_image(dm, from_prompts)), repeat=3
    )
    line(
        "arithmetic_overhead_from_prompts",
        c_prompts / c_plain3,
        "cpu; three prompts encoded in every call vs a plain call encoding one",
    )

    noise = spec.replace(terms=tuple((w, c.name) for w, c in terms), level="noise")
    _, (c_plain2, c_noise) = compare(
        plain_prompt, lambda: run(generate_batch(dm, [noise])), repeat=3
    )
    line("noise_level_cost", c_noise / c_plain2, "cpu; 3 terms: 4 conditionings per step vs 2")
    save_results(
        "diffusion",
        " ".join(["python benchmarks/bench_diffusion.py", *argv])
        if argv
        else "python3 bootstrap.py bench diffusion",
        notes=f"A random SD1 pipeline (UNet width 32) at {size} px.",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
