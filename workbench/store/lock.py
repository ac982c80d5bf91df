""" "Open in another instance": a lock record inside the project file.

The first process that opens a project for writing stamps ``project_lock`` with its pid, host,
process start time and a heartbeat it refreshes every :data:`HEARTBEAT_S` seconds. A later opener
that finds a *live* holder opens the project read-only and says who holds it. A holder is live if

* it is this very process and the :class:`~workbench.store.project.Project` still exists;
* on the same host, its pid runs and started when the record says (a reused pid does not count);
* on another host (a shared folder), its heartbeat is younger than :data:`STALE_AFTER_S`.

A crashed holder leaves a stale record that the next opener simply takes over; no side files
(``.lock``) are needed, so the project stays one file.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, delete, insert, select, update

from workbench import __version__
from workbench.store.schema import LockRecord

HEARTBEAT_S = 30.0
STALE_AFTER_S = 120.0

# Tokens of Project objects alive in this process (a second open in the same process is refused
# write access as any other instance would be).
_LIVE_TOKENS: set[str] = set()


@dataclass(frozen=True)
class Holder:
    """Who holds a project open for writing."""

    pid: int
    host: str
    app_version: str
    acquired: str
    heartbeat: float

    def describe(self) -> str:
        where = "this computer" if self.host == socket.gethostname() else self.host
        since = datetime.fromtimestamp(self.heartbeat, timezone.utc).astimezone()
        return (
            f"Concept Workbench {self.app_version} (process {self.pid} on {where}), open since "
            f"{self.acquired}, last seen {since:%Y-%m-%d %H:%M:%S}"
        )


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds); None when that cannot be known."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with accelerate
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return -1.0
        return proc.create_time()
    except psutil.Error:
        return -1.0


def _pid_alive(pid: int, started: float) -> bool | None:
    """Whether ``pid`` is the process that took the lock; None when this cannot be told."""
    now_started = _process_started(pid)
    if now_started is not None:
        return now_started >= 0 and (started <= 0 or abs(now_started - started) < 2.0)
    if os.name != "posix":  # pragma: no cover - Windows without psutil: trust the heartbeat
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(row: LockRecord, token: str) -> bool:
    if row.token == token:
        return False  # our own record (from an earlier open of this very object)
    fresh = time.time() - row.heartbeat < STALE_AFTER_S
    if row.host != socket.gethostname():
        return fresh
    if row.pid == os.getpid():
        return row.token in _LIVE_TOKENS
    alive = _pid_alive(row.pid, row.process_started)
    return fresh if alive is None else alive


def try_acquire(engine: Engine, token: str) -> Holder | None:
    """Take the lock for ``token``; return the live holder instead if there is one."""
    pid = os.getpid()
    with engine.begin() as conn:  # BEGIN IMMEDIATE: no one can slip in between read and write
        row = conn.execute(select(LockRecord)).first()
        if row is not None and _alive(row, token):  # type: ignore[arg-type]
            return Holder(row.pid, row.host, row.app_version, row.acquired, row.heartbeat)
        conn.execute(delete(LockRecord))
        conn.execute(
            insert(LockRecord).values(
                id=1,
                token=token,
                pid=pid,
                host=socket.gethostname(),
                process_started=_process_started(pid) or 0.0,
                app_version=__version__,
                acquired=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                heartbeat=time.time(),
            )
        )
    _LIVE_TOKENS.add(token)
    return None


def beat(engine: Engine, token: str) -> None:
    """Refresh the heartbeat of our lock record."""
    with engine.begin() as conn:
        conn.execute(
            update(LockRecord).where(LockRecord.token == token).values(heartbeat=time.time())
        )


def release(engine: Engine, token: str) -> None:
    """Remove our lock record (another's is left alone)."""
    _LIVE_TOKENS.discard(token)
    with engine.begin() as conn:
        conn.execute(delete(LockRecord).where(LockRecord.token == token))


class Heartbeat:
    """A daemon thread that refreshes the lock's heartbeat until stopped.

    It holds no reference to the project, so a project dropped without ``close()`` is still
    collected (its finalizer stops the heartbeat and releases the lock).
    """

    def __init__(self, engine: Engine, token: str, guard: threading.RLock) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(weakref.ref(engine), token, guard, self._stop),
            name="workbench-project-heartbeat",
            daemon=True,
        )
        self._thread.start()

    @staticmethod
    def _run(
        engine_ref: weakref.ref[Engine],
        token: str,
        guard: threading.RLock,
        stop: threading.Event,
    ) -> None:
        while not stop.wait(HEARTBEAT_S):
            engine = engine_ref()
            if engine is None:
                return
            try:
                with guard:
                    beat(engine, token)
            except Exception:  # noqa: BLE001 - a missed beat is harmless; the next one retries
                pass
            del engine

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def holder_of(path: str | os.PathLike[str]) -> Holder | None:
    """The live holder of the project at ``path``, if any (read without taking any lock)."""
    import sqlite3
    from types import SimpleNamespace
    from urllib.parse import quote

    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=2.0)
        try:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM project_lock").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # not a project, or no lock table: nobody holds it the way we do
    if row is None:
        return None
    rec = SimpleNamespace(**dict(row))
    if not _alive(rec, token=""):  # type: ignore[arg-type]
        return None
    return Holder(rec.pid, rec.host, rec.app_version, rec.acquired, rec.heartbeat)
