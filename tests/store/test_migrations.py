"""Schema revisions: frozen fixture files open, upgrade with a backup, and match the models."""

from __future__ import annotations

import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest
from make_fixture import reference_records
from store_helpers import check_reference

from workbench.errors import ProjectFileError
from workbench.store import Project, migrate
from workbench.store.db import make_engine, new_file
from workbench.store.schema import Base

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("rev_*.wbproj"))


def dump(path: Path, skip: tuple[str, ...] = ("project_lock",)) -> list[str]:
    """The file's content as SQL text, without the tables in ``skip``."""
    with sqlite3.connect(path) as conn:
        return [line for line in conn.iterdump() if not any(f'"{t}"' in line for t in skip)]


def test_every_revision_has_a_frozen_fixture() -> None:
    assert list(migrate.REVISIONS) == migrate.script_revisions()
    assert migrate.REVISIONS[-1] == migrate.HEAD
    assert [p.name for p in FIXTURE_FILES] == [f"rev_{r}.wbproj" for r in migrate.REVISIONS]


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    path = tmp_path / "fresh.db"
    new_file(path)
    engine = make_engine(path, read_only=False, foreign_keys=False)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_opens_upgrades_and_holds_its_records(fixture: Path, tmp_path: Path) -> None:
    revision = fixture.stem.removeprefix("rev_")
    path = tmp_path / fixture.name
    shutil.copyfile(fixture, path)
    before = dump(path)
    with Project.open(path) as project:
        assert project.schema_revision == migrate.HEAD
        if revision == migrate.HEAD:
            assert project.upgraded_from is None and project.backup_path is None
        else:
            assert project.upgraded_from == revision
            assert dump(project.backup_path) == before
        check_reference(project, reference_records(revision))
        # its model is not on this machine, and everything stored is there all the same
        assert project.model_records()[0].path_exists is False


# A pretend next revision: the upgrade machinery is tested before a real one exists.
NEXT_REVISION = textwrap.dedent(
    '''
    """Add a colour to concepts (test only)."""
    import sqlalchemy as sa
    from alembic import op

    revision = "{rev}"
    down_revision = "{down}"
    branch_labels = None
    depends_on = None


    def upgrade():
        with op.batch_alter_table("concepts") as batch_op:  # rebuilds a referenced table
            batch_op.add_column(
                sa.Column("colour", sa.String(16), nullable=False, server_default="grey")
            )
        {fail}


    def downgrade():
        with op.batch_alter_table("concepts") as batch_op:
            batch_op.drop_column("colour")
    '''
)


@pytest.fixture
def next_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a pretend revision after HEAD; returns a function to write its script."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    rev = f"{len(migrate.REVISIONS) + 1:04d}"
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    monkeypatch.setattr(migrate, "REVISIONS", (*migrate.REVISIONS, rev))
    monkeypatch.setattr(migrate, "HEAD", rev)

    def write(fail: bool = False) -> str:
        text = NEXT_REVISION.format(
            rev=rev,
            down=migrate.REVISIONS[-2],
            fail='raise RuntimeError("boom")' if fail else "pass",
        )
        (scripts / "versions" / f"{rev}_colour.py").write_text(text)
        return rev

    return write


def test_older_file_is_backed_up_then_upgraded(tmp_path: Path, next_revision) -> None:
    old = migrate.REVISIONS[-2]
    new = next_revision()
    path = tmp_path / "old.wbproj"
    shutil.copyfile(FIXTURES / f"rev_{old}.wbproj", path)
    before = dump(path)
    with Project.open(path) as project:
        assert (project.upgraded_from, project.schema_revision) == (old, new)
        assert project.backup_path == tmp_path / f"old.before-upgrade-{old}.wbproj"
        check_reference(project, reference_records(old))  # every record survived the rebuild
        project.add_note("written after the upgrade")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == new
        assert {r[0] for r in conn.execute("SELECT colour FROM concepts")} == {"grey"}
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    backup = tmp_path / f"old.before-upgrade-{old}.wbproj"
    assert dump(backup) == before  # the backup is the file as it was
    with Project.open(path) as project:  # upgraded once only
        assert project.upgraded_from is None
    assert sorted(p.name for p in tmp_path.glob("*.wbproj")) == [backup.name, path.name]


