"""Cold start of the desktop app, stage by stage, every run in a fresh interpreter.

Two measurements, each the median of a few launches (after one launch that warms the disk
cache, so that the app is measured, not the disk):

* ``app.startup_to_window``: ``python -m ui --no-autoload`` until its window is shown (and
  whether torch had been imported by then: it must not be, the window comes first).
* the stages of a real start on the embedded model, from ``python -m ui --self-test`` (the same
  path as the installed app's ``--self-test``): **window shown**, **model ready** (loaded from
  the warm cache, hooks in place, usable by every panel), **first token** generated. Each is
  the time from the moment the process was started (``Popen``) to the moment the parent reads
  the app's ``WORKBENCH_STAGE`` line, so interpreter start-up and every import count.

Then the imports alone (torch, transformers, its Llama code) in fresh interpreters: bare, after
PySide6 with its own per-import check, with ``ui``'s quick check, and with ``workbench``'s import
cache as well (what the app runs), interleaved, CPU seconds each.

Writes ``benchmarks/results/startup.json`` and the README block between ``STARTUP:START`` and
``STARTUP:END`` from it (``--no-readme`` to leave the README alone).

    python benchmarks/bench_startup.py [--runs 5] [--platform offscreen|xcb] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import platform as pyplatform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
TARGET_WINDOW_S = 1.5
TARGET_READY_S = 3.0
STAGES = ("window_shown", "model_ready", "first_token")


def _env(platform: str, tmp: str) -> dict[str, str]:
    return {
        **os.environ,
        "QT_QPA_PLATFORM": platform,
        "HF_HUB_OFFLINE": "1",
        "WORKBENCH_STARTUP_REPORT": "1",
        "WORKBENCH_CONFIG_DIR": os.path.join(tmp, "config"),
        "WORKBENCH_DATA_DIR": os.path.join(tmp, "data"),
    }


def launch_once(platform: str) -> tuple[float, bool]:
    """Seconds to the first window of ``python -m ui --no-autoload``, and torch imported?"""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**_env(platform, tmp), "WORKBENCH_EXIT_AFTER_SHOW": "1"}
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui", "--no-autoload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        shown, torch = None, None
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("WORKBENCH_WINDOW_SHOWN"):
                shown = time.perf_counter() - t0
                torch = "torch=True" in line
        proc.wait(timeout=60)
    if shown is None:
        raise SystemExit("the app exited without showing its window")
    return shown, bool(torch)


def stages_once(platform: str) -> dict[str, float | bool]:
    """Seconds from process start to each stage of ``python -m ui --self-test``."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui", "--self-test"],
            cwd=tmp,
            env={**_env(platform, tmp), "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        out: dict[str, float | bool] = {}
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if line.startswith("WORKBENCH_STAGE "):
                _, name, _, cpu = line.split()[:4]
                out[name] = time.perf_counter() - t0
                out[f"{name}_cpu"] = float(cpu)
            elif line.startswith("self-test: model ready"):
                out["from_cache"] = "from cache" in line
        rc = proc.wait(timeout=600)
    if rc != 0 or not all(s in out for s in STAGES):
        raise SystemExit("the self-test failed:\n" + "\n".join(lines[-10:]))
    return out


IMPORTS = (
    "import time, torch, transformers; from transformers import AutoTokenizer; "
    "from transformers.models.llama import modeling_llama; print(time.process_time())"
)


# What each of the app's two import fixes is worth: the same imports (torch, transformers, its
# Llama code) in a fresh interpreter after each prefix, CPU seconds of the imports alone.
VARIANTS = {
    "bare": ("", "no PySide6 (an interpreter that imports nothing else)"),
    "pyside": ("import PySide6.QtCore", "after PySide6, with its own per-import check"),
    "quick": ("import ui", "after PySide6, with ui's quick check"),
    "quick_cache": ("import ui, workbench", "... and workbench's import cache (the app)"),
}
VARIANT_IMPORTS = (
    "import time; c = time.process_time(); w = time.perf_counter(); import torch; "
    "from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer; "
    "from transformers.models.llama import modeling_llama; "
    "print(time.process_time() - c, time.perf_counter() - w)"
)


def variant_once(name: str) -> tuple[float, float]:
    """CPU and wall seconds of the imports after ``VARIANTS[name]``'s prefix."""
    prefix = VARIANTS[name][0]
    code = (prefix + "; " if prefix else "") + VARIANT_IMPORTS
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"},
    )
    cpu, wall = out.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def variants(runs: int) -> dict[str, dict[str, float]]:
    for name in VARIANTS:  # warm: files, and the import cache written once
        variant_once(name)
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in VARIANTS}
    for i in range(runs):  # interleaved, so drift hits every variant alike
        for name in VARIANTS if i % 2 == 0 else reversed(list(VARIANTS)):
            got[name].append(variant_once(name))
    return {
        k: {
            "cpu_median_s": round(statistics.median(c for c, _ in v), 3),
            "wall_median_s": round(statistics.median(w for _, w in v), 3),
        }
        for k, v in got.items()
    }


