"""Save As and copies: consistent while open, atomic, never clobbering an open project."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from store_helpers import assert_same_concept, make_concept

from workbench.errors import ProjectFileError
from workbench.store import DiskFullError, Project, db


def test_save_as_continues_in_the_copy(project: Project, tmp_path: Path) -> None:
    concept = make_concept("a", 1)
    project.add_concept(concept)
    project.set_setting("window", b"state")
    target = tmp_path / "copy.wbproj"
    copy = project.save_as(target)
    try:
        assert project.closed and copy.path == target and not copy.read_only
        assert_same_concept(concept, copy.load_concept("a"))
        assert copy.get_setting("window") == b"state"
        copy.add_note("only in the copy")
    finally:
        copy.close()
    with Project.open(project.path) as original:  # unchanged, and not locked by the copy
        assert not original.read_only and original.notes() == []


def test_copy_is_consistent_while_another_thread_writes(project: Project, tmp_path: Path) -> None:
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            project.add_concepts([make_concept(f"w{i}", i)])
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        targets = [project.copy_to(tmp_path / f"copy{k}.wbproj") for k in range(3)]
    finally:
        stop.set()
        thread.join()
    for target in targets:
        with Project.open(target) as copy:
            assert not copy.read_only  # the copy carries no lock
            names = copy.concept_names()
            assert names == [f"w{i}" for i in range(len(names))]
            for concept in copy.concepts():  # checksums verified on load
                assert concept.vectors
        with sqlite3.connect(target) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_copy_refuses_to_clobber(project: Project, tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="this project itself"):
        project.copy_to(project.path)
    existing = tmp_path / "existing.wbproj"
    existing.write_text("keep me")
    with pytest.raises(ProjectFileError, match="already exists"):
        project.copy_to(existing)
    assert existing.read_text() == "keep me"
    project.copy_to(existing, overwrite=True)
    Project.open(existing).close()


def test_copy_refuses_a_target_open_elsewhere(project: Project, tmp_path: Path) -> None:
    target = tmp_path / "theirs.wbproj"
    Project.create(target).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                from workbench.store import Project
                p = Project.open(sys.argv[1]); print("ready", flush=True); sys.stdin.readline()
                """
            ),
            str(target),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(ProjectFileError, match=f"open in .*process {holder.pid}"):
            project.copy_to(target, overwrite=True)
    finally:
        holder.kill()
        holder.communicate()


def test_full_disk_during_save_as_loses_nothing(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.add_concept(make_concept("a", 1))
    target = tmp_path / "copy.wbproj"
    target.write_bytes(b"an older file the user chose to overwrite")

    def full(source: sqlite3.Connection, dest: Path) -> None:
        dest.write_bytes(b"partial")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(db, "backup", full)
    with pytest.raises(DiskFullError, match="disk holding .*copy.wbproj is full"):
        project.save_as(target, overwrite=True)
    assert not project.closed and project.concept_names() == ["a"]  # still open, still whole
    assert target.read_bytes() == b"an older file the user chose to overwrite"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.wbproj", "study.wbproj"]


def test_read_only_project_can_be_saved_elsewhere(project_path: Path, tmp_path: Path) -> None:
    with Project.create(project_path) as p:
        p.add_concept(make_concept("a", 1))
    with Project.open(project_path, read_only=True) as ro:
        copy = ro.save_as(tmp_path / "mine.wbproj")
    with copy:
        assert not copy.read_only
        copy.add_note("now writable")
