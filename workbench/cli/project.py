"""``workbench project``: read a project file from the shell (what a headless run wrote)."""

from __future__ import annotations

import argparse
import sys

from workbench.cli import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="what a project holds: models, concepts, runs, generations")
    p.add_argument("file")
    p.set_defaults(func=_info)
    p = sub.add_parser("concepts", help="list concepts with their recipes")
    p.add_argument("file")
    p.set_defaults(func=_concepts)
    p = sub.add_parser("export", help="export a concept of a project to a vector file")
    p.add_argument("file")
    p.add_argument("concept", help="name or id")
    p.add_argument("out", help="output path; the extension picks the format")
    p.add_argument(
        "--format", default=None, help="safetensors, gguf, pt, npy, npz, neuronpedia, svec"
    )
    p.set_defaults(func=_export)
    p = sub.add_parser("import", help="import a vector file into a project as a concept")
    p.add_argument("file")
    p.add_argument("vector")
    p.add_argument("--name", default=None)
    p.add_argument(
        "--site", default=None, help="site for files that do not say (npy, single tensors)"
    )
    p.set_defaults(func=_import)
    p = sub.add_parser("runs", help="list runs (head scores, sweeps, probes) or print one")
    p.add_argument("file")
    p.add_argument("--kind", default=None)
    p.add_argument("--id", type=int, default=None, help="print this run's settings and result")
    p.set_defaults(func=_runs)
    p = sub.add_parser("generations", help="list generations with their provenance")
    p.add_argument("file")
    p.set_defaults(func=_generations)


def _open(path: str, read_only: bool = True):  # noqa: ANN202
    from workbench.store import Project

    return Project.open(path, read_only=read_only)


def _info(args: argparse.Namespace) -> int:
    with _open(args.file) as p:
        print_json(
            {
                "path": str(p.path),
                "schema_revision": p.schema_revision,
                "models": [m.to_dict() for m in p.models()],
                "concepts": len(p.concept_infos()),
                "prompt_sets": [s["name"] for s in p.prompt_sets()],
                "runs": [{k: r[k] for k in ("id", "kind", "name")} for r in p.runs()],
                "generations": len(p.generations(images=False)),
                "figures": [f["name"] for f in p.figures()],
                "notes": len(p.notes()),
            }
        )
    return 0


def _concepts(args: argparse.Namespace) -> int:
    with _open(args.file) as p:
        print_json(p.concept_infos())
    return 0


def _export(args: argparse.Namespace) -> int:
    from workbench.io.vector_files import export_concept

    with _open(args.file) as p:
        concept = p.load_concept(args.concept)
    out = export_concept(concept, args.out, fmt=args.format)
    print(out)
    return 0


def _import(args: argparse.Namespace) -> int:
    from workbench.io.vector_files import import_concept

    concept = import_concept(args.vector, name=args.name, site=args.site)
    with _open(args.file, read_only=False) as p:
        if p.read_only:
            print(f"error: {p.read_only_reason}", file=sys.stderr)
            return 1
        p.add_concept(concept)
    print(concept.name)
    return 0


def _runs(args: argparse.Namespace) -> int:
    with _open(args.file) as p:
        if args.id is not None:
            run = p.load_run(args.id)
            run["tensors"] = {k: list(v.shape) for k, v in (run.get("tensors") or {}).items()}
            print_json(run)
        else:
            print_json(p.runs(args.kind))
    return 0


def _generations(args: argparse.Namespace) -> int:
    with _open(args.file) as p:
        print_json(p.generations(images=False))
    return 0
