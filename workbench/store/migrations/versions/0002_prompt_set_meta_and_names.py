"""Prompt-set metadata gets its own column; ``kind`` is split where it meant different things.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 03:10:00

* ``prompt_sets.meta`` (JSON, ``{}`` by default): the poles, demonstration template and
  separator and description of a set. Revision 0001 kept them on the first item under
  ``_meta``; they are moved out of it here, so ``items`` holds prompts only.
* ``runs.kind`` becomes ``runs.analysis`` (``"head_scores"``, ``"sweep"``...) and
  ``generations.kind`` becomes ``generations.medium`` (``"text"`` or ``"image"``): three
  different things were all called ``kind`` (a prompt set keeps it: its shape).

The frozen fixture is ``tests/store/fixtures/rev_0002.wbproj``; ``rev_0001.wbproj`` must
upgrade to it with every record intact (``tests/store/test_migrations.py``).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _move_meta_out_of_items(conn: sa.Connection) -> None:
    rows = conn.exec_driver_sql("SELECT id, items FROM prompt_sets").all()
    for set_id, raw in rows:
        items = json.loads(raw) if isinstance(raw, str) else raw
        if not items or not isinstance(items[0], dict) or "_meta" not in items[0]:
            continue
        first = dict(items[0])
        meta = first.pop("_meta")
        items = [first, *items[1:]]
        conn.exec_driver_sql(
            "UPDATE prompt_sets SET items = ?, meta = ? WHERE id = ?",
            (json.dumps(items), json.dumps(meta if isinstance(meta, dict) else {}), set_id),
        )


def _put_meta_back_into_items(conn: sa.Connection) -> None:
    rows = conn.exec_driver_sql("SELECT id, items, meta FROM prompt_sets").all()
    for set_id, raw_items, raw_meta in rows:
        items = json.loads(raw_items) if isinstance(raw_items, str) else raw_items
        meta = json.loads(raw_meta) if isinstance(raw_meta, str) else raw_meta
        if not meta or not items:
            continue
        items = [{**items[0], "_meta": meta}, *items[1:]]
        conn.exec_driver_sql(
            "UPDATE prompt_sets SET items = ? WHERE id = ?", (json.dumps(items), set_id)
        )


def upgrade() -> None:
    with op.batch_alter_table("prompt_sets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meta", sa.JSON(), nullable=False, server_default="{}"))
    _move_meta_out_of_items(op.get_bind())
    with op.batch_alter_table("prompt_sets", schema=None) as batch_op:
        batch_op.alter_column("meta", server_default=None)

    _rename_indexed("runs", "kind", "analysis", sa.String(64))
    _rename_indexed("generations", "kind", "medium", sa.String(32))


def _rename_indexed(table: str, old: str, new: str, type_: sa.types.TypeEngine[str]) -> None:
    """Rename column ``old`` of ``table`` to ``new``, with its index (``ix_<table>_<column>``)."""
    op.drop_index(op.f(f"ix_{table}_{old}"), table_name=table)
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(
            old, new_column_name=new, existing_type=type_, existing_nullable=False
        )
    op.create_index(op.f(f"ix_{table}_{new}"), table, [new], unique=False)


def downgrade() -> None:
    _rename_indexed("generations", "medium", "kind", sa.String(32))
    _rename_indexed("runs", "analysis", "kind", sa.String(64))
    _put_meta_back_into_items(op.get_bind())
    with op.batch_alter_table("prompt_sets", schema=None) as batch_op:
        batch_op.drop_column("meta")
