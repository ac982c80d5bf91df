"""Schema revisions of the project file, and upgrading an older file to the current one.

The Alembic scripts live in ``workbench/store/migrations`` and ship with the package. Opening a
file reads its revision without importing Alembic (it is only needed to upgrade or create):

* the current revision (:data:`HEAD`): open it;
* an older one listed in :data:`REVISIONS`: back the file up, then upgrade it in one transaction;
* anything else: a newer version wrote it; refuse with :class:`ProjectTooNewError`.

To add a revision (a developer's task)::

    python -m workbench.store.migrate new "add probes table"

then append its id to :data:`REVISIONS`, set :data:`HEAD`, and freeze a fixture file with
``python tests/store/make_fixture.py``.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from workbench import __version__
from workbench.store.errors import CorruptProjectError, NotAProjectError, ProjectTooNewError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
REVISIONS: tuple[str, ...] = ("0001", "0002")  # oldest first; each has a frozen test fixture
HEAD = REVISIONS[-1]


def alembic_config(connection: Connection | None = None) -> Any:
    """An Alembic ``Config`` on the shipped scripts, bound to ``connection``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def script_revisions() -> list[str]:
    """The revision ids of the shipped scripts, oldest first (what :data:`REVISIONS` must say)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


def stored_revision(conn: Connection) -> str | None:
    """The revision stamped in the file, or None when it has no ``alembic_version`` table."""
    has_table = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
    ).first()
    if not has_table:
        return None
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    if len(rows) != 1:
        raise CorruptProjectError(
            f"the file's schema revision is ambiguous ({[r[0] for r in rows]}); it was edited by "
            "another program. Open a backup copy if you have one."
        )
    return str(rows[0][0])


def check_file(engine: Engine, path: Path) -> str:
    """The file's schema revision, after checking that it is a project this version can read.

    Raises
    ------
    NotAProjectError
        Another program's SQLite database.
    CorruptProjectError
        A project file without a (single) revision stamp.
    ProjectTooNewError
        A revision this version does not know: a newer version wrote the file.
    """
    from workbench.store.db import APPLICATION_ID, application_id

    with engine.connect() as conn:
        app_id = application_id(conn)
        tables = [
            r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        revision = stored_revision(conn)
        written_by = None
        if "info" in tables:
            written_by = conn.exec_driver_sql(
                "SELECT value FROM info WHERE key='app_version'"
            ).scalar()
    if app_id != APPLICATION_ID:
        listed = ", ".join(sorted(tables)[:8]) or "no tables"
        raise NotAProjectError(
            f"{path} is an SQLite database, but not a Concept Workbench project (it has "
            f"{listed}). Choose a .wbproj file saved by Concept Workbench."
        )
    if revision is None:
        raise CorruptProjectError(
            f"{path} has no schema revision: it was not finished when it was created, or another "
            "program changed it. Open a backup copy if you have one."
        )
    if revision not in REVISIONS:
        by = f"Concept Workbench {written_by}" if written_by else "a newer Concept Workbench"
        raise ProjectTooNewError(
            f"{path.name} was saved by {by} with project schema {revision!r}; this version "
            f"({__version__}) reads schemas up to {HEAD!r}. Update Concept Workbench to "
            "open it. The file has not been changed."
        )
    return revision


def upgrade(engine: Engine, target: str = "head", *, created: bool = False) -> None:
    """Run the migrations up to ``target`` in one transaction (all or nothing).

    ``engine`` must have foreign keys off: batch migrations rebuild tables others refer to.
    The foreign keys are checked, and the app version that wrote the schema (and for a new file,
    when it was ``created``) is recorded, before the transaction commits.
    """
    from alembic import command

    stamp = {"app_version": __version__}
    if created:
        stamp["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), target)
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise CorruptProjectError(f"the upgrade left broken references: {broken[:5]}")
        for key, value in stamp.items():
            conn.exec_driver_sql(
                "INSERT OR REPLACE INTO info (key, value) VALUES (?, ?)", (key, value)
            )


def new_revision(message: str) -> Path:  # pragma: no cover - a developer's tool
    """Autogenerate the next revision script from the difference between the models and HEAD."""
    from alembic import command
    from sqlalchemy import create_engine

    rev_id = f"{len(script_revisions()) + 1:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/head.db")
        if script_revisions():
            upgrade(engine)
        with engine.begin() as conn:
            script = command.revision(
                alembic_config(conn), message, autogenerate=True, rev_id=rev_id
            )
        engine.dispose()
    return Path(script.path)  # type: ignore[union-attr]


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) == 3 and sys.argv[1] == "new":
        print(new_revision(sys.argv[2]))
    else:
        print(__doc__)
