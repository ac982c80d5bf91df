"""The ``workbench`` command: the same jobs the window runs, with progress bars.

Each command group lives in its own module and registers itself in :data:`GROUPS`; results go
to stdout (JSON where structured) and, with ``--project FILE``, into a project file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from workbench.errors import WorkbenchError

# module name -> help; each module defines ``register(subparsers)``.
GROUPS = {
    "models": "find, inspect and try language models",
    "concepts": "extract concepts, evaluate expressions, diagnostics, vector files",
    "heads": "score attention heads",
    "diffusion": "concept arithmetic on text-to-image models",
    "project": "read and write project files",
}


def build_parser() -> argparse.ArgumentParser:
    from workbench import __version__

    parser = argparse.ArgumentParser(prog="workbench", description="Concept Workbench engine")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = parser.add_subparsers(dest="group", metavar="GROUP")
    for name, help_ in GROUPS.items():
        try:
            module = importlib.import_module(f"workbench.cli.{name}")
        except ImportError:
            continue
        g = sub.add_parser(name, help=help_, description=help_)
        module.register(g.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="model folder or .gguf file (default: the embedded SmolLM2-135M)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run the model's own code (only for models you trust)",
    )


def load_model_from_args(args: argparse.Namespace, attn: str = "sdpa") -> Any:
    from workbench.jobs import run_with_progress_bar
    from workbench.models.loading import load_language_model_job

    return run_with_progress_bar(
        load_language_model_job(
            args.model,
            device=args.device,
            dtype=args.dtype,
            trust_remote_code=args.trust_remote_code,
            attn_implementation=attn,
        ),
        desc="loading model",
    )


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if isinstance(getattr(args, "project", None), str):
            _check_project(args.project)  # before minutes of work that it would then refuse
        return int(args.func(args) or 0)
    except WorkbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


def _check_project(path: str) -> None:
    """Fail now, not after the computation, when ``--project`` cannot take the result: an
    existing file that is not a readable project, or a new one in a folder that does not
    exist."""
    from pathlib import Path

    from workbench.errors import ProjectFileError

    p = Path(path)
    if p.exists():
        from workbench.store import Project

        Project.open(p, read_only=True).close()
    elif not p.parent.is_dir():
        raise ProjectFileError(
            f"{p.parent} does not exist, so the project {p.name} cannot be created there; "
            "create the folder or give another path."
        )
