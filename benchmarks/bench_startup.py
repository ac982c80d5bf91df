"""Launch → first window shown, in a fresh process each time (median of a few runs).

Prints e.g. ``app.startup_to_window: 0.9 s (target < 1.5 s)`` and whether torch had been
imported by then (it must not: the window comes first, the model after).

    python benchmarks/bench_startup.py [--runs 5] [--platform offscreen|xcb]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.5


def launch_once(platform: str) -> tuple[float, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": platform,
            "WORKBENCH_STARTUP_REPORT": "1",
            "WORKBENCH_EXIT_AFTER_SHOW": "1",
            "WORKBENCH_CONFIG_DIR": os.path.join(tmp, "config"),
            "WORKBENCH_DATA_DIR": os.path.join(tmp, "data"),
        }
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
        for line in proc.stdout:
            if line.startswith("WORKBENCH_WINDOW_SHOWN"):
                shown = time.perf_counter() - t0
                torch = "torch=True" in line
        proc.wait(timeout=60)
    if shown is None:
        raise SystemExit("the app exited without showing its window")
    return shown, bool(torch)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    args = ap.parse_args()
    launch_once(args.platform)  # warm the file cache: we measure the app, not the disk
    results = [launch_once(args.platform) for _ in range(args.runs)]
    times = [t for t, _ in results]
    torch = any(t for _, t in results)
    med = statistics.median(times)
    print(
        f"app.startup_to_window: {med:.2f} s (target < {TARGET_S} s)  [min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs, QPA {args.platform}]"
    )
    print(f"app.torch_imported_before_window: {'yes (BAD)' if torch else 'no'}")


if __name__ == "__main__":
    main()
