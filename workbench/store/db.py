"""The SQLite file underneath a project: checking it, connecting to it, copying it.

A project is one self-contained file: a rollback journal (never WAL, whose ``-wal``/``-shm`` side
files would have to travel with it), ``synchronous=FULL`` so a committed change survives a crash
or power cut, 4 KiB pages (measured: a 16 KiB vector costs 3 % overhead, against 35 % with 64 KiB
pages) and ``auto_vacuum=INCREMENTAL`` so deleted vectors can be given back to the disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event

from workbench.errors import ProjectFileError, WorkbenchError
from workbench.store.errors import CorruptProjectError, NotAProjectError

APPLICATION_ID = 0x57424E43  # "WBNC" at offset 68 of the header marks our files
PAGE_SIZE = 4096
BUSY_TIMEOUT_S = 10.0
SQLITE_MAGIC = b"SQLite format 3\x00"


class NotJSONError(WorkbenchError, TypeError):
    """A value that was to be stored as JSON is not JSON (a tensor, an object...)."""


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays are common in results; store them as plain numbers and lists.
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":
        return value.tolist()
    raise NotJSONError(
        f"a {type(value).__module__}.{type(value).__qualname__} cannot be stored as JSON; "
        "store numbers, strings, lists and dicts (pass tensors separately, e.g. add_run(tensors=))"
    )


def dumps(value: Any) -> str:
    """JSON text for ``value`` (numpy numbers become plain numbers; NaN is kept)."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + "-journal")


def sniff(path: Path) -> None:
    """Raise a clear error unless ``path`` looks like a whole SQLite file.

    Checks the 16-byte magic and, when no crashed transaction is waiting to be rolled back,
    that the file is as long as its header says (a truncated copy is the commonest damage).
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            header = f.read(100)
    except IsADirectoryError:
        raise NotAProjectError(f"{path} is a folder, not a project file.") from None
    except OSError as exc:
        raise ProjectFileError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    if size == 0:
        raise NotAProjectError(
            f"{path} is empty (0 bytes), so it is not a Concept Workbench project. "
            "It may have been cut off while copying; look for the original."
        )
    if not header.startswith(SQLITE_MAGIC):
        start = header[:24].decode("utf-8", "replace").strip()
        raise NotAProjectError(
            f"{path} is not a Concept Workbench project: it is not an SQLite database "
            f"(it starts with {start!r}). Choose a .wbproj file saved by Concept Workbench."
        )
    if len(header) < 100:
        raise CorruptProjectError(f"{path} is truncated ({size} bytes): its header is incomplete.")
    if journal_path(path).exists():
        return  # a hot journal: SQLite rolls it back on first read and restores the length
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    change, n_pages = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])
    if n_pages and change == valid_for and size < n_pages * page_size:
        raise CorruptProjectError(
            f"{path} is truncated: it holds {size:,} of its {n_pages * page_size:,} bytes, so "
            "part of the project is missing. It was probably cut off while copying or mailing; "
            "copy it again from the original."
        )


def make_engine(path: Path, *, read_only: bool, foreign_keys: bool = True) -> Engine:
    """An engine on ``path`` with the project's pragmas on every connection.

    Parameters
    ----------
    path
        The project file (must exist).
    read_only
        Refuse writes (``PRAGMA query_only``); when the file itself cannot be written the
        connection is opened with ``mode=ro``.
    foreign_keys
        Off only for migrations, which rebuild tables that others refer to.
    """
    file_writable = os.access(path, os.W_OK)
    mode = "rw" if file_writable else "ro"
    uri = f"file:{quote(str(path))}?mode={mode}"

    def connect() -> sqlite3.Connection:
        # isolation_level=None: the driver leaves transactions to us (see the "begin" hook).
        return sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )

    engine = create_engine(
        "sqlite+pysqlite://", creator=connect, json_serializer=dumps, json_deserializer=json.loads
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if mode == "rw":
            cur.execute("PRAGMA journal_mode=DELETE")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        if read_only:
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking.
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def new_file(path: Path) -> None:
    """Create an empty database file with the project's page size, vacuum mode and id."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    finally:
        conn.close()