def imports_once() -> tuple[float, float]:
    """Wall and CPU seconds of a fresh interpreter that only imports what a load needs (torch,
    transformers and its Llama model code): the floor under "model ready" for any app that
    loads the model with transformers."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return time.perf_counter() - t0, float(out.stdout.strip().splitlines()[-1])


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
    }


def readme_block(res: dict) -> str:
    w, s = res["window"], res["stages"]
    cache = "warm" if res["model_cache_warm"] else "COLD (converted during the run)"
    lines = [
        f"Measured {res['measured']} with `python benchmarks/bench_startup.py` on {res['machine']}; "
        f"medians of {res['runs']} launches, each a fresh process (QPA {res['platform']}, model "
        f"cache {cache}). Seconds from process start:",
        "",
        "```text",
        f"window shown (--no-autoload)  {w['median_s']:5.2f} s  (target < {TARGET_WINDOW_S} s; "
        f"min {w['min_s']:.2f}, max {w['max_s']:.2f}; torch imported by then: "
        f"{'yes (BAD)' if res['torch_before_window'] else 'no'})",
    ]
    labels = {
        "window_shown": "window shown",
        "model_ready": "model loaded and ready",
        "first_token": "first token generated",
    }
    for k in STAGES:
        v = s[k]
        target = f"  (target < {TARGET_READY_S} s)" if k == "model_ready" else ""
        lines.append(
            f"{labels[k]:<29} {v['median_s']:5.2f} s  (min {v['min_s']:.2f}, max {v['max_s']:.2f}; "
            f"CPU {res['stages_cpu'][k]['median_s']:.2f} s){target}"
        )
    if "imports" in res:
        i = res["imports"]
        lines.append(
            f"{'imports alone (no window)':<29} {i['median_s']:5.2f} s  (CPU "
            f"{res['imports_cpu']['median_s']:.2f} s: torch, transformers, its Llama code)"
        )
    lines.append("```")
    load = res.get("load_average")
    lines.append(
        "CPU is the process's own CPU time by then (all its threads), which other work on the "
        "machine changes less than the wall time."
        + (
            f" The load average was {load[0]:.1f} on {os.cpu_count()} cores when this ended: "
            "other processes were running, so the wall times are longer than on a quiet machine."
            # the benchmark's own launches keep about one core busy: more means other work
            if load and load[0] > 1.5
            else f" The load average was {load[0]:.1f} when this ended, about the benchmark's "
            "own one busy core: a quiet machine otherwise."
            if load
            else ""
        )
    )
    if "import_variants" in res:
        v = res["import_variants"]
        lines += [
            "",
            "The same imports (torch, transformers, its Llama code), each in a fresh interpreter "
            "after something else was imported; CPU seconds of the imports alone, medians:",
            "",
            "```text",
            *(f"{VARIANTS[k][1]:<52} {v[k]['cpu_median_s']:5.2f} s" for k in VARIANTS if k in v),
            "```",
        ]
    return "\n".join(lines)


def update_readme(block: str) -> bool:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import update_readme_block

    return update_readme_block("STARTUP", block)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite the README block")
    args = ap.parse_args()
    launch_once(args.platform)  # warm the file cache: we measure the app, not the disk
    windows = [launch_once(args.platform) for _ in range(args.runs)]
    times = [t for t, _ in windows]
    torch = any(t for _, t in windows)
    print(
        f"app.startup_to_window: {statistics.median(times):.2f} s (target < {TARGET_WINDOW_S} s)  [min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs, QPA {args.platform}]",
        flush=True,
    )
    print(f"app.torch_imported_before_window: {'yes (BAD)' if torch else 'no'}", flush=True)
    warm = stages_once(args.platform)  # converts the model if the cache is cold; warms files
    runs = [stages_once(args.platform) for _ in range(args.runs)]
    stages = {k: _summary([float(r[k]) for r in runs]) for k in STAGES}
    cpu = {k: _summary([float(r[f"{k}_cpu"]) for r in runs]) for k in STAGES}
    for k in STAGES:
        v = stages[k]
        print(
            f"app.cold_process.{k:<13} {v['median_s']:6.2f} s  [min {v['min_s']:.2f}, max {v['max_s']:.2f}; CPU {cpu[k]['median_s']:.2f} s]"
            + (f"  (target < {TARGET_READY_S} s, model cache warm)" if k == "model_ready" else ""),
            flush=True,
        )
    floor = [imports_once() for _ in range(max(3, args.runs // 2))]
    print(
        f"app.imports_alone               {statistics.median(w for w, _ in floor):6.2f} s  "
        f"[CPU {statistics.median(c for _, c in floor):.2f} s; torch + transformers + Llama code]",
        flush=True,
    )
    import_variants = variants(max(3, args.runs))
    for k, v in import_variants.items():
        print(
            f"app.imports.{k:<12} CPU {v['cpu_median_s']:5.2f} s  wall {v['wall_median_s']:5.2f} s  "
            f"({VARIANTS[k][1]})",
            flush=True,
        )
    res = {
        "import_variants": import_variants,
        "imports": _summary([w for w, _ in floor]),
        "imports_cpu": _summary([c for _, c in floor]),
        "measured": time.strftime("%Y-%m-%d"),
        "machine": f"{pyplatform.system()} {pyplatform.machine()}, {os.cpu_count()} cores, Python {pyplatform.python_version()}",
        "platform": args.platform,
        "runs": args.runs,
        "window": _summary(times),
        "torch_before_window": torch,
        "model_cache_warm": all(bool(r.get("from_cache")) for r in runs),
        "cache_was_warm_before": bool(warm.get("from_cache")),
        "stages": stages,
        "stages_cpu": cpu,
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "raw": runs,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(f"# wrote {RESULTS.relative_to(ROOT)}", flush=True)
    if not args.no_readme and update_readme(readme_block(res)):
        print("# updated the README's startup block", flush=True)


if __name__ == "__main__":
    main()
