"""Running model jobs off the GUI thread: one at a time, newest request wins.

A job is the engine's generator protocol (:mod:`workbench.jobs`): every ``yield`` reports
progress and is a point where it can be cancelled. :class:`ModelExecutor` runs jobs with
superqt's ``create_worker`` on the global thread pool, **one at a time** (a model is used by
one job at a time), and gives each request an id. A request on a *channel* (``"preview"``,
``"canvas"``...) replaces a pending request on the same channel and cancels a running one; a
result whose id is not the channel's latest is dropped, so a slow answer never overwrites a
newer one. Callbacks run on the main thread.
"""

from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

from ui.compat import release_worker_generator, worker_generator

log = logging.getLogger(__name__)


class JobError(Exception):
    """A job failed with a RuntimeError (torch raises those); wrapped because superqt treats
    a RuntimeError from a worker as 'worker deleted' and swallows it."""


def _guarded(job_fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    try:
        result = yield from job_fn(*args, **kwargs)
    except RuntimeError as e:
        raise JobError(str(e) or type(e).__name__) from e
    return result


def _close_generator(worker_ref: Callable[[], Any]) -> None:
    worker = worker_ref()
    gen = worker_generator(worker)
    if gen is not None:
        try:
            gen.close()
        except Exception:  # a job's cleanup failing must not take the worker thread down
            log.exception("closing a cancelled job failed")


@dataclass
class Request:
    rid: int
    channel: str
    label: str
    job_fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    on_result: Callable[[Any], None] | None = None
    on_progress: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    on_done: Callable[[], None] | None = None
    worker: Any = field(default=None, repr=False)
    relay: Any = field(default=None, repr=False)


class _Relay(QObject):
    """Lives on the main thread, so the worker's signals reach it there (queued)."""

    def __init__(self, executor: ModelExecutor, rid: int):
        super().__init__()
        self._executor, self._rid = executor, rid

    @Slot(object)
    def on_yielded(self, value: Any) -> None:
        self._executor._yielded(self._rid, value)

    @Slot(object)
    def on_returned(self, value: Any) -> None:
        self._executor._returned(self._rid, value)

    @Slot(object)
    def on_errored(self, exc: Any) -> None:
        self._executor._errored(self._rid, exc)

    @Slot()
    def on_finished(self) -> None:
        self._executor._finished(self._rid)


class ModelExecutor(QObject):
    """The single slot in which model jobs run. See the module docstring."""

    busy_changed = Signal(bool)
    job_started = Signal(str)  # label
    job_progress = Signal(str, object)  # label, Progress
    job_finished = Signal(str)  # label

    def __init__(self, error_handler: Callable[[BaseException, str], None] | None = None):
        super().__init__()
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._pending: dict[str, Request] = {}  # channel -> request (insertion order = FIFO)
        self._running: Request | None = None
        self._error_handler = error_handler
        self._closed = False

    # ------------------------------------------------------------------ api
    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._pending)

    @property
    def running_label(self) -> str | None:
        return self._running.label if self._running else None

    def submit(
        self,
        channel: str,
        job_fn: Callable[..., Any],
        *args: Any,
        label: str = "",
        on_result: Callable[[Any], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_done: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> int:
        """Queue ``job_fn(*args, **kwargs)`` (a job generator function); return its id.

        ``on_done`` runs after the result, an error or a cancel (not for a superseded request).
        """
        if self._closed:
            return -1
        rid = next(self._ids)
        req = Request(
            rid,
            channel,
            label or channel,
            job_fn,
            args,
            kwargs,
            on_result,
            on_progress,
            on_error,
            on_done,
        )
        self._latest[channel] = rid
        old = self._pending.pop(channel, None)
        if old is not None:
            log.debug("request %s superseded by %s", old.rid, rid)
        if self._running is not None and self._running.channel == channel:
            self._quit(self._running)
        self._pending[channel] = req
        was_busy = self._running is not None
        self._start_next()
        if not was_busy:
            self.busy_changed.emit(True)
        return rid

    def cancel(self, channel: str | None = None) -> None:
        """Cancel the running job (on ``channel``, or any) and drop pending ones there."""
        for ch in [c for c in self._pending if channel in (None, c)]:
            req = self._pending.pop(ch)
            self._latest[ch] = -req.rid
            if req.on_done:
                req.on_done()
        if self._running is not None and channel in (None, self._running.channel):
            self._quit(self._running)

    def is_latest(self, rid: int, channel: str) -> bool:
        return self._latest.get(channel) == rid

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything and wait for the worker thread; True if it stopped in time."""
        self._closed = True
        self.cancel()
        return QThreadPool.globalInstance().waitForDone(timeout_ms)

    # -------------------------------------------------------------- running
    def _quit(self, req: Request) -> None:
        if self._latest.get(req.channel) == req.rid:  # cancelled, not superseded
            self._latest[req.channel] = -req.rid
        if req.worker is not None:
            req.worker.quit()

    def _start_next(self) -> None:
        if self._running is not None or not self._pending:
            return
        channel = next(iter(self._pending))
        req = self._pending.pop(channel)
        from superqt.utils import create_worker  # heavy import, kept off the startup path

        worker = create_worker(
            _guarded, req.job_fn, req.args, req.kwargs, _start_thread=False, _ignore_errors=True
        )
        relay = _Relay(self, req.rid)
        worker.yielded.connect(relay.on_yielded)
        worker.returned.connect(relay.on_returned)
        worker.errored.connect(relay.on_errored)
        worker.finished.connect(relay.on_finished)
        # superqt stops a quit generator without closing it, so its ``finally`` blocks (hook
        # removal, thread joins) would wait for garbage collection. Close it at once, in the
        # worker thread that was running it.
        # A weak reference: the connection lives as long as the worker's signals, and a strong
        # one would keep every finished worker (and its generator's frame) alive for good.
        worker.aborted.connect(
            partial(_close_generator, weakref.ref(worker)), Qt.ConnectionType.DirectConnection
        )
        req.worker, req.relay = worker, relay
        self._running = req
        self.job_started.emit(req.label)
        worker.start()

    def _current(self, rid: int) -> Request | None:
        req = self._running
        if req is None or req.rid != rid or self._latest.get(req.channel) != rid:
            return None  # stale: superseded or cancelled
        return req

    def _yielded(self, rid: int, value: Any) -> None:
        req = self._current(rid)
        if req is None:
            return
        self.job_progress.emit(req.label, value)
        if req.on_progress:
            req.on_progress(value)

    def _returned(self, rid: int, value: Any) -> None:
        req = self._current(rid)
        if req is not None and req.on_result:
            req.on_result(value)

    def _errored(self, rid: int, exc: BaseException) -> None:
        req = self._current(rid)
        if req is None:
            return
        if req.on_error:
            req.on_error(exc)
        elif self._error_handler:
            self._error_handler(exc, req.label)
        else:
            log.error("%s failed: %s", req.label, exc)

    def _finished(self, rid: int) -> None:
        req = self._running
        if req is None or req.rid != rid:
            return
        self._running = None
        if req.on_done and self._latest.get(req.channel) in (rid, -rid):
            req.on_done()
        self.job_finished.emit(req.label)
        req.relay.deleteLater()
        if req.worker is not None:
            # The binding keeps the wrapper of a finished superqt worker alive (its _finished
            # signal carries the worker itself); what its generator holds need not stay too.
            release_worker_generator(req.worker)
        if self._pending and not self._closed:
            self._start_next()
        else:
            self.busy_changed.emit(False)
