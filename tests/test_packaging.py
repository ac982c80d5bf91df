"""A wheel ships the top-level ``resources/`` folder (as ``workbench/_resources``) and an
installed copy finds it; a checkout / editable install finds ``<checkout>/resources``.

The wheel is built from a copy of the sources (so a stale ``build/`` in the checkout can neither
help nor hurt), without build isolation when setuptools is in this environment (no network).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from workbench.concepts.prompt_sets import builtin_sets, resources_dir

ROOT = Path(__file__).resolve().parents[1]
RESOURCE_FILES = sorted(
    p.relative_to(ROOT / "resources").as_posix()
    for p in (ROOT / "resources").rglob("*")
    if p.is_file() and "__pycache__" not in p.parts
)


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, " ".join(cmd) + "\n" + out.stdout + out.stderr
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in ("workbench", "ui", "resources"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    # setuptools here -> build offline; else pip fetches the build requirements as for `pip install .`
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    _pip("wheel", str(src), "--no-deps", *isolation, "-w", str(tmp / "dist"), "-q")
    (whl,) = (tmp / "dist").glob("concept_workbench-*.whl")
    return whl


def test_wheel_ships_resources_and_every_module(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("workbench/_resources/") for n in names}
    assert RESOURCE_FILES, "no resources in the checkout?"
    missing = [f for f in RESOURCE_FILES if f not in shipped]
    assert not missing, f"resources missing from the wheel: {missing}"
    # the kinds the app needs, named so that an empty glob cannot pass
    for needed in (
        "prompt_sets/antonyms.json",
        "prompt_sets/ordinal.json",
        "styles/base.qss",
        "styles/light.qss",
        "styles/dark.qss",
        "icons/app.svg",
    ):
        assert f"workbench/_resources/{needed}" in names
    assert not any(n.startswith("resources/") for n in names), "no top-level 'resources' package"
    # pyproject lists its packages (for the package-dir mapping): a new package folder must be listed
    code = [
        p.relative_to(ROOT).as_posix()
        for top in ("workbench", "ui")
        for p in (ROOT / top).rglob("*")
        if p.suffix in (".py", ".mako") and "__pycache__" not in p.parts
    ]
    unlisted = sorted(f for f in code if f not in names)
    assert not unlisted, (
        f"not in the wheel (add the package to [tool.setuptools] packages): {unlisted}"
    )


def test_installed_wheel_finds_resources(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    _pip("install", "--no-deps", "--no-compile", "--target", str(target), str(wheel), "-q")
    # only the installed copy plus this environment's dependencies; no .pth files (so not the
    # editable finder), not the checkout (cwd elsewhere, -I drops it and PYTHONPATH)
    deps = list(dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path[:] = [{str(target)!r}, *{deps!r}, *[p for p in sys.path if "site-packages" not in p]]
        import workbench, ui
        from workbench.concepts.prompt_sets import builtin_sets, resources_dir
        import ui.theme
        sets = builtin_sets()
        print(json.dumps({{
            "workbench": workbench.__file__,
            "ui": ui.__file__,
            "resources": str(resources_dir()),
            "theme": str(ui.theme.RESOURCES),
            "sets": sorted(sets),
            "qss": [(ui.theme.RESOURCES / "styles" / f).is_file() for f in ("base.qss", "light.qss", "dark.qss")],
            "icon": (resources_dir() / "icons" / "app.svg").is_file(),
        }}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_RESOURCES"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    installed = target / "workbench" / "_resources"
    assert Path(got["workbench"]).is_relative_to(target), got
    assert Path(got["ui"]).is_relative_to(target), got
    assert Path(got["resources"]) == installed, got
    assert Path(got["theme"]) == installed, got
    assert set(got["sets"]) == set(builtin_sets()) and "antonyms" in got["sets"], got
    assert all(got["qss"]) and got["icon"], got


def test_checkout_finds_its_resources_folder(monkeypatch: pytest.MonkeyPatch):
    import workbench

    monkeypatch.delenv("WORKBENCH_RESOURCES", raising=False)
    if Path(workbench.__file__).resolve().parent == ROOT / "workbench":
        assert resources_dir() == ROOT / "resources"
    assert (resources_dir() / "prompt_sets" / "antonyms.json").is_file()
    monkeypatch.setenv("WORKBENCH_RESOURCES", str(ROOT / "tests"))
    assert resources_dir() == ROOT / "tests"