def application_id(conn: Any) -> int:
    return int(conn.exec_driver_sql("PRAGMA application_id").scalar() or 0)


def backup(source: sqlite3.Connection, target: Path) -> None:
    """Copy the database behind ``source`` into a new file ``target`` (a consistent snapshot).

    sqlite3's online backup copies the pages under a read lock, so the copy is consistent even
    while this or another process has the project open. The copy carries no lock record: it is
    not open anywhere. It is flushed to the disk before this returns.
    """
    dest = sqlite3.connect(str(target), isolation_level=None)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")
        if dest.execute("SELECT 1 FROM sqlite_master WHERE name='project_lock'").fetchone():
            dest.execute("DELETE FROM project_lock")
    finally:
        dest.close()
    fsync_file(target)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    """Delete ``path`` and any journal beside it (a temporary file that did not work out)."""
    for p in (path, journal_path(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def backup_name(path: Path, revision: str) -> Path:
    """A free name beside ``path`` for its copy before an upgrade from ``revision``."""
    candidate = path.with_name(f"{path.stem}.before-upgrade-{revision}{path.suffix}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.before-upgrade-{revision}-{n}{path.suffix}")
        n += 1
    return candidate


def compact(engine: Engine, min_fraction: float = 0.1) -> None:
    """Give free pages (left by deleted records) back to the disk when they are many."""
    # On the driver's connection, outside a transaction: the pragma frees one page per step
    # and has no result columns, so only a script steps it to the end.
    raw = engine.raw_connection()
    try:
        free = raw.execute("PRAGMA freelist_count").fetchone()[0] or 0
        total = raw.execute("PRAGMA page_count").fetchone()[0] or 1
        if free and free >= min_fraction * total:
            raw.executescript("PRAGMA incremental_vacuum;")  # type: ignore[attr-defined]
    finally:
        raw.close()


# ------------------------------------------------------------- leftovers of a killed save
TEMP_SUFFIXES = (".saving", ".creating")
OLD_LEFTOVER_S = 600.0  # a temporary without a process id is a leftover after 10 minutes


def temp_name(path: Path, suffix: str) -> Path:
    """``.{name}.{pid}-{random}{suffix}`` beside ``path``: where a copy or a new project is
    built before it is renamed into place. The process id tells a later cleanup whether the
    process that wrote it is still alive."""
    import uuid

    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the temporaries that a killed Save As or create left in ``path``'s folder (hidden
    ``.{name}.{pid}-{random}.saving`` / ``.creating`` files of any project there, and their
    journals); return what was removed.

    A Save As that was killed leaves its temporary beside a target that never came to be, so
    every project's leftovers in the folder go, not only ``path``'s. A temporary whose process
    is still alive is left alone (it may be a save in progress in another window); one without
    a process id (written by older versions) only once it is 10 minutes old. Never raises: a
    file that cannot be removed stays.
    """
    import re
    import time

    from workbench.store.lock import _pid_alive

    removed: list[Path] = []
    suffixes = "|".join(re.escape(s) for s in TEMP_SUFFIXES)
    pattern = re.compile(rf"^\..+\.(?:(\d+)-)?[0-9a-f]{{8}}(?:{suffixes})$")
    try:
        candidates = [p for s in TEMP_SUFFIXES for p in path.parent.glob(f".*{s}")]
    except OSError:
        return removed
    for p in candidates:
        m = pattern.match(p.name)
        if m is None or not p.is_file():
            continue
        pid = m.group(1)
        try:
            if pid is not None:
                if int(pid) == os.getpid() or _pid_alive(int(pid), 0.0) is not False:
                    continue
            elif time.time() - p.stat().st_mtime < OLD_LEFTOVER_S:
                continue
            remove(p)
            removed.append(p)
        except OSError:
            continue
    return removed