def test_failed_upgrade_leaves_the_file_as_it_was(tmp_path: Path, next_revision) -> None:
    old = migrate.REVISIONS[-2]
    next_revision(fail=True)
    path = tmp_path / "old.wbproj"
    shutil.copyfile(FIXTURES / f"rev_{old}.wbproj", path)
    before = dump(path)
    with pytest.raises(ProjectFileError, match="failed .*boom.*unchanged, and a copy is at"):
        Project.open(path)
    assert dump(path) == before
    with sqlite3.connect(path) as conn:  # and the failed attempt left no lock behind
        assert conn.execute("SELECT count(*) FROM project_lock").fetchone()[0] == 0


def test_older_file_opened_read_only_is_not_upgraded(tmp_path: Path, next_revision) -> None:
    old = migrate.REVISIONS[-2]
    next_revision()
    path = tmp_path / "old.wbproj"
    shutil.copyfile(FIXTURES / f"rev_{old}.wbproj", path)
    before = path.read_bytes()
    with pytest.raises(ProjectFileError, match="must be upgraded.*Open it for writing"):
        Project.open(path, read_only=True)
    assert path.read_bytes() == before


def test_0002_moves_prompt_set_meta_out_of_the_first_item(tmp_path: Path) -> None:
    """Revision 0001 kept a set's poles and template under ``items[0]["_meta"]``; 0002 moves
    them into the ``meta`` column and leaves the prompts exactly as they were."""
    import json

    path = tmp_path / "old.wbproj"
    shutil.copyfile(FIXTURES / "rev_0001.wbproj", path)
    meta = {"poles": ["q", "a"], "template": "Q: {input}\nA: {output}", "separator": "\n"}
    items = [
        {"input": "France", "output": "Paris", "_meta": meta},
        {"input": "Peru", "output": "Lima"},
    ]
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO prompt_sets (name, kind, items, source, created, updated) "
            "VALUES ('capitals', 'demonstrations', ?, 'typed', 't0', 't1')",
            (json.dumps(items),),
        )
    with Project.open(path) as project:
        assert project.upgraded_from == "0001"
        stored = project.prompt_set("capitals")
        assert stored.meta == meta
        assert list(stored.items) == [{"input": "France", "output": "Paris"}, items[1]]
        assert (stored.created, stored.updated, stored.source) == ("t0", "t1", "typed")
        ps = project.load_prompt_set("capitals")
        assert (ps.template, ps.separator, ps.poles) == (meta["template"], "\n", ("q", "a"))
        assert ps.inputs == ["France", "Peru"] and ps.outputs == ["Paris", "Lima"]
        # the fixture's own set had no metadata: an empty dict, its items untouched
        assert project.prompt_set("formality").meta == {}
    with sqlite3.connect(path) as conn:
        kinds = conn.execute("SELECT analysis FROM runs").fetchall()
        media = conn.execute("SELECT medium FROM generations ORDER BY id").fetchall()
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert kinds == [("head_scores",)] and media == [("text",), ("image",)]
    assert {"ix_runs_analysis", "ix_generations_medium"} <= indexes
    assert not {"ix_runs_kind", "ix_generations_kind"} & indexes


def test_0002_downgrades_to_what_0001_held(tmp_path: Path) -> None:
    """Down and up again: 0002's downgrade puts the metadata back where 0001 kept it."""
    from alembic import command

    path = tmp_path / "old.wbproj"
    shutil.copyfile(FIXTURES / "rev_0001.wbproj", path)
    import re

    def content() -> list[str]:  # a rebuilt table's name comes back quoted: same table
        lines = dump(path, skip=("project_lock", "info", "alembic_version"))
        return sorted(re.sub(r'^CREATE TABLE "(\w+)"', r"CREATE TABLE \1", x) for x in lines)

    before = content()
    engine = make_engine(path, read_only=False, foreign_keys=False)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0001")
    engine.dispose()
    assert content() == before


def test_compact_gives_every_free_page_back(project: Project) -> None:
    """``PRAGMA incremental_vacuum`` frees a page per step: compacting frees them all."""
    import torch

    for i in range(5):
        project.add_run("sweep", f"big {i}", {}, {}, {"t": torch.zeros(20_000)})
    for run in project.runs():
        project.delete_run(run.id)
    with sqlite3.connect(project.path) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 10
    project.compact()
    with sqlite3.connect(project.path) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
