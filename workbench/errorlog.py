"""The error log: where the full story of an unexpected error goes, so that the user sees one
line and a file name instead of a Python traceback.

The command line and the window both call :func:`write_error_log`; the file lives in the user's
data folder (``platformdirs.user_data_dir``, or ``$WORKBENCH_DATA_DIR``) under ``logs/``, one
file per error, the oldest removed beyond :data:`KEEP`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

KEEP = 50  # error logs kept; older ones are removed when a new one is written


def log_dir() -> Path:
    """``<user data folder>/logs`` (created)."""
    from workbench.paths import data_dir

    d = data_dir() / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    out = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return out[:200]


def write_error_log(exc: BaseException, context: str = "", argv: list[str] | None = None) -> Path:
    """Write ``exc``'s traceback (with the version, platform and command) to a new log file and
    return its path. Never raises: when the data folder cannot be written, the file goes to the
    temporary folder."""
    from workbench import __version__

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")  # two in one second: two files
    lines = [
        f"Concept Workbench {__version__} error log, {datetime.now(timezone.utc).isoformat()}",
        f"python {sys.version.split()[0]} on {platform.platform()}",
    ]
    if context:
        lines.append(f"while {context}")
    if argv is not None:
        lines.append("command: workbench " + " ".join(argv))
    text = "\n".join(lines) + "\n\n"
    text += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    name = f"error-{stamp}-{os.getpid()}.log"
    try:
        folder = log_dir()
        path = folder / name
        path.write_text(text, encoding="utf-8")
        _prune(folder)
    except OSError:
        import tempfile

        path = Path(tempfile.gettempdir()) / f"concept-workbench-{name}"
        path.write_text(text, encoding="utf-8")
    return path


def _prune(folder: Path) -> None:
    logs = sorted(folder.glob("error-*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[:-KEEP]:
        with contextlib.suppress(OSError):
            old.unlink()


def internal_error_message(exc: BaseException, path: Path) -> str:
    """What the user reads: ``internal error: <type>: <message>; details written to FILE``."""
    return f"internal error: {one_line(exc)}; details written to {path}"
