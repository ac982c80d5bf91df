"""The Ray actor: one model, loaded once through the workbench's loader, running engine jobs.

Shaped like the remote-execution service's *ModelActor*: an actor holds a model and executes
requests that carry a task name and small arguments, never the model. A task is a job factory
named ``"module:function"`` (called as ``function(hm, **kwargs)``); the actor drives the job
with :func:`workbench.jobs.run`, keeps its latest progress for the driver to poll, and stops it
at the next yield when :meth:`ModelWorker.cancel` is called (the actor runs several calls at
once, so a cancel or a progress poll is served while a job runs).

Workers never open a project file: they return results to the process that started the job.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from typing import Any

from workbench.jobs import Cancelled, Progress, run


class ModelWorker:
    """One Ray worker process with one loaded model (wrapped by ``ray.remote`` at run time)."""

    def __init__(self, load: dict[str, Any], threads: int, env: dict[str, str]):
        os.environ.update(env)
        os.environ["WORKBENCH_TORCH_THREADS"] = str(threads)
        self._load = load
        self._hm: Any = None
        self._lock = threading.Lock()  # one job at a time
        self._cancel = threading.Event()
        self._progress: tuple[float, float | None, str] = (0.0, None, "")
        self._state = "idle"

    def load(self) -> dict[str, Any]:
        """Load the model (once); where and how long it took."""
        with self._lock:
            t = time.perf_counter()
            if self._hm is None:
                from workbench.models.loading import ModelSource, load_language_model

                spec = self._load
                self._hm = load_language_model(
                    ModelSource(**spec["source"]),
                    device=spec["device"],
                    dtype=spec["dtype"],
                    attn_implementation=spec["attn"],
                    check_memory=False,
                )
            return {
                "pid": os.getpid(),
                "host": os.uname().nodename,
                "load_s": time.perf_counter() - t,
                "device": str(self._hm.device),
                "threads": int(os.environ["WORKBENCH_TORCH_THREADS"]),
            }

    def run(self, task: str, kwargs: dict[str, Any]) -> Any:
        """Run job ``task`` (``"module:function"``) on the model; its result."""
        with self._lock:
            module, name = task.split(":")
            factory = getattr(importlib.import_module(module), name)
            self._cancel.clear()
            self._progress = (0.0, None, "starting")
            self._state = "running"
            try:
                result = run(
                    factory(self._hm, **kwargs),
                    on_progress=self._report,
                    should_cancel=self._cancel.is_set,
                )
            except Cancelled:
                self._state = "cancelled"
                raise
            except BaseException:
                self._state = "failed"
                raise
            self._state = "done"
            return result

    def _report(self, p: Progress) -> None:
        self._progress = (float(p.done), None if p.total is None else float(p.total), p.message)

    def progress(self) -> tuple[float, float | None, str, str]:
        """``(done, total, message, state)`` of the current or last job."""
        return (*self._progress, self._state)

    def cancel(self) -> str:
        """Stop the running job at its next yield; the state it was in."""
        self._cancel.set()
        return self._state

    def state(self) -> str:
        return self._state

    def pid(self) -> int:
        return os.getpid()
