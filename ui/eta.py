"""Progress as the window shows it: the share of the whole done, and an estimate of the time
left once a job has run a few seconds (Qt-free, so it is tested without a window)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SHOW_AFTER_S = 3.0  # no estimate before the job has run this long (too noisy)


def format_duration(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


class ProgressClock:
    """Feed it every :class:`workbench.jobs.Progress` of one job; ``text`` says how far it is
    ("37 %") and, after :data:`SHOW_AFTER_S`, about how long is left ("about 1:20 left").

    The rate is measured from the first report of the current scale: a report whose share goes
    down or whose total changes starts the clock again, so a job whose parts each count from 0
    never shows a nonsense estimate.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic):
        self._now = now
        self.reset()

    def reset(self) -> None:
        self._t0: float | None = None
        self._f0 = 0.0
        self._last = 0.0
        self._total: Any = None
        self.fraction: float | None = None
        self.seconds_left: float | None = None

    def add(self, p: Any) -> None:
        frac = getattr(p, "fraction", None)
        total = getattr(p, "total", None)
        now = self._now()
        self.fraction = frac
        if frac is None:
            self.seconds_left = None
            return
        if self._t0 is None or frac < self._last - 1e-9 or total != self._total:
            self._t0, self._f0, self._total = now, frac, total
        self._last = frac
        elapsed = now - self._t0
        gained = frac - self._f0
        if elapsed >= SHOW_AFTER_S and gained > 0:
            self.seconds_left = (1.0 - frac) * elapsed / gained
        else:
            self.seconds_left = None

    def text(self) -> str:
        if self.fraction is None:
            return ""
        out = f"{self.fraction * 100:.0f} %"
        if self.seconds_left is not None:
            out += f" · about {format_duration(self.seconds_left)} left"
        return out
