"""One job protocol for the window and the command line.

A job is a generator: every ``yield`` is a :class:`Progress` report and a point where it may be
cancelled; its ``return`` value is the result. The window runs it with superqt's
``create_worker`` (``yielded``/``returned``/``errored``; ``worker.quit()`` cancels at the next
yield), the command line with :func:`run_with_progress_bar`, tests with :func:`run`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
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


def in_stages(job: Job[T], stages: Sequence[str], unit: str = "%") -> Job[T]:
    """Report a job made of ``len(stages)`` sub-jobs on one scale: 0–100 % of the whole.

    A job that runs several parts one after the other (a clean pass, a corrupted pass, then a
    sweep) reports each part's own ``done``/``total``; shown as they come, the bar jumps back
    ("block 12/30 … block 1/30"). Here a new part starts when ``done`` goes down, ``total``
    changes or the message names the next stage; part ``k``'s fraction ``f`` becomes
    ``(k + f) / len(stages)`` of the whole, and the message says which part runs
    ("stage 2 of 3, corrupted run: block 4/30"). Payloads pass through.
    """
    n = len(stages)
    k = 0
    last: tuple[float, float | None] | None = None
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        if last is not None and k < n - 1:
            went_back = p.done < last[0] or p.total != last[1]
            named = any(p.message.startswith(s) for s in stages[k + 1 :])
            if went_back or (named and not p.message.startswith(stages[k])):
                k += 1
        last = (p.done, p.total)
        frac = p.fraction or 0.0
        overall = 100.0 * (k + frac) / n
        text = f"stage {k + 1} of {n}, {p.message or stages[k]}"
        yield Progress(round(overall, 2), 100.0, text, p.payload)


def as_job(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Job[T]:
    """Wrap a plain function as a one-step job."""
    yield Progress(0, 1, getattr(fn, "__name__", "working"))
    result = fn(*args, **kwargs)
    yield Progress(1, 1, "done")
    return result


def finite_or_none(obj: Any) -> Any:
    """``obj`` (nested dicts, lists, tuples) with every NaN or infinite float as None: strict
    JSON has no NaN, and a number that is not one is better said as null than as a string."""
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj
