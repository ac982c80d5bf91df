"""The recent-projects list, kept in the per-user config folder.

The folder is platformdirs' ``user_config_dir("concept-workbench")``, or ``$WORKBENCH_CONFIG_DIR``
when set (tests, portable installs). The list is a small JSON file written atomically; a damaged
one is treated as empty rather than stopping the app from starting.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

MAX_SHOWN = 10
_MAX_KEPT = 25  # keep some that are missing now (an unplugged disk) for when they are back
_FILE = "recent_projects.json"


def config_dir() -> Path:
    """The per-user config folder (created on first write, not here)."""
    override = os.environ.get("WORKBENCH_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("concept-workbench", appauthor=False))


def _load() -> list[str]:
    try:
        data = json.loads((config_dir() / _FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    paths = data.get("recent", []) if isinstance(data, dict) else []
    return [p for p in paths if isinstance(p, str)]


def _save(paths: list[str]) -> None:
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"version": 1, "recent": paths}, indent=1), encoding="utf-8")
    os.replace(tmp, folder / _FILE)


def add_recent(path: str | os.PathLike[str]) -> None:
    """Put ``path`` at the top of the recent projects (best effort: never raises on I/O)."""
    entry = str(Path(path).expanduser().absolute())
    paths = [entry] + [p for p in _load() if p != entry]
    with contextlib.suppress(OSError):
        _save(paths[:_MAX_KEPT])


def remove_recent(path: str | os.PathLike[str]) -> None:
    """Drop ``path`` from the list (the user removed it from the menu)."""
    entry = str(Path(path).expanduser().absolute())
    with contextlib.suppress(OSError):
        _save([p for p in _load() if p != entry])


def recent_projects() -> list[Path]:
    """Projects opened lately that still exist, most recent first, at most ten."""
    return [Path(p) for p in _load() if Path(p).is_file()][:MAX_SHOWN]
