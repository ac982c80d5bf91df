"""A project open in another instance opens read-only, saying who holds it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.store import Project, ReadOnlyProjectError
from workbench.store import lock as lock_module

HOLDER = textwrap.dedent(
    """
    import sys
    from workbench.store import Project
    project = Project.open(sys.argv[1])
    print("ready", project.read_only, flush=True)
    sys.stdin.readline()
    project.close()
    print("closed", flush=True)
    """
)


@pytest.fixture
def holder(project_path: Path) -> Iterator[subprocess.Popen]:
    """Another process with the project open for writing."""
    Project.create(project_path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(project_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().split() == ["ready", "False"]
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    proc.stdin.close()
    proc.stdout.close()


def test_open_elsewhere_opens_read_only(project_path: Path, holder: subprocess.Popen) -> None:
    with Project.open(project_path) as project:
        assert project.read_only
        reason = project.read_only_reason
        assert f"process {holder.pid} on this computer" in reason and "close it there" in reason
        with pytest.raises(ReadOnlyProjectError, match="read-only .*process"):
            project.add_note("x")
        assert project.notes() == []  # reading works
    holder.stdin.write("close\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "closed"
    with Project.open(project_path) as project:  # released on close
        assert not project.read_only
        project.add_note("mine now")


def test_crashed_holder_does_not_keep_the_lock(
    project_path: Path, holder: subprocess.Popen
) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    with Project.open(project_path) as project:
        assert not project.read_only
        project.add_note("taken over")


def test_same_process_second_open_is_read_only(project: Project) -> None:
    with Project.open(project.path) as second:
        assert second.read_only and f"process {os.getpid()}" in second.read_only_reason
    project.add_note("the first still writes")
    project.close()
    with Project.open(project.path) as third:
        assert not third.read_only


def test_dropped_project_releases_its_lock(project_path: Path) -> None:
    Project.create(project_path)  # never closed: the finalizer releases it
    import gc

    gc.collect()
    with Project.open(project_path) as project:
        assert not project.read_only


def set_lock(path: Path, **values: object) -> None:
    row = {
        "id": 1,
        "token": "someone-else",
        "pid": 1,
        "host": socket.gethostname(),
        "process_started": 0.0,
        "app_version": "0.1.0",
        "acquired": "2025-01-01T00:00:00+00:00",
        "heartbeat": time.time(),
    }
    row.update(values)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM project_lock")
        conn.execute(
            f"INSERT INTO project_lock ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )


@pytest.mark.parametrize(
    ("values", "locked"),
    [
        ({"host": "lab-workstation"}, True),  # another host, fresh heartbeat
        ({"host": "lab-workstation", "heartbeat": time.time() - 600}, False),  # gone quiet
        ({"pid": 2**22 + 12345}, False),  # same host, no such process
        ({"pid": os.getppid(), "process_started": 1.0}, False),  # pid reused by another process
    ],
    ids=["other-host-alive", "other-host-stale", "dead-pid", "reused-pid"],
)
def test_who_counts_as_alive(project_path: Path, values: dict, locked: bool) -> None:
    Project.create(project_path).close()
    set_lock(project_path, **values)
    with Project.open(project_path) as project:
        assert project.read_only == locked
        if locked:
            assert "lab-workstation" in project.read_only_reason


def test_heartbeat_advances(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    def heartbeat() -> float:
        with sqlite3.connect(project.path) as conn:
            return conn.execute("SELECT heartbeat FROM project_lock").fetchone()[0]

    first = heartbeat()
    time.sleep(0.01)
    project.checkpoint()  # also refreshes it
    assert heartbeat() > first
    monkeypatch.setattr(lock_module, "HEARTBEAT_S", 0.02)
    with Project.open(project.path.with_name("other.wbproj"), create=True) as other:
        with sqlite3.connect(other.path) as conn:
            start = conn.execute("SELECT heartbeat FROM project_lock").fetchone()[0]
        deadline = time.time() + 10
        while time.time() < deadline:
            with sqlite3.connect(other.path) as conn:
                if conn.execute("SELECT heartbeat FROM project_lock").fetchone()[0] > start:
                    break
            time.sleep(0.02)
        else:
            pytest.fail("the heartbeat thread did not refresh the lock")
