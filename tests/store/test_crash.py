"""Crash safety: SIGKILL a process in the middle of writing, then reopen the file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from workbench.concepts.concept import Concept, ModelRef
from workbench.store import Project
from workbench.store.db import journal_path

WIDTH = 65_536  # 256 KiB per vector, so each change takes a while to write

WRITER = textwrap.dedent(
    f"""
    import sys, torch
    from workbench.concepts.concept import Concept, ModelRef
    from workbench.store import Project
    project = Project.open(sys.argv[1])
    model = ModelRef("crash-model", d_model={WIDTH})
    i = int(sys.argv[2])
    while True:
        vectors = {{f"blocks.{{k}}.hook_resid_post": torch.full(({WIDTH},), float(i + k))
                    for k in range(2)}}
        project.add_concept(Concept(f"c{{i:05d}}", vectors, model, {{"i": i}}, id=f"id{{i:05d}}"))
        project.add_note(f"note {{i}}")
        print(i, flush=True)  # printed only after both changes committed
        i += 1
    """
)


def expected_vector(i: int, k: int) -> torch.Tensor:
    return torch.full((WIDTH,), float(i + k))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_stream_loses_nothing_committed(project_path: Path) -> None:
    Project.create(project_path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(project_path), "0"], stdout=subprocess.PIPE, text=True
    )
    committed = []
    while len(committed) < 5:
        line = proc.stdout.readline()
        assert line, "the writer died on its own"
        committed.append(int(line))
    # Kill it while a transaction is under way: the rollback journal exists only then.
    journal = journal_path(project_path)
    deadline = time.monotonic() + 5
    while not journal.exists() and time.monotonic() < deadline:
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    committed += [int(line) for line in proc.stdout.read().split()]
    proc.stdout.close()
    last = committed[-1]

    with Project.open(project_path) as project:  # rolls back the half-written change
        assert not project.read_only  # the dead writer's lock is stale
        names = project.concept_names()
        # every printed record is there; at most one more (committed, not yet printed)
        assert names[: last + 1] == [f"c{i:05d}" for i in range(last + 1)]
        assert len(names) <= last + 2
        for concept in project.concepts():
            i = concept.recipe["i"]
            assert concept.id == f"id{i:05d}"
            assert list(concept.vectors) == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
            for k, vector in enumerate(concept.vectors.values()):
                assert torch.equal(vector, expected_vector(i, k))
        notes = [n.text for n in project.notes()]
        assert notes[: last + 1] == [f"note {i}" for i in range(last + 1)]
        assert len(notes) <= len(names)
        project.add_concept(Concept("after", {"s": torch.ones(4)}, ModelRef("m")))  # writable
    assert not journal.exists()
    with sqlite3.connect(project_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
