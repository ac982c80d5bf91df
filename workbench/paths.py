"""Per-user folders (platformdirs), overridable for tests and portable installs."""

from __future__ import annotations

import os
from pathlib import Path

APP = "concept-workbench"


def _dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        p = Path(override)
    else:
        import platformdirs

        p = Path(getattr(platformdirs, f"user_{kind}_dir")(APP))
    p.mkdir(parents=True, exist_ok=True)
    return p


def cache_dir() -> Path:
    return _dir("WORKBENCH_CACHE_DIR", "cache")


def config_dir() -> Path:
    return _dir("WORKBENCH_CONFIG_DIR", "config")


def data_dir() -> Path:
    return _dir("WORKBENCH_DATA_DIR", "data")


def resources_dir() -> Path:
    """The ``resources`` folder (prompt sets, styles, icons); every user asks this function.

    In order: ``$WORKBENCH_RESOURCES``; ``workbench/_resources`` inside the installed package
    (a wheel ships the top-level ``resources/`` there, see ``package-dir`` in pyproject.toml);
    else ``<checkout>/resources`` (a checkout or an editable install, whose ``workbench`` is the
    checkout's folder). Cheap: no heavy import, so the window can ask it before torch loads.
    """
    env = os.environ.get("WORKBENCH_RESOURCES")
    if env:
        return Path(env)
    from importlib.resources import files

    installed = files("workbench") / "_resources"
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[1] / "resources"
