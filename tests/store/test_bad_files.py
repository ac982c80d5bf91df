"""Bad input: each a ProjectFileError that says what to do, and nothing lost."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
import torch
from sqlalchemy import event
from store_helpers import MODEL, make_concept

import workbench.store.project as project_module
from workbench.concepts.concept import Concept
from workbench.errors import ProjectFileError
from workbench.store import (
    CorruptProjectError,
    DiskFullError,
    NotAProjectError,
    Project,
    ProjectTooNewError,
    ReadOnlyProjectError,
)
from workbench.store import lock as lock_module


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def saved(project_path: Path) -> Path:
    """A closed project with a few concepts (about 20 pages of vectors)."""
    with Project.create(project_path) as project:
        project.add_concepts([make_concept(f"c{i}", i) for i in range(3)])
        project.add_concept(Concept("big", {"s": torch.randn(20_000)}, MODEL))
    return project_path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="There is no project at .*create a new project"):
        Project.open(tmp_path / "nope.wbproj")


def test_text_file_renamed(tmp_path: Path) -> None:
    path = tmp_path / "notes.wbproj"
    path.write_text("Meeting notes: try layer 12\n")
    before = digest(path)
    with pytest.raises(NotAProjectError, match="not an SQLite database.*'Meeting notes"):
        Project.open(path)
    assert digest(path) == before


def test_empty_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "empty.wbproj").touch()
    with pytest.raises(NotAProjectError, match="empty"):
        Project.open(tmp_path / "empty.wbproj")
    (tmp_path / "dir.wbproj").mkdir()
    with pytest.raises(NotAProjectError, match="folder"):
        Project.open(tmp_path / "dir.wbproj")


def test_other_programs_database(tmp_path: Path) -> None:
    path = tmp_path / "other.wbproj"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    before = digest(path)
    with pytest.raises(
        NotAProjectError, match="SQLite database, but not a Concept Workbench.*photos"
    ):
        Project.open(path)
    assert digest(path) == before


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.0], ids=["half", "most", "header-only"])
def test_truncated_file(saved: Path, keep: float) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: max(60, int(len(data) * keep))])
    before = digest(saved)
    with pytest.raises(CorruptProjectError, match="truncated"):
        Project.open(saved)
    assert digest(saved) == before


def test_file_from_a_newer_version(saved: Path) -> None:
    with sqlite3.connect(saved) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
        conn.execute("UPDATE info SET value = '9.0.0' WHERE key = 'app_version'")
    before = digest(saved)
    for read_only in (False, True):
        with pytest.raises(ProjectTooNewError) as err:
            Project.open(saved, read_only=read_only)
        message = str(err.value)
        assert "Concept Workbench 9.0.0" in message and "'9999'" in message
        assert "Update Concept Workbench" in message and "not been changed" in message
    assert digest(saved) == before


def test_damaged_vector_is_detected_and_the_rest_still_loads(saved: Path) -> None:
    with sqlite3.connect(saved) as conn:
        row_id, blob = conn.execute(
            "SELECT v.id, v.data FROM concept_vectors v JOIN concepts c ON c.id = v.concept_id "
            "WHERE c.name = 'c1' AND v.position = 0"
        ).fetchone()
        flipped = bytes([blob[0] ^ 1]) + blob[1:]  # one bit
        conn.execute("UPDATE concept_vectors SET data = ? WHERE id = ?", (flipped, row_id))
    with Project.open(saved) as project:
        assert len(project.concept_infos()) == 4  # listing needs no vector
        with pytest.raises(
            CorruptProjectError, match="blocks.0.hook_resid_post of 'c1' is damaged"
        ):
            project.load_concept("c1")
        project.load_concept("c2")


def test_damaged_pages_give_project_errors(saved: Path) -> None:
    """Garbage over any page: opening or reading fails with a ProjectFileError, never a crash."""
    original = saved.read_bytes()
    page = 4096
    caught = 0
    for n in range(1, len(original) // page):
        data = bytearray(original)
        data[n * page : (n + 1) * page] = bytes([0xA5]) * page
        saved.write_bytes(bytes(data))
        try:
            with Project.open(saved, read_only=True) as project:
                project.concept_infos()
                project.concepts()
                project.notes()
        except ProjectFileError:
            caught += 1
    assert caught > len(original) // page // 4  # many pages matter, and none crashes


def test_read_only_location(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root writes anywhere, so the unwritable folder is injected where the store asks."""
    monkeypatch.setattr(project_module, "_writable_location", lambda path: False)
    before = digest(saved)
    with Project.open(saved) as project:
        assert project.read_only and "cannot write to" in project.read_only_reason
        with pytest.raises(ReadOnlyProjectError, match="Use Save As"):
            project.add_note("lost?")
        assert len(project.concepts()) == 4
    assert digest(saved) == before
    with pytest.raises(ReadOnlyProjectError, match="Choose another folder"):
        Project.create(saved.with_name("new.wbproj"))


def test_sqlite_refuses_to_write(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails inside SQLite (read-only media) opens the project read-only."""

    def refuse(engine, token):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(lock_module, "try_acquire", refuse)
    with Project.open(saved) as project:
        assert project.read_only and "Save As" in project.read_only_reason
        assert project.load_concept("big").vectors["s"].shape == (20_000,)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_really_read_only_folder(saved: Path) -> None:
    folder = saved.parent
    folder.chmod(0o555)
    try:
        with Project.open(saved) as project:
            assert project.read_only
            with pytest.raises(ReadOnlyProjectError):
                project.add_note("x")
    finally:
        folder.chmod(0o755)


def limit_pages(project: Project, extra_pages: int) -> None:
    """Simulate a full disk: no connection may grow the file beyond a few more pages."""
    with project._engine.connect() as conn:
        limit = conn.exec_driver_sql("PRAGMA page_count").scalar() + extra_pages
    project._engine.dispose()

    @event.listens_for(project._engine, "connect")
    def _limit(dbapi_conn, _record) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {limit}")


def test_full_disk(saved: Path) -> None:
    with Project.open(saved) as project:
        limit_pages(project, 2)
        huge = Concept("huge", {"s": torch.randn(100_000)}, MODEL)
        with pytest.raises(
            DiskFullError,
            match="saving 'huge' failed; everything saved before is intact. Free some space",
        ):
            project.add_concept(huge)
        with pytest.raises(DiskFullError):
            project.add_run("sweep", "s", {}, {}, {"t": torch.randn(100_000)})
        project.add_note("still works")  # small changes still fit; the project stays usable
    with Project.open(saved) as project:
        assert project.concept_names() == ["c0", "c1", "c2", "big"]
        assert project.runs() == [] and [n.text for n in project.notes()] == ["still works"]
        project.add_concept(huge)  # room again: it saves
        assert project.load_concept("huge").vectors["s"].shape == (100_000,)


def test_full_disk_when_opening_gives_read_only(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(engine, token):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(lock_module, "try_acquire", full)
    with Project.open(saved) as project:
        assert project.read_only and "disk is full" in project.read_only_reason
        assert len(project.concepts()) == 4
