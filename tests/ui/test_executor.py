"""The single-slot executor: one job at a time, newest request wins, stale results dropped,
callbacks on the main thread, RuntimeErrors reported (not swallowed)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread
from ui_helpers import wait_idle

from ui.workers import ModelExecutor
from workbench.jobs import Progress


def slow_job(tag, steps=20, gate=None):
    for i in range(steps):
        if gate is not None:
            gate.wait(5)
        yield Progress(i, steps, tag)
    return tag


class _Ctx:
    def __init__(self, ex):
        self.executor = ex


def test_newest_request_wins_and_stale_results_are_dropped(qtbot):
    ex = ModelExecutor()
    results, threads, done = [], [], []
    gate = threading.Event()
    ex.submit(
        "canvas",
        slow_job,
        "first",
        50,
        gate,
        on_result=results.append,
        on_done=lambda: done.append("first"),
    )
    ex.submit(
        "canvas",
        slow_job,
        "second",
        50,
        gate,
        on_result=results.append,
        on_done=lambda: done.append("second"),
    )
    rid = ex.submit(
        "canvas",
        slow_job,
        "third",
        3,
        on_result=lambda r: (results.append(r), threads.append(QThread.currentThread())),
    )
    gate.set()
    wait_idle(qtbot, _Ctx(ex))
    assert results == ["third"]
    assert threads == [QThread.currentThread()]  # callbacks on the main thread
    assert ex.is_latest(rid, "canvas") and not ex.busy


def test_jobs_run_one_at_a_time_across_channels(qtbot):
    ex = ModelExecutor()
    order = []
    ex.submit("a", slow_job, "a", 3, on_result=order.append)
    ex.submit("b", slow_job, "b", 3, on_result=order.append)
    running = []
    ex.job_started.connect(lambda label: running.append((label, ex.running_label)))
    wait_idle(qtbot, _Ctx(ex))
    assert order == ["a", "b"]


def test_runtime_error_is_reported(qtbot):
    def boom():
        yield Progress(0, 1, "x")
        raise RuntimeError("shape mismatch in torch")

    seen = []
    ex = ModelExecutor(error_handler=lambda e, label: seen.append((label, str(e))))
    ex.submit("x", boom, label="Exploding")
    wait_idle(qtbot, _Ctx(ex))
    assert seen == [("Exploding", "shape mismatch in torch")]


def test_cancel_runs_on_done(qtbot):
    ex = ModelExecutor()
    done, results = [], []
    gate = threading.Event()
    ex.submit(
        "p", slow_job, "p", 100, gate, on_result=results.append, on_done=lambda: done.append(1)
    )
    ex.cancel("p")
    gate.set()
    wait_idle(qtbot, _Ctx(ex))
    assert results == [] and done == [1]


def test_cancel_closes_the_job_so_its_cleanup_runs(qtbot):
    """A cancelled job's ``finally`` (e.g. removing steering hooks) runs before the executor
    reports it finished, not whenever the generator is garbage-collected."""
    ex = ModelExecutor()
    cleaned = []
    gate = threading.Event()

    def job():
        try:
            for i in range(10_000):
                gate.wait(5)
                yield Progress(i, 10_000, "c")
        finally:
            cleaned.append(QThread.currentThread())

    started = []
    ex.submit("c", job, on_progress=started.append)
    gate.set()
    qtbot.waitUntil(lambda: bool(started))  # cancel a job that is running, not one not yet begun
    ex.cancel("c")
    wait_idle(qtbot, _Ctx(ex))
    assert len(cleaned) == 1 and cleaned[0] is not QThread.currentThread()
