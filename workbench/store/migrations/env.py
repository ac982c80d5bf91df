"""Alembic environment for project files: always run through :mod:`workbench.store.migrate`.

The caller hands over an open connection (``config.attributes["connection"]``) inside its own
transaction, so an upgrade is all or nothing. ``render_as_batch`` because SQLite can ALTER little:
batch mode rebuilds a table under a new name and copies the rows across.
"""

from __future__ import annotations

from alembic import context

from workbench.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "project migrations run on an open connection; use workbench.store.migrate, "
        "not the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
