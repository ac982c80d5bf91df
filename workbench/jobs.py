"""One job protocol for the window and the command line.

A job is a generator: every ``yield`` is a :class:`Progress` report and a point where it may be
cancelled; its ``return`` value is the result. The window runs it with superqt's
``create_worker`` (``yielded``/``returned``/``errored``; ``worker.quit()`` cancels at the next
yield), the command line with :func:`run_with_progress_bar`, tests with :func:`run`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

Job = Generator["Progress", None, T]


@dataclass(frozen=True)
class Progress:
    """A progress report: ``done`` of ``total`` steps (``total`` None when unknown)."""

    done: float
    total: float | None = None
    message: str = ""
    payload: Any = None  # optional partial result, e.g. a streamed token

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


class Cancelled(Exception):
    """Raised by :func:`run` when ``should_cancel`` says so."""


def run(
    job: Job[T],
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> T:
    """Drive a job to completion and return its result."""
    while True:
        try:
            report = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(report)
        if should_cancel is not None and should_cancel():
            job.close()
            raise Cancelled("cancelled")


# False while a command runs with --json: its stderr stays free of progress bars.
PROGRESS_BARS = True


def run_with_progress_bar(job: Job[T], desc: str = "", disable: bool = False) -> T:
    """Run a job with a tqdm progress bar on stderr (the command line's front end)."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, total=None, disable=disable or not PROGRESS_BARS, leave=False)
    try:

        def _update(p: Progress) -> None:
            if p.total is not None and bar.total != p.total:
                bar.total = p.total
            bar.n = p.done
            if p.message:
                bar.set_postfix_str(p.message[:60])
            bar.refresh()

        return run(job, on_progress=_update)
    finally:
        bar.close()


def as_job(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Job[T]:
    """Wrap a plain function as a one-step job."""
    yield Progress(0, 1, getattr(fn, "__name__", "working"))
    result = fn(*args, **kwargs)
    yield Progress(1, 1, "done")
    return result
