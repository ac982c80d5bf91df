"""A project: one ``.wbproj`` file holding a researcher's whole work.

>>> from workbench import Project
>>> with Project.open("study.wbproj") as project:          # doctest: +SKIP
...     for info in project.concept_infos():
...         print(info.name, info.method, info.sites)
...     happy = project.load_concept("happy")               # tensors, bit-exact
...     scores = project.load_run(project.runs("head_scores")[0].id)

Every ``add_*``, ``save_*``, ``set_*``, ``rename_*`` and ``delete_*`` is one committed change
(a unit of work), so the file on disk is always up to date and a crash loses at most the change
in flight. There is no unsaved state in this object.

Opening checks, in order: that the file is a whole SQLite file and one of ours; that its schema
revision is known (a newer one is refused); whether another live instance has it open (then it
opens read-only and :attr:`Project.read_only_reason` says who); and, for an older revision, backs
the file up next to itself and upgrades it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from workbench.errors import ProjectFileError
from workbench.store import db, lock, migrate
from workbench.store._concepts import ConceptStore
from workbench.store._listing import ListingStore
from workbench.store._records import RecordStore
from workbench.store.errors import (
    DiskFullError,
    ReadOnlyProjectError,
    UpgradeNeededError,
    translate,
)

SUFFIX = ".wbproj"


def _abs(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().absolute()


def _writable_location(path: Path) -> bool:
    """Whether the file (if it exists) and its folder can be written: the rollback journal is
    created beside the file, so a read-only folder makes every change fail."""
    file_ok = not path.exists() or os.access(path, os.W_OK)
    return file_ok and os.access(path.parent, os.W_OK)


def _shutdown(engine: Engine, token: str | None, heartbeat: lock.Heartbeat | None) -> None:
    """Stop the heartbeat, give space back, release the lock, close the connections.

    Runs on :meth:`Project.close`, when a project is garbage-collected, or at interpreter exit.
    """
    if heartbeat is not None:
        heartbeat.stop()
    if token is not None:
        with contextlib.suppress(Exception):  # at exit a failure must not mask the real error
            db.compact(engine)
        with contextlib.suppress(Exception):
            lock.release(engine, token)
    engine.dispose()


class Project(ListingStore, ConceptStore, RecordStore):
    """An open project file. Make one with :meth:`open` or :meth:`create`.

    Attributes
    ----------
    path : Path
        The file.
    read_only : bool
        Changes are refused (with :class:`~workbench.store.errors.ReadOnlyProjectError`).
    read_only_reason : str or None
        Why, in words: asked for, open in another instance (who), or an unwritable location.
    schema_revision : str
        The file's schema revision (after any upgrade).
    upgraded_from : str or None
        The revision the file had before this open upgraded it.
    backup_path : Path or None
        The copy made before that upgrade.
    """

    def __init__(
        self,
        path: Path,
        engine: Engine,
        *,
        read_only_reason: str | None,
        revision: str,
        token: str | None,
        upgraded_from: str | None = None,
        backup_path: Path | None = None,
    ) -> None:
        self.path = path
        self.read_only = read_only_reason is not None
        self.read_only_reason = read_only_reason
        self.schema_revision = revision
        self.upgraded_from = upgraded_from
        self.backup_path = backup_path
        self._bind(engine)
        self._token = token
        heartbeat = lock.Heartbeat(engine, token, self._guard) if token else None
        self._finalizer = weakref.finalize(self, _shutdown, engine, token, heartbeat)

    # --------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, create: bool = False, read_only: bool = False
    ) -> Project:
        """Open a project file.

        Parameters
        ----------
        path
            A ``.wbproj`` file.
        create
            Make a new, empty project when there is no file at ``path``.
        read_only
            Open without the right to change it (and without locking it for others).

        Raises
        ------
        ProjectFileError
            Missing, not a project (:class:`NotAProjectError`), damaged
            (:class:`CorruptProjectError`), written by a newer version
            (:class:`ProjectTooNewError`); each message says what to do.
        """
        path = _abs(path)
        if not path.exists():
            if create and not read_only:
                return cls.create(path)
            raise ProjectFileError(
                f"There is no project at {path}. Check the name and folder, or create a new project."
            )
        db.sniff(path)
        return cls._open(path, read_only)

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Project:
        """Create a new, empty project at ``path`` (refused if a file is there) and open it."""
        path = _abs(path)
        if path.exists():
            raise ProjectFileError(f"{path} already exists: open it, or choose another name.")
        if not path.parent.is_dir():
            raise ProjectFileError(
                f"Cannot create {path.name}: the folder {path.parent} does not exist."
            )
        if not _writable_location(path):
            raise ReadOnlyProjectError(
                f"Cannot create {path.name}: you cannot write to {path.parent}. Choose another folder."
            )
        # Built under a temporary name, so a failure never leaves a half-made project behind.
        tmp = db.temp_name(path, ".creating")
        try:
            db.new_file(tmp)
            engine = db.make_engine(tmp, read_only=False, foreign_keys=False)
            try:
                migrate.upgrade(engine, created=True)
            finally:
                engine.dispose()
            if path.exists():
                raise ProjectFileError(f"{path} appeared while it was being created; not replaced.")
            os.replace(tmp, path)
        except (sa_exc.DBAPIError, sqlite3.Error, OSError) as exc:
            raise translate(exc, path, "creating the project") from exc
        finally:
            db.remove(tmp)
        return cls._open(path, read_only=False)

    @classmethod
    def _open(cls, path: Path, read_only: bool) -> Project:
        reason = "opened read-only, as asked" if read_only else None
        if reason is None and not _writable_location(path):
            reason = f"you cannot write to {path.parent}; use Save As to keep changes elsewhere"
        if reason is None:
            db.remove_leftovers(path)  # hidden temporaries of a Save As that was killed
        engine = db.make_engine(path, read_only=reason is not None)
        token: str | None = None
        try:
            try:
                revision = migrate.check_file(engine, path)
            except (sa_exc.DBAPIError, sqlite3.Error) as exc:
                raise translate(exc, path, "opening it") from exc
            if reason is None:
                token, reason = cls._take_lock(engine, path)
                if token is None:
                    engine.dispose()
                    engine = db.make_engine(path, read_only=True)
            upgraded_from = backup = None
            if revision != migrate.HEAD:
                if token is None:
                    raise UpgradeNeededError(
                        f"{path.name} was saved by an older Concept Workbench (schema {revision!r}) "
                        f"and must be upgraded to schema {migrate.HEAD!r} before it can be read, but "
                        f"it cannot be changed now ({reason}). Open it for writing (a backup is kept; "
                        f"from the command line: workbench project upgrade {path}), or open a copy."
                    )
                backup = cls._upgrade(engine, path, revision)
                upgraded_from, revision = revision, migrate.HEAD
        except BaseException:
            if token is not None:
                with contextlib.suppress(Exception):
                    lock.release(engine, token)
            engine.dispose()
            raise
        return cls(
            path,
            engine,
            read_only_reason=reason,
            revision=revision,
            token=token,
            upgraded_from=upgraded_from,
            backup_path=backup,
        )

    @staticmethod
    def _take_lock(engine: Engine, path: Path) -> tuple[str | None, str | None]:
        """``(token, None)`` when we hold the lock, else ``(None, why we are read-only)``."""
        token = uuid.uuid4().hex
        try:
            holder = lock.try_acquire(engine, token)
        except (sa_exc.DBAPIError, sqlite3.Error, OSError) as exc:
            err = translate(exc, path, "opening it for writing")
            if isinstance(err, DiskFullError):
                return None, "the disk is full; free some space and open it again to make changes"
            if isinstance(err, ReadOnlyProjectError):
                return (
                    None,
                    f"you cannot write to it or to {path.parent}; use Save As to keep changes",
                )
            raise err from exc
        if holder is not None:
            return None, f"it is open in {holder.describe()}; close it there to make changes here"
        return token, None

    @staticmethod
    def _upgrade(engine: Engine, path: Path, revision: str) -> Path:
        """Back ``path`` up next to itself, then upgrade it to HEAD in one transaction."""
        backup = db.backup_name(path, revision)
        try:
            with engine.connect() as conn:
                db.backup(conn.connection.dbapi_connection, backup)  # type: ignore[arg-type]
        except (sa_exc.DBAPIError, sqlite3.Error, OSError) as exc:
            db.remove(backup)
            err = translate(exc, backup, f"backing up {path.name} before upgrading it")
            raise type(err)(f"{err} The project was not upgraded and is unchanged.") from exc
        migration = db.make_engine(path, read_only=False, foreign_keys=False)
        try:
            migrate.upgrade(migration)
        except Exception as exc:
            raise ProjectFileError(
                f"Upgrading {path.name} from schema {revision!r} to {migrate.HEAD!r} failed ({exc}); "
                f"the file is unchanged, and a copy is at {backup}."
            ) from exc
        finally:
            migration.dispose()
        return backup

    # --------------------------------------------------------------- closing
    def close(self) -> None:
        """Release the lock and the file. Safe to call twice; the project is unusable after."""
        with self._guard:
            self._closed = True
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("read-only" if self.read_only else "open")
        return f"<Project {str(self.path)!r} {state}, schema {self.schema_revision}>"

    # ------------------------------------------------------- saving, copying
    def checkpoint(self) -> None:
        """Make sure everything is on disk. Every change already commits (with a full sync)
        when it is made, so this only refreshes the "still open here" heartbeat."""
        self._check_open()
        if self._token is not None:
            with self._guard, self._translated("saving"):
                lock.beat(self._engine, self._token)

    save = checkpoint

    def compact(self) -> None:
        """Give the space of deleted records back to the disk (also done on close)."""
        if self._token is not None:
            with self._guard, self._translated("compacting"):
                db.compact(self._engine, min_fraction=0.0)

    def copy_to(self, target: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write a consistent copy of the project to ``target``; this project stays open here.

        The copy is made with SQLite's online backup under a read lock, written to a temporary
        file beside ``target`` and renamed over it only when complete, so a full disk or a crash
        leaves both the project and any old ``target`` as they were.
        """
        self._check_open()
        target = _abs(target)
        if target == self.path:
            raise ProjectFileError(f"{target.name} is this project itself; choose another name.")
        if target.exists():
            if not overwrite:
                raise ProjectFileError(f"{target} already exists; choose another name.")
            holder = lock.holder_of(target)
            if holder is not None:
                raise ProjectFileError(
                    f"{target.name} is open in {holder.describe()}; close it there, or choose "
                    "another name."
                )
        db.remove_leftovers(target)  # what a killed Save As to the same name left behind
        tmp = db.temp_name(target, ".saving")
        try:
            with self._guard, self._engine.connect() as conn:
                db.backup(conn.connection.dbapi_connection, tmp)  # type: ignore[arg-type]
            os.replace(tmp, target)
        except (sa_exc.DBAPIError, sqlite3.Error, OSError) as exc:
            raise translate(exc, target, f"saving a copy of {self.path.name}") from exc
        finally:
            db.remove(tmp)
        return target

    def save_as(self, target: str | os.PathLike[str], *, overwrite: bool = False) -> Project:
        """Copy the project to ``target`` and continue there, as a desktop Save As does.

        Returns the project opened at ``target``; **this** project is closed (its file stays as it
        was). Use :meth:`copy_to` to write a copy and keep working here.
        """
        self.copy_to(target, overwrite=overwrite)
        new = Project.open(target)
        self.close()
        return new
