"""The ``workbench`` command: the same jobs the window runs, with progress bars.

Each command group lives in its own module and registers itself in :data:`GROUPS`; results go
to stdout (JSON where structured) and, with ``--project FILE``, into a project file.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from typing import Any

from workbench.cli import _args
from workbench.errors import WorkbenchError
from workbench.jobs import finite_or_none

# module name -> help; each module defines ``register(subparsers)``.
GROUPS = {
    "models": "find, inspect and try language models",
    "concepts": "extract concepts, evaluate expressions, diagnostics, vector files",
    "heads": "score attention heads",
    "analysis": "prompt analyses: logit lens, activation patching, subspace patching",
    "diffusion": "concept arithmetic on text-to-image models",
    "train": "learned interventions: LoFiT head offsets, trained steering vectors, fine-tunes",
    "weights": "weight-space task vectors: diff checkpoints, apply a delta, sweep its coefficient",
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
        except ModuleNotFoundError as e:
            # only a missing optional package, by name; any other failure is a bug and is raised
            if e.name not in OPTIONAL_PACKAGES:
                raise
            _add_unavailable_group(sub, name, help_, OPTIONAL_PACKAGES[e.name])
            continue
        g = sub.add_parser(name, help=help_, description=help_)
        module.register(g.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


# Packages that a CLI group may import and an installation may lack: module name -> what to
# install. None today (every group imports only required dependencies at the top; ray, for
# --cluster, is imported when used). A group missing one stays listed and says what to install.
OPTIONAL_PACKAGES: dict[str, str] = {}


def _add_unavailable_group(sub: Any, name: str, help_: str, install: str) -> None:
    why = f"unavailable: it needs {install}"

    def refuse(args: argparse.Namespace) -> int:
        raise WorkbenchError(f"the '{name}' commands are {why}.")

    g = sub.add_parser(name, help=f"{help_} ({why})", description=f"{help_} ({why})")
    g.set_defaults(func=refuse)


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="model folder or .gguf file (default: the embedded SmolLM2-135M)",
    )
    p.add_argument(
        "--device", default="auto", type=_args.device, help="auto, cpu, cuda, cuda:1, mps"
    )
    p.add_argument(
        "--dtype", default="auto", type=_args.dtype, help="auto, float32, float16, bfloat16"
    )
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run the model's own code (only for models you trust)",
    )
    from workbench.models import placement  # torch-free

    p.add_argument("--device-map", metavar="MAP", help=placement.MAP_HELP)
    p.add_argument("--max-memory", metavar="LIMITS", help=placement.MEMORY_HELP)
    p.add_argument("--offload-folder", metavar="DIR", help=placement.OFFLOAD_HELP)


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
            device_map=getattr(args, "device_map", None),
            max_memory=getattr(args, "max_memory", None),
            offload_folder=getattr(args, "offload_folder", None),
        ),
        desc="loading model",
    )


JSON_HELP = "print only the JSON result on stdout, without progress bars on stderr"


def add_json_flag(p: argparse.ArgumentParser, always: bool = False) -> None:
    """``--json``: every command takes it (tests/integration/test_cli_project.py). ``always``:
    the command prints JSON with or without it (a listing), and takes it so that a script can
    give ``--json`` to any command."""
    p.add_argument(
        "--json",
        action="store_true",
        help="the output is JSON either way; with --json, no progress bars on stderr"
        if always
        else JSON_HELP,
    )


@contextlib.contextmanager
def _quiet(on: bool) -> Any:
    """With ``--json``, progress bars stay off stderr: the jobs' own, and those of Hugging Face
    libraries (which read ``HF_HUB_DISABLE_PROGRESS_BARS`` when they are first imported, as
    they are in a command's process)."""
    if not on:
        yield
        return
    from workbench import jobs

    old_bars, old_env = jobs.PROGRESS_BARS, os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    jobs.PROGRESS_BARS = False
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    try:
        yield
    finally:
        jobs.PROGRESS_BARS = old_bars
        if old_env is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
        else:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = old_env


def save_new_concept(project_path: str, concept: Any) -> Any:
    """Save ``concept`` in the project without replacing a stored one (a taken name gets the
    library's suffix, ``happy 2``, and stderr says so); return it as saved."""
    from workbench.store import Project

    with Project.open(project_path, create=True) as project:
        saved = project.add_new_concept(concept)
    if saved.name != concept.name:
        print(
            f"note: {project_path} already has a concept named {concept.name!r}; this one was "
            f"saved as {saved.name!r}.",
            file=sys.stderr,
        )
    return saved


def save_text_generation(project_path: str, comparison: Any, provenance: dict[str, Any]) -> int:
    """Store a baseline/steered pair (a ``Comparison``) as a text generation; return its id."""
    from workbench.store import Project

    with Project.open(project_path, create=True) as project:
        return project.add_generation(
            medium="text",
            prompt=comparison.prompt,
            baseline=comparison.baseline,
            steered=comparison.steered,
            provenance=provenance,
        )


def print_json(obj: Any) -> None:
    """Strict JSON on stdout: a NaN or infinity (an undefined ratio, say) is written as null,
    since JSON has no such numbers and strict parsers (jq, JavaScript) refuse them."""
    data = finite_or_none(json.loads(json.dumps(obj, default=_jsonable)))
    json.dump(data, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def _jsonable(obj: Any) -> Any:
    """Objects JSON does not know: their ``to_dict()`` (a ModelRef's fields, not its Python
    repr), else their text."""
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else str(obj)


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit code. No Python traceback reaches the user: a refused
    argument exits 2 with argparse's usage line, an expected error (:class:`WorkbenchError`, an
    unreadable file) prints ``error: ...`` and exits 1, and anything else prints ``internal
    error: ...; details written to FILE`` (the traceback, in the user's data folder) and exits 3.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version, or a refused argument (usage printed)
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        if isinstance(getattr(args, "project", None), str):
            _check_project(args.project)  # before minutes of work that it would then refuse
        with _quiet(getattr(args, "json", False)):
            return int(args.func(args) or 0)
    except WorkbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except FileNotFoundError as e:
        print(f"error: {e.filename or e}: no such file or folder.", file=sys.stderr)
        return 1
    except IsADirectoryError as e:
        print(f"error: {e.filename or e} is a folder; give a file.", file=sys.stderr)
        return 1
    except PermissionError as e:
        print(f"error: {e.filename or e}: permission denied.", file=sys.stderr)
        return 1
    except OSError as e:  # a disk, a network drive or a device said no
        print(f"error: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print(
            "error: out of memory; use fewer or shorter prompts, or a smaller model.",
            file=sys.stderr,
        )
        return 1
    except Exception as e:  # noqa: BLE001 - the last resort: a bug gets one line, and its traceback goes to the log
        from workbench.errorlog import internal_error_message, write_error_log

        path = write_error_log(e, argv=argv)
        print(internal_error_message(e, path), file=sys.stderr)
        return 3


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
