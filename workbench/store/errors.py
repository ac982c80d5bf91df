"""Errors of the project store, and the translation of SQLite's errors into words a user can act on.

Every error here is a :class:`~workbench.errors.WorkbenchError`; the ones about the file itself
are :class:`~workbench.errors.ProjectFileError`. Their text says what was found and what to do.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from workbench.errors import ProjectFileError, WorkbenchError


class NotAProjectError(ProjectFileError):
    """The file is not a Concept Workbench project (not SQLite, or another program's database)."""


class CorruptProjectError(ProjectFileError):
    """The file is a project but damaged: truncated, malformed pages, a checksum mismatch."""


class ProjectTooNewError(ProjectFileError):
    """The file was written by a newer version whose schema this version does not know."""


class UpgradeNeededError(ProjectFileError):
    """An older schema that must be upgraded before it can be read, asked for read-only."""


class ReadOnlyProjectError(ProjectFileError):
    """A change was asked of a project that is open read-only."""


class DiskFullError(ProjectFileError):
    """The disk (or the file's size limit) is full; the change was rolled back."""


class RecordNotFoundError(WorkbenchError, KeyError):
    """No concept, prompt set, run, figure or note of that name or id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NameTakenError(WorkbenchError):
    """A record of that name exists and the caller asked not to replace it."""


def _error_name(exc: BaseException) -> str:
    return getattr(exc, "sqlite_errorname", "") or ""


def sqlite_cause(exc: BaseException) -> BaseException:
    """The ``sqlite3`` error behind a SQLAlchemy error (or ``exc`` itself)."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, sqlite3.Error) else exc


def translate(exc: BaseException, path: Path, action: str) -> ProjectFileError:
    """Turn a ``sqlite3``/SQLAlchemy error met while doing ``action`` into a clear error.

    Parameters
    ----------
    exc
        The error raised by SQLite (directly or wrapped by SQLAlchemy).
    path
        The project file.
    action
        What was being done, in words: ``"saving concept 'happy'"``.

    Returns
    -------
    ProjectFileError
        A subclass that says what happened and what to do; raise it ``from exc``.
    """
    cause = sqlite_cause(exc)
    name = _error_name(cause)
    text = str(cause).lower()
    code = getattr(cause, "errno", None) if isinstance(cause, OSError) else None
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        name = "SQLITE_READONLY"
    if name.startswith("SQLITE_FULL") or "disk is full" in text or code == errno.ENOSPC:
        return DiskFullError(
            f"The disk holding {path} is full, so {action} failed; everything saved before "
            "is intact. Free some space and try again, or use Save As to keep the project "
            "somewhere else."
        )
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return ReadOnlyProjectError(
            f"{path} cannot be written (a read-only file, folder or disk), so {action} "
            "failed. Use Save As to keep the project in a folder you can write to."
        )
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text:
        return CorruptProjectError(
            f"{path} is damaged ({cause}); found while {action}. Open a backup copy if you "
            "have one (files named '*.before-upgrade-*.wbproj' sit next to upgraded projects)."
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return ProjectFileError(
            f"{path} is busy: another program is writing to it, so {action} failed. "
            "Try again in a moment, or close the other program."
        )
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM")):
        return ProjectFileError(
            f"{path} could not be read or written ({cause}), so {action} failed. Check that the "
            "disk is attached and the file is yours, or use Save As to keep a copy elsewhere."
        )
    return ProjectFileError(f"{action[:1].upper()}{action[1:]} failed in {path}: {cause}")
