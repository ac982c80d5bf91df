"""``--cluster local:2`` on the command line: the same JSON and the same stored run as one
process, and clear refusals. The cluster run is a fresh process: it starts its own local Ray
(one Ray instance per process, and this test process is joined to the fixture's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workbench.cli import main

TASK = [
    {"prompt": "the king is a", "target": " man", "foil": " woman"},
    {"prompt": "I feel very", "target": " happy", "foil": " sad"},
    {"prompt": "Paris is the capital of", "target": " France", "foil": " London"},
]


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *argv], capture_output=True, text=True, env=env,
        timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_ablation_on_a_local_cluster_from_the_command_line(tiny_llama_dir, tmp_path, capsys):
    task = tmp_path / "task.jsonl"
    task.write_text("\n".join(json.dumps(r) for r in TASK))
    base = ["heads", "score", "--kind", "ablation", "--model", str(tiny_llama_dir),
            "--prompts", str(task), "--max-rows", "3", "--device", "cpu"]  # fmt: skip
    assert main([*base, "--project", str(tmp_path / "one.wbproj")]) == 0
    one = json.loads(capsys.readouterr().out)
    proc = _cli(*base, "--cluster", "local:2", "--project", str(tmp_path / "two.wbproj"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout)
    assert two == one  # the same numbers in the same order
    assert "cluster local:2: 2 workers" in proc.stderr
    from workbench.store import Project

    with (
        Project.open(tmp_path / "one.wbproj") as a,
        Project.open(tmp_path / "two.wbproj") as b,
    ):
        ra, rb = a.load_run(a.runs()[0].id), b.load_run(b.runs()[0].id)
    assert (ra.settings, ra.result) == (rb.settings, rb.result)


def test_cluster_refusals(tiny_llama_dir, tmp_path, capsys):
    task = tmp_path / "task.jsonl"
    task.write_text("\n".join(json.dumps(r) for r in TASK))
    base = ["heads", "score", "--model", str(tiny_llama_dir), "--prompts", str(task)]
    assert main([*base, "--kind", "induction", "--cluster", "local:2"]) == 1
    assert "only the ablation and patching sweeps run on a cluster" in capsys.readouterr().err
    assert main([*base, "--kind", "ablation", "--cluster", "nowhere"]) == 2
    assert "cluster address 'nowhere'" in capsys.readouterr().err
    # an address where nothing listens: said at once (Ray alone retries for minutes)
    assert main([*base, "--kind", "ablation", "--cluster", "127.0.0.1:1"]) == 1
    assert "Nothing answers at 127.0.0.1:1" in capsys.readouterr().err
