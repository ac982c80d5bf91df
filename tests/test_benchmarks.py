"""The benchmark plumbing (no timings): a fresh process per script, README blocks generated from
the JSON results, and every results file saying what was measured where."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))


def test_render_block_says_commit_machine_threads_and_load():
    import _common

    data = {
        "command": "python3 bootstrap.py bench store",
        "measured": "2026-12-01 03:00 UTC",
        "commit": "abc1234",
        "machine": {"cores": 2, "cpu": "Some CPU", "torch": "2.9.0", "gpu": None},
        "threads": 1,
        "load_start": 6.5,
        "load_end": 7.0,
        "under_load": True,
        "notes": "",
        "lines": ["store.save: 0.1 s"],
    }
    block = _common.render_block(data)
    for part in (
        "abc1234",
        "2 cores",
        "1 thread",
        "Measured under load",
        "6.5",
        "store.save: 0.1 s",
    ):
        assert part in block
    assert "under load" not in _common.render_block({**data, "under_load": False})


def test_readme_block_is_generated_from_the_json(tmp_path, monkeypatch):
    import _common

    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- BENCH_TOY:START -->\nold\n<!-- BENCH_TOY:END -->\nb\n")
    monkeypatch.setattr(_common, "README", readme)
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    monkeypatch.setattr(_common, "FIGURES", [])
    monkeypatch.setattr(_common, "LINES", [])
    _common.report("toy.ratio", 1.5, "x", "<= 2x")
    path = _common.save_results("toy", "python benchmarks/bench_toy.py")
    data = json.loads(path.read_text())
    assert data["figures"] == [{"name": "toy.ratio", "value": 1.5, "unit": "x", "target": "<= 2x"}]
    assert data["commit"] and data["machine"]["cores"] and "under_load" in data
    text = readme.read_text()
    assert "old" not in text and _common.render_block(data) in text


def test_run_all_runs_each_script_in_a_fresh_process():
    import run_all

    names = run_all.available()
    assert {"engine", "store", "diffusion", "heads", "gui_stall"} <= set(names)
    src = (BENCH / "run_all.py").read_text()
    assert "subprocess.run([sys.executable" in src and "import_module" not in src


@pytest.mark.parametrize("path", sorted((BENCH / "results").glob("*.json")), ids=lambda p: p.stem)
def test_results_say_when_and_where(path):
    data = json.loads(path.read_text())
    assert (data.get("measured") or data.get("date")) and data.get("machine"), path.name
    if "lines" in data:  # written by _common.save_results: its README block comes from it
        assert data["commit"] and "threads" in data and "under_load" in data
        readme = (BENCH.parent / "README.md").read_text()
        import _common

        assert _common.render_block(data) in readme, f"README block of {path.stem} is stale"
