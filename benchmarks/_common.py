"""Shared helpers for the benchmarks: interleaved repetitions, medians, one-line reports."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path


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
    tail = f"   (target {target})" if target else ""
    print(f"{name:<44} {value:>10.3f} {unit}{tail}", flush=True)


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
