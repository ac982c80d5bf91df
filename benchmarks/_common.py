"""Shared helpers for the benchmarks: one thread setting, interleaved repetitions, medians,
one-line reports, and the JSON results (with commit, machine and load) that each README block
is generated from.

Every script runs in a fresh interpreter (``benchmarks/run_all.py`` starts one per script), calls
:func:`setup_threads` before torch is imported, reports its figures with :func:`report` /
:func:`note`, and ends with :func:`save_results`, which writes ``benchmarks/results/NAME.json``
and rewrites the README's ``<!-- BENCH_NAME:START -->`` block from that file.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FIGURES: list[dict[str, Any]] = []  # what report() printed, in order, for the JSON
LINES: list[str] = []  # every printed figure line, as printed
_LOAD_AT_START: list[float] = []
# a machine counts as busy when its 1-minute load average is above this share of its cores
BUSY_LOAD_PER_CORE = 0.5


def setup_threads() -> int:
    """Apply the one thread setting of this run (``BENCH_THREADS``, default 1) before torch is
    imported: OpenMP, MKL and the workbench loader (which sets torch's count when a model loads)
    all read it. One thread by default: on a shared machine, spinning OpenMP threads measure the
    other tenants. Also notes the load average at the start."""
    n = max(1, int(os.environ.get("BENCH_THREADS", "1") or 1))
    for var in ("BENCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "WORKBENCH_TORCH_THREADS"):
        os.environ[var] = str(n)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if hasattr(os, "getloadavg"):
        _LOAD_AT_START[:] = list(os.getloadavg())
    try:
        import torch
    except ImportError:
        return n
    torch.set_num_threads(n)
    return n


def timeit(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def compare(
    a: Callable[[], object], b: Callable[[], object], repeat: int = 9, warmup: int = 2
) -> tuple[float, float]:
    """Median times of ``a`` and ``b``, measured alternately so drift hits both alike."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for i in range(repeat):
        for fn, out in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def report(name: str, value: float, unit: str, target: str = "") -> None:
    """Print one figure and keep it for :func:`save_results`."""
    tail = f"   (target {target})" if target else ""
    text = f"{name:<44} {value:>10.3f} {unit}{tail}".rstrip()
    FIGURES.append({"name": name, "value": value, "unit": unit, "target": target})
    LINES.append(text)
    print(text, flush=True)


def note(text: str) -> None:
    """Print a figure line written out in words (kept as printed for the JSON and README)."""
    LINES.append(text)
    print(text, flush=True)


def commit() -> str:
    """The checkout's commit (short), with ``+changes`` when the working tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=HERE.parent, capture_output=True, text=True, timeout=30
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git(
            "status", "--porcelain", "--untracked-files=no", "--", "workbench", "ui", "benchmarks"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+changes" if head and dirty else (head or "unknown")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def load_report() -> dict[str, Any]:
    """The 1-minute load average at the start and the end, and whether that is a busy machine
    (other processes wanted the cores: wall times are longer than on a quiet one)."""
    if not hasattr(os, "getloadavg"):
        return {"load_start": None, "load_end": None, "under_load": None}
    start = _LOAD_AT_START[0] if _LOAD_AT_START else None
    end = os.getloadavg()[0]
    worst = max(x for x in (start, end) if x is not None)
    return {
        "load_start": None if start is None else round(start, 2),
        "load_end": round(end, 2),
        "under_load": worst > BUSY_LOAD_PER_CORE * (os.cpu_count() or 1),
    }


def save_results(name: str, command: str, notes: str = "", **extra: Any) -> Path:
    """Write ``benchmarks/results/NAME.json`` (figures, printed lines, commit, machine, threads,
    load) and regenerate the README block ``BENCH_NAME`` from it."""
    data: dict[str, Any] = {
        "benchmark": name,
        "command": command,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit(),
        "machine": machine(),
        "threads": int(os.environ.get("BENCH_THREADS", "1") or 1),
        **load_report(),
        "notes": notes,
        "figures": FIGURES,
        "lines": LINES,
        **extra,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"# results in {path}", flush=True)
    if readme_from_json(name):
        print(f"# README block BENCH_{name.upper()} regenerated from it", flush=True)
    return path


def render_block(data: dict[str, Any]) -> str:
    """The README text for one results file: when, where, how, then the figures as printed."""
    m = data["machine"]
    where = f"{m['cores']} cores ({m['cpu']}), " + (f"GPU {m['gpu']}" if m.get("gpu") else "no GPU")
    load = ""
    if data.get("under_load"):
        load = (
            f" **Measured under load** (1-minute load average {data['load_start']} at the start, "
            f"{data['load_end']} at the end, on {m['cores']} cores: other processes shared the "
            "machine, so wall times are longer than on a quiet one; ratios measured alternately "
            "suffer less)."
        )
    head = (
        f"Measured {data['measured']} at commit {data['commit']} with `{data['command']}` on "
        f"{where}, torch {m.get('torch', '?')}, {data['threads']} thread(s), in a fresh "
        f"process.{load}"
    )
    if data.get("notes"):
        head += " " + data["notes"]
    return "\n".join([head, "", "```text", *data["lines"], "```"])


def readme_from_json(name: str) -> bool:
    """Regenerate README block ``BENCH_NAME`` from ``results/NAME.json``; False when either the
    file or the block is missing."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return False
    data = json.loads(path.read_text(encoding="utf-8"))
    if "lines" not in data:  # a script with its own README writer
        return False
    return update_readme_block(f"BENCH_{name.upper()}", render_block(data))


README = Path(__file__).resolve().parents[1] / "README.md"


def update_readme_block(name: str, block: str) -> bool:
    """Replace the README's text between ``<!-- NAME:START -->`` and ``<!-- NAME:END -->`` with
    ``block`` (each benchmark writes its block from its JSON results). False when the markers
    are missing."""
    start, end = f"<!-- {name}:START -->", f"<!-- {name}:END -->"
    text = README.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(head + start + "\n" + block.rstrip() + "\n" + end + tail, encoding="utf-8")
    return True
