"""``python -m ui --self-test``: the path the bundle's self-test takes, run from source in a
fresh process (the bundle itself is built and checked by ``python3 bootstrap.py installer``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _self_test(tmp_path: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WORKBENCH_CONFIG", "WORKBENCH_DATA"))
    }
    env.update(HF_HUB_OFFLINE="1", QT_QPA_PLATFORM="offscreen", WORKBENCH_STARTUP_REPORT="1")
    return subprocess.run(
        [sys.executable, "-m", "ui", "--self-test", *args],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _stages(out: str) -> list[str]:
    return [ln.split()[1] for ln in out.splitlines() if ln.startswith("WORKBENCH_STAGE ")]


@pytest.mark.slow  # a fresh app process: ~20 s on a shared 2-core machine
def test_self_test_passes_on_a_tiny_model(tmp_path, tiny_model_dir):
    r = _self_test(tmp_path, "--model", str(tiny_model_dir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("self-test: passed")
    assert _stages(r.stdout) == [
        "window_shown",
        "model_ready",
        "first_token",
        "generated",
        "project",
    ]
    # it kept its project and settings in its own temporary folder
    assert not list(tmp_path.iterdir())


def test_self_test_fails_with_the_stage_that_broke(tmp_path):
    r = _self_test(tmp_path, "--model", str(tmp_path / "no-such-model"))
    assert r.returncode == 1
    failed = [ln for ln in r.stdout.splitlines() if "FAILED" in ln]
    assert failed and "no-such-model" in failed[0] and "does not exist" in failed[0], r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert "self-test: passed" not in r.stdout


@pytest.mark.embedded
def test_self_test_passes_on_the_embedded_model(tmp_path):
    r = _self_test(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SmolLM2-135M-Instruct" in r.stdout and "self-test: passed" in r.stdout
    assert "'Paris" in r.stdout  # greedy: "The capital of France is Paris."


def test_process_start_is_before_the_app_module_was_imported():
    """The self-test's and the benchmark's stages count from the process's start: a moment
    before ``ui.app`` was imported, and (read from /proc on Linux) not seconds off."""
    import time

    from ui.app import _T0, process_start

    start = process_start()
    assert start <= _T0 <= time.perf_counter()
