"""The GPU check: the engine's computations on CUDA against references, in a few minutes.

Run it on a machine with an NVIDIA GPU (the project's CI skips it without one)::

    .venv/bin/python scripts/gpu_check.py                 # the embedded model on cuda
    .venv/bin/python scripts/gpu_check.py --device cpu    # a dry run of the same checks here
    .venv/bin/python scripts/gpu_check.py --model DIR --json out.json

Checks, each pass/fail with its numbers:

1. loading in float16 and bfloat16 (and float32, the reference);
2. captures equal Hugging Face's own hidden states (``output_hidden_states``), per dtype;
3. steered generation: coefficient 0 gives the baseline's tokens, a large one changes them,
   and the batched steering equals a one-row steered generation;
4. the head ablation sweep: the batched staircase equals one forward per head, and the GPU's
   float32 scores equal the CPU's within float tolerance;
5. the steering sweep: its cells' tokens equal one steered generation each;
6. placement: the model over the GPU and the CPU (a device map) captures what a plain load
   captures (two GPUs: balanced over both);
7. diffusion on a tiny random pipeline: an image on the device close to the CPU's;
8. benchmark ratios: batched ablation over one head per forward, the sweep over a loop of
   steered generations, the device over the CPU for one forward.

It prints a short report and writes JSON (default ``benchmarks/results/gpu_check.json``). Without
a GPU it says so and exits 0 (``--device cpu`` runs the checks on the CPU instead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = ["The capital of France is", "Monday, Tuesday, Wednesday,", "I think the movie was"]
BUDGET_S = 8 * 60


class Checks:
    def __init__(self, budget_s: float):
        self.rows: list[dict[str, Any]] = []
        self.t0 = time.perf_counter()
        self.budget_s = budget_s

    def run(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        if time.perf_counter() - self.t0 > self.budget_s:
            self.rows.append({"check": name, "status": "skipped", "why": "time budget spent"})
            print(f"SKIP  {name}: the time budget is spent", flush=True)
            return None
        t = time.perf_counter()
        try:
            info = fn()
            ok = bool(info.pop("ok", True))
            status = "pass" if ok else "FAIL"
        except Exception as e:  # noqa: BLE001 - one failing check must not hide the others
            info = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=4)}
            status = "ERROR"
        row = {"check": name, "status": status, "seconds": round(time.perf_counter() - t, 2)}
        row.update(info)
        self.rows.append(row)
        shown = ", ".join(
            f"{k}={_fmt(v)}"
            for k, v in info.items()
            if k not in ("trace",) and not isinstance(v, list)
        )
        print(f"{status:<5} {name} ({row['seconds']} s): {shown}", flush=True)
        return info if status == "pass" else None

    @property
    def failed(self) -> list[str]:
        return [r["check"] for r in self.rows if r["status"] in ("FAIL", "ERROR")]


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _tol(dtype: str) -> float:
    return {"float32": 1e-4, "bfloat16": 5e-2, "float16": 1e-2}[dtype]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (dry run)")
    ap.add_argument("--model", default=None, help="model folder or .gguf (default: embedded)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "gpu_check.json"))
    ap.add_argument("--budget", type=float, default=BUDGET_S, help="seconds before skipping")
    args = ap.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "No CUDA GPU on this machine: the GPU check has nothing to run. Run it where an "
            "NVIDIA GPU is available, or with --device cpu for a dry run of the same checks.",
            flush=True,
        )
        return 0
    dev = args.device
    checks = Checks(args.budget)
    gpu = torch.cuda.get_device_name(torch.device(dev)) if dev.startswith("cuda") else None
    print(f"GPU check on {dev}{f' ({gpu})' if gpu else ''}, torch {torch.__version__}", flush=True)
    ctx: dict[str, Any] = {}
    low = ["float16", "bfloat16"] if dev.startswith("cuda") else ["bfloat16"]

    from workbench.models.loading import load_language_model

    def load(dtype: str) -> Callable[[], dict[str, Any]]:
        def fn() -> dict[str, Any]:
            t = time.perf_counter()
            hm = load_language_model(args.model, device=dev, dtype=dtype)
            ctx[dtype] = hm
            return {
                "load_s": time.perf_counter() - t,
                "dtype": str(hm.dtype).removeprefix("torch."),
                "device": str(hm.device),
                "ok": str(hm.dtype) == f"torch.{dtype}" and hm.device.type == dev.split(":")[0],
            }

        return fn

    for dtype in ["float32", *low]:
        checks.run(f"load {dtype}", load(dtype))
    for dtype in ["float32", *low]:
        if dtype in ctx:
            checks.run(
                f"capture equals Hugging Face ({dtype})", lambda d=dtype: _capture(ctx[d], d)
            )
    hm = ctx.get("float32")
    if hm is None:
        return _finish(checks, args, dev, gpu)
    checks.run("steered generation", lambda: _steering(hm))
    checks.run("ablation sweep", lambda: _ablation(hm, args.model))
    checks.run("steering sweep", lambda: _sweep(hm))
    checks.run("placement over devices (device map)", lambda: _placement(hm, args.model, dev))
    checks.run("diffusion (tiny pipeline)", lambda: _diffusion(dev))
    checks.run("benchmark ratios", lambda: _ratios(hm))
    return _finish(checks, args, dev, gpu)


def _finish(checks: Checks, args: argparse.Namespace, dev: str, gpu: str | None) -> int:
    import torch

    total = time.perf_counter() - checks.t0
    out = {
        "device": dev,
        "gpu": gpu,
        "torch": torch.__version__,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(total, 1),
        "checks": checks.rows,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    bad = checks.failed
    print(
        f"{len(checks.rows) - len(bad)}/{len(checks.rows)} checks passed in {total:.0f} s"
        + (f"; failed: {', '.join(bad)}" if bad else "")
        + f". JSON: {path}",
        flush=True,
    )
    return 1 if bad else 0


# ------------------------------------------------------------------ the checks
def _capture(hm: Any, dtype: str) -> dict[str, Any]:
    import torch

    sites = [f"blocks.{L}.hook_resid_post" for L in range(hm.n_layers)]
    cap = hm.capture(PROMPTS, sites, position="last")
    enc = hm.encode(PROMPTS)
    with torch.no_grad():
        hs = hm.model(**enc, output_hidden_states=True).hidden_states
    last = enc["attention_mask"].sum(-1) - 1
    rows = torch.arange(len(PROMPTS), device=last.device)
    worst = 0.0
    for L, site in enumerate(sites[:-1]):  # the last hidden state is after the final norm
        ref = hs[L + 1][rows, last].float().cpu()
        worst = max(worst, float((cap[site] - ref).abs().max() / ref.abs().max()))
    return {"max_rel_diff": worst, "ok": worst <= _tol(dtype)}


def _task() -> Any:
    """A logit-difference task any tokenizer reads (the tests' tiny vocabulary too)."""
    from workbench.heads.data import TaskPrompts

    return TaskPrompts(
        ["the king is a", "I feel very", "Paris is the capital of", "the weather today is"],
        [" man", " happy", " France", " hot"],
        [" woman", " sad", " London", " cold"],
    )


def _vector(hm: Any, seed: int = 0) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(hm.d_model, generator=g)


def _steering(hm: Any) -> dict[str, Any]:
    from workbench.models.generation import SamplingSettings, generate, steered_generate
    from workbench.models.interventions import AddVector

    site = f"blocks.{hm.n_layers // 2}.hook_resid_post"
    s = SamplingSettings(max_new_tokens=12, stop_at_eos=False)
    v = _vector(hm)
    zero = steered_generate(hm, PROMPTS[0], [AddVector(site, vector=v, coefficient=0.0)], s)
    big = steered_generate(hm, PROMPTS[0], [AddVector(site, vector=v, coefficient=30.0)], s)
    one = generate(hm, [PROMPTS[0]], [AddVector(site, vector=v, coefficient=30.0)], s)
    same_zero = zero.steered == zero.baseline
    changed = big.steered != big.baseline
    batched = big.generation.token_ids[1] == one.token_ids[0]
    return {
        "coef0_is_baseline": same_zero,
        "coef30_changes_text": changed,
        "batched_equals_single": batched,
        "baseline": zero.baseline[:40],
        "ok": same_zero and changed and batched,
    }


def _ablation(hm: Any, model: str | None) -> dict[str, Any]:
    import torch

    from workbench.heads.ablation import ablation_scores_job
    from workbench.jobs import run

    task = _task()
    heads = [(L, h) for L in range(0, hm.n_layers, max(1, hm.n_layers // 6)) for h in range(2)]
    t = time.perf_counter()
    full = run(ablation_scores_job(hm, task))
    t_full = time.perf_counter() - t
    single = run(ablation_scores_job(hm, task, heads=heads, max_rows=len(task.prompts)))
    got = torch.stack([full.scores[L, h] for L, h in heads])
    ref = torch.stack([single.scores[L, h] for L, h in heads])
    diff_batched = float((got - ref).abs().max())
    out: dict[str, Any] = {"all_heads_s": t_full, "batched_vs_one_per_head": diff_batched}
    ok = diff_batched <= 1e-3
    if hm.device.type != "cpu":
        from workbench.models.loading import load_language_model

        cpu = load_language_model(model, device="cpu", dtype="float32")
        ref_cpu = run(ablation_scores_job(cpu, task, heads=heads))
        got_cpu = torch.stack([ref_cpu.scores[L, h] for L, h in heads])
        out["device_vs_cpu"] = float((got - got_cpu).abs().max())
        ok = ok and out["device_vs_cpu"] <= 1e-2
        del cpu
    out["ok"] = ok
    return out


def _sweep(hm: Any) -> dict[str, Any]:
    from workbench.concepts.concept import Concept
    from workbench.concepts.steering_sweep import SteeringSweepSpec, steering_sweep
    from workbench.models.generation import SamplingSettings, steered_generate
    from workbench.models.interventions import AddVector

    layers = (hm.n_layers // 3, hm.n_layers // 2)
    sites = {f"blocks.{L}.hook_resid_post": _vector(hm, L) for L in layers}
    concept = Concept("gpu-check", sites, hm.ref, {"method": "random"})
    s = SamplingSettings(max_new_tokens=8, stop_at_eos=False)
    spec = SteeringSweepSpec(layers, (-8.0, 0.0, 8.0), tuple(PROMPTS[:2]), settings=s)
    t = time.perf_counter()
    res = steering_sweep(hm, concept, spec)
    t_sweep = time.perf_counter() - t
    mismatches = 0
    for i, L in enumerate(layers):
        site = f"blocks.{L}.hook_resid_post"
        for j, c in enumerate(spec.coefficients):
            ref = steered_generate(
                hm, PROMPTS[0], [AddVector(site, vector=sites[site], coefficient=c)], s
            )
            mismatches += res.token_ids[i][j][0] != ref.generation.token_ids[1]
    return {"sweep_s": t_sweep, "cells_differing_from_one_generation": mismatches,
            "ok": mismatches == 0}  # fmt: skip


def _placement(hm: Any, model: str | None, dev: str) -> dict[str, Any]:
    import tempfile

    import torch

    from workbench.models.loading import load_language_model

    n = hm.n_layers
    if dev.startswith("cuda") and torch.cuda.device_count() > 1:
        kw: dict[str, Any] = {"device_map": "balanced"}
    elif dev.startswith("cuda"):
        kw = {"device_map": json.dumps({f"0-{n // 2 - 1}": 0, f"{n // 2}-{n - 1}": "cpu"})}
    else:  # dry run: half the blocks on disk
        folder = tempfile.mkdtemp(prefix="gpucheck-offload")
        kw = {"device_map": json.dumps({f"0-{n // 2 - 1}": "cpu", f"{n // 2}-{n - 1}": "disk"}),
              "offload_folder": folder}  # fmt: skip
    placed = load_language_model(model, device=dev, dtype="float32", **kw)
    sites = [f"blocks.{L}.hook_resid_post" for L in (0, n // 2, n - 1)]
    a = hm.capture(PROMPTS, sites)
    b = placed.capture(PROMPTS, sites)
    worst = max(float((a[s] - b[s]).abs().max() / a[s].abs().max()) for s in sites)
    where = placed.info.get("device_map")
    del placed
    return {"placed": where, "max_rel_diff": worst, "ok": worst <= 1e-4}


def _diffusion(dev: str) -> dict[str, Any]:
    import numpy as np

    from workbench.diffusion.generate import ImageSpec, generate_image
    from workbench.diffusion.loading import wrap_pipeline
    from workbench.diffusion.tiny import tiny_sd_pipeline
    from workbench.jobs import run

    spec = ImageSpec(prompt="a red cube", steps=3, guidance=2.0, width=64, height=64,
                     preview_every=0)  # fmt: skip
    ref = run(generate_image(wrap_pipeline(tiny_sd_pipeline(seed=0)), spec))
    pipe = tiny_sd_pipeline(seed=0).to(dev)
    dm = wrap_pipeline(pipe)
    got = run(generate_image(dm, spec))
    diff = float(np.abs(got.array - ref.array).max())
    finite = bool(np.isfinite(got.array).all())
    return {"max_abs_diff_vs_cpu": diff, "finite": finite, "ok": finite and diff <= 2e-2}


def _ratios(hm: Any) -> dict[str, Any]:
    import torch

    from workbench.concepts.concept import Concept
    from workbench.concepts.steering_sweep import SteeringSweepSpec, steering_sweep
    from workbench.heads.ablation import ablation_scores_job
    from workbench.jobs import run
    from workbench.models.generation import SamplingSettings, generate
    from workbench.models.interventions import AddVector

    def timed(fn: Callable[[], Any]) -> float:
        if hm.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if hm.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    task = _task()
    heads = [(L, h) for L in range(hm.n_layers) for h in range(hm.n_heads)][: 4 * hm.n_heads]
    batched = timed(lambda: run(ablation_scores_job(hm, task, heads=heads)))
    one_each = timed(
        lambda: run(ablation_scores_job(hm, task, heads=heads, max_rows=len(task.prompts)))
    )
    layers = tuple(range(2, hm.n_layers, max(1, hm.n_layers // 5)))[:5]
    coefs = (-8.0, -4.0, 0.0, 4.0, 8.0, 12.0)
    vecs = {f"blocks.{L}.hook_resid_post": _vector(hm, L) for L in layers}
    concept = Concept("ratio", vecs, hm.ref, {"method": "random"})
    s = SamplingSettings(max_new_tokens=16, stop_at_eos=False)
    spec = SteeringSweepSpec(layers, coefs, (PROMPTS[2],), settings=s, fluency=False)
    sweep = timed(lambda: steering_sweep(hm, concept, spec))

    def loop() -> None:
        for site, v in vecs.items():
            for c in coefs:
                generate(hm, [PROMPTS[2]], [AddVector(site, vector=v, coefficient=c)], s)

    looped = timed(loop)
    enc = hm.encode(PROMPTS * 8)
    with torch.no_grad():
        fwd = timed(lambda: hm.model(**enc))
    out = {
        "ablation_batched_over_one_head_per_forward": one_each / batched,
        "sweep_over_loop_of_generations": looped / sweep,
        "forward_24_prompts_s": fwd,
    }
    return out


if __name__ == "__main__":
    sys.exit(main())
