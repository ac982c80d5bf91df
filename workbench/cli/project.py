"""``workbench project``: read a project file from the shell (what a headless run wrote)."""

from __future__ import annotations

import argparse
import sys

from workbench.cli import add_json_flag, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="what a project holds: models, concepts, runs, generations")
    p.add_argument("file")
    add_json_flag(p, always=True)
    p.set_defaults(func=_info)
    p = sub.add_parser(
        "upgrade", help="upgrade a project saved by an older version (a backup is kept beside it)"
    )
    p.add_argument("file")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the path, schema revision, revision upgraded from and backup as JSON",
    )
    p.set_defaults(func=_upgrade)
    p = sub.add_parser("concepts", help="list concepts with their recipes, a page at a time")
    p.add_argument("file")
    _paging_args(p, CONCEPT_SORTS, "saved", "name, method or description")
    p.set_defaults(func=_concepts)
    p = sub.add_parser("export", help="export a concept of a project to a vector file")
    p.add_argument("file")
    p.add_argument("concept", help="name or id")
    p.add_argument("out", help="output path; the extension picks the format")
    p.add_argument(
        "--format", default=None, help="safetensors, gguf, pt, npy, npz, neuronpedia, svec"
    )
    add_json_flag(p)
    p.set_defaults(func=_export)
    p = sub.add_parser("import", help="import a vector file into a project as a concept")
    p.add_argument("file")
    p.add_argument("vector")
    p.add_argument("--name", default=None)
    p.add_argument(
        "--site", default=None, help="site for files that do not say (npy, single tensors)"
    )
    add_json_flag(p)
    p.set_defaults(func=_import)
    p = sub.add_parser("runs", help="list runs (head scores, sweeps, probes) or print one")
    p.add_argument("file")
    p.add_argument(
        "--analysis",
        "--kind",  # its name before project schema 0002
        dest="analysis",
        default=None,
        help="only runs of this analysis (head_scores, sweep, probe, head_set...)",
    )
    p.add_argument("--id", type=int, default=None, help="print this run's settings and result")
    add_json_flag(p, always=True)
    p.set_defaults(func=_runs)
    p = sub.add_parser(
        "generations", help="list generations with their provenance, a page at a time"
    )
    p.add_argument("file")
    _paging_args(p, GENERATION_SORTS, "id", "prompt, outputs or concept name")
    p.add_argument(
        "--medium",
        "--kind",  # its name before project schema 0002
        dest="medium",
        choices=("text", "image"),
        default=None,
        help="only text or only image generations",
    )
    p.set_defaults(func=_generations)


# The store's sort keys (workbench.store._listing; a test keeps the two the same).
GENERATION_SORTS = (
    "id", "created", "concept", "site", "coefficient", "seed", "prompt", "baseline", "steered",
)  # fmt: skip
CONCEPT_SORTS = ("saved", "name", "method", "created")
PAGE = 50


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative; give 0 or more")
    return n


def _paging_args(
    p: argparse.ArgumentParser, sorts: tuple[str, ...], default: str, what: str
) -> None:
    p.add_argument("--offset", type=_count, default=0, help="skip this many (default 0)")
    p.add_argument(
        "--limit", type=_count, default=PAGE, help=f"list at most this many (default {PAGE})"
    )
    p.add_argument("--all", action="store_true", help="list every one (no --limit)")
    p.add_argument("--search", default=None, help=f"only those whose {what} contain this text")
    p.add_argument("--sort", choices=sorts, default=default, help=f"order (default {default})")
    p.add_argument(
        "--reverse", action="store_true", help="reverse the order (by default: newest first)"
    )
    p.add_argument("--json", action="store_true", help="print the page as JSON (a list)")


def _page_note(shown: int, offset: int, total: int, what: str) -> None:
    """Say on stderr which part of the listing was printed, and how to get the next page."""
    if shown == total and offset == 0:
        return
    last = offset + shown
    more = f"; --offset {last} for the next page" if last < total else ""
    first = f"{offset + 1}-{last}" if shown else "none"
    print(f"# {what} {first} of {total:,}{more}", file=sys.stderr)


def _clip(text: str | None, width: int) -> str:
    one_line = (text or "").replace("\n", " ")
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


def _open(path: str, read_only: bool = True):
    from workbench.store import Project

    return Project.open(path, read_only=read_only)


