"""Helpers for benchmarks that drive the window offscreen: an event-loop heartbeat, waiting on
the event loop, memory readings, and the JSON file of results."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


class Heartbeat:
    """A 5 ms QTimer on the GUI thread; the longest gap between two ticks is the longest time
    the event loop could not run (a stall the user feels as a frozen window)."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last: float | None = None
        self.max_gap = 0.0
        self.max_gc = 0.0  # the longest pause of Python's cyclic collector in the phase
        self._gc_start = 0.0

    def _gc(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.max_gc = max(self.max_gc, time.perf_counter() - self._gc_start)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now

    def __enter__(self) -> Heartbeat:
        self.last, self.max_gap = time.perf_counter(), 0.0  # a stall before the first tick counts
        self.max_gc = 0.0
        import gc

        gc.callbacks.append(self._gc)
        self.timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        import gc

        self.timer.stop()
        gc.callbacks.remove(self._gc)


def spin(seconds: float) -> None:
    """Run the event loop for ``seconds``."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)


def wait_until(cond: Callable[[], bool], timeout: float = 60.0, what: str = "") -> float:
    """Run the event loop until ``cond()``; the seconds it took."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what or cond}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.0005)
    return time.perf_counter() - t0


def later(fn: Callable[[], Any]) -> None:
    """Run ``fn`` from the event loop (so that a heartbeat sees how long it blocks it)."""
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, fn)


def rss_mib() -> float:
    """This process's resident memory now (Linux /proc; else the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mib()


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def make_window() -> Any:
    """The app's main window, shown offscreen, with no model and a fresh scratch project."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from ui.app import create_window

    w = create_window(theme_choice="light", interactive=False)
    w.ctx.project.ask = False
    w.show()
    w.finish_startup(model=None, project=None)
    wait_until(lambda: not w.ctx.executor.busy, 120, "startup jobs")
    app.processEvents()
    return w


def close_window(w: Any) -> None:
    w.close()
    spin(0.2)


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Keep ``results`` as ``benchmarks/results/<name>.json`` (with when and where measured)."""
    import platform

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    from _common import commit, load_report

    payload = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        **load_report(),
        **results,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def update_readme(marker: str, lines: list[str], command: str) -> bool:
    """Put ``lines`` (the printed figures) in the README between ``<!-- MARKER:START -->`` and
    ``<!-- MARKER:END -->``; False when the README has no such block."""
    from _common import update_readme_block

    when = time.strftime("%Y-%m-%d")
    head = f"Measured {when} with `{command}` ({os.cpu_count()} cores, QPA offscreen):"
    return update_readme_block(marker, "\n".join([head, "", "```text", *lines, "```"]))
