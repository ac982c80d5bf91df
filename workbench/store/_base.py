"""What every part of :class:`~workbench.store.project.Project` shares: the unit of work.

Each public change is one short ``with self._write(action) as session:`` block, which commits on
success (so the file is always up to date: there is no separate "save") and rolls back on any
error, turning SQLite's errors into :class:`~workbench.errors.ProjectFileError` s that name the
change that was lost. Writers in several threads take turns through ``_guard``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from workbench.errors import ProjectFileError, WorkbenchError
from workbench.store.errors import CorruptProjectError, ReadOnlyProjectError, translate


def now() -> str:
    """The current UTC time as ISO 8601 text (what every ``created`` column holds)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class StoreBase:
    """Engine, session factory, read-only state and the unit-of-work helpers."""

    path: Path
    read_only: bool
    read_only_reason: str | None
    _engine: Engine
    _sessions: sessionmaker[Session]
    _guard: threading.RLock
    _closed: bool

    def _bind(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._guard = threading.RLock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise ProjectFileError(f"The project {self.path.name} is closed; open it again.")

    @contextmanager
    def _write(self, action: str) -> Iterator[Session]:
        """A session in a write transaction that commits when the block ends without error."""
        if self.read_only:
            raise ReadOnlyProjectError(
                f"{self.path.name} is open read-only ({self.read_only_reason}), so {action} was "
                "refused. Use Save As to keep your work in a new file."
            )
        with self._guard, self._translated(action):
            self._check_open()  # under the guard: close() may have run while we waited
            with self._sessions() as session, session.begin():
                yield session

    @contextmanager
    def _read(self, action: str) -> Iterator[Session]:
        """A session in a read transaction (one consistent snapshot of the file)."""
        self._check_open()
        with self._translated(action), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except WorkbenchError:
            raise
        except sa_exc.StatementError as exc:
            if isinstance(exc.orig, WorkbenchError):  # e.g. a value that is not JSON
                raise exc.orig from None
            raise translate(exc, self.path, action) from exc
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc, self.path, action) from exc
        except json.JSONDecodeError as exc:  # a JSON column edited or damaged outside the app
            raise CorruptProjectError(
                f"{self.path.name} holds a damaged record: a stored JSON value is not valid JSON "
                f"({exc.msg}), found while {action}. The other records are intact; delete that "
                "record, or restore the project from a copy."
            ) from exc