def _upgrade(args: argparse.Namespace) -> int:
    """Open for writing, which backs an older file up and upgrades it; say what happened."""
    with _open(args.file, read_only=False) as p:
        if p.read_only:
            print(f"error: {p.read_only_reason}", file=sys.stderr)
            return 1
        out = {
            "path": str(p.path),
            "schema_revision": p.schema_revision,
            "upgraded_from": p.upgraded_from,
            "backup": None if p.backup_path is None else str(p.backup_path),
        }
    if args.json:
        print_json(out)
    elif out["upgraded_from"] is None:
        print(
            f"{out['path']} is already at schema revision {out['schema_revision']}; "
            "nothing to upgrade."
        )
    else:
        print(
            f"upgraded {out['path']} from schema revision {out['upgraded_from']} to "
            f"{out['schema_revision']}; the file as it was is kept in {out['backup']}."
        )
    return 0


def _info(args: argparse.Namespace) -> int:
    with _open(args.file) as p:
        print_json(
            {
                "path": str(p.path),
                "schema_revision": p.schema_revision,
                "models": [m.to_dict() for m in p.models()],
                "concepts": p.count_concepts(),
                "prompt_sets": [s.name for s in p.prompt_sets()],
                "runs": [{"id": r.id, "analysis": r.analysis, "name": r.name} for r in p.runs()],
                "generations": p.count_generations(),
                "figures": [f.name for f in p.figures()],
                "notes": len(p.notes()),
            }
        )
    return 0


def _concepts(args: argparse.Namespace) -> int:
    page = {
        "offset": args.offset,
        "limit": None if args.all else args.limit,
        "search": args.search,
        "sort": args.sort,
        "descending": args.reverse,
    }
    with _open(args.file) as p:
        total = p.count_concepts(search=args.search)
        if args.json:
            shown = p.concept_infos(**page)
            print_json(shown)
        else:
            shown = p.concept_rows(**page)
            for c in shown:
                print(
                    f"{_clip(c.name, 32):<32}  {_clip(c.method or '?', 18):<18}  "
                    f"{c.n_sites:>3} sites  {_clip(c.model, 24):<24}  {c.created[:19]}"
                )
    _page_note(len(shown), args.offset, total, "concepts")
    return 0


def _export(args: argparse.Namespace) -> int:
    from workbench.io.vector_files import export_concept

    with _open(args.file) as p:
        concept = p.load_concept(args.concept)
    out = export_concept(concept, args.out, fmt=args.format)
    if args.json:
        print_json({"project": str(args.file), "concept": concept.name, "out": str(out)})
    else:
        print(out)
    return 0


def _import(args: argparse.Namespace) -> int:
    from workbench.io.vector_files import import_concept

    concept = import_concept(args.vector, name=args.name, site=args.site)
    with _open(args.file, read_only=False) as p:
        if p.read_only:
            print(f"error: {p.read_only_reason}", file=sys.stderr)
            return 1
        concept = p.import_concept(concept)  # never replaces a concept already there
    if args.json:
        print_json({"project": str(args.file), "concept": concept.name, "vector": args.vector})
    else:
        print(concept.name)
    return 0


def _runs(args: argparse.Namespace) -> int:
    with _open(args.file) as p:
        if args.id is not None:
            print_json(p.load_run(args.id))  # its tensors as their shapes and dtypes
        else:
            print_json(p.runs(args.analysis))
    return 0


def _generations(args: argparse.Namespace) -> int:
    with _open(args.file) as p:
        total = p.count_generations(args.medium, search=args.search)
        shown = p.generations(
            args.medium,
            images=False,
            offset=args.offset,
            limit=None if args.all else args.limit,
            search=args.search,
            sort=args.sort,
            descending=args.reverse,
        )
    if args.json:
        print_json(shown)
    else:
        for g in shown:
            prov = g.provenance or {}
            concept = (prov.get("concept") or {}).get("name") or prov.get("expression") or ""
            coef = prov.get("coefficient", "")
            print(
                f"{g.id:>7}  {g.created[:19]}  {_clip(concept, 24):<24}  {coef!s:>6}  "
                f"{_clip(g.prompt, 30):<30}  {_clip(g.steered, 40)}"
            )
    _page_note(len(shown), args.offset, total, "generations")
    return 0
