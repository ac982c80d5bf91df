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
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from workbench.store.errors import CorruptProjectError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
REVISIONS: tuple[str, ...] = ("0001",)  # oldest first; each has a frozen test fixture
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


def upgrade(engine: Engine, target: str = "head") -> None:
    """Run the migrations up to ``target`` in one transaction (all or nothing).

    ``engine`` must have foreign keys off: batch migrations rebuild tables others refer to.
    The foreign keys are checked before the transaction commits.
    """
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), target)
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise CorruptProjectError(f"the upgrade left broken references: {broken[:5]}")


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
