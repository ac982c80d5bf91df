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
