"""scripts/gpu_check.py: without a GPU it says so and exits 0 (CI has none); its checks run as a
dry run on the CPU with a tiny model (the same code the GPU runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WORKBENCH_TORCH_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=900
    )


def test_without_a_gpu_it_says_so_and_exits_cleanly(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the check would run for real")
    out = _run("--json", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "No CUDA GPU on this machine" in out.stdout
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_the_dry_run_passes_every_check_on_a_tiny_model(tiny_llama_dir, tmp_path):
    out = _run(
        "--device", "cpu", "--model", str(tiny_llama_dir), "--json", str(tmp_path / "r.json")
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    data = json.loads((tmp_path / "r.json").read_text())
    names = [r["check"] for r in data["checks"]]
    assert {r["status"] for r in data["checks"]} == {"pass"}, data["checks"]
    for what in ("load bfloat16", "capture equals Hugging Face (float32)", "steered generation",
                 "ablation sweep", "steering sweep", "placement over devices (device map)",
                 "diffusion (tiny pipeline)", "benchmark ratios"):  # fmt: skip
        assert what in names
