"""``workbench concepts axis``: place items on an A–B axis (Labor Space), 1-D or 2-D.

Examples::

    workbench concepts axis --items "nurse,welder,surgeon,miner" --a-texts "hospital,clinic" \\
        --b-texts "factory,assembly line" --site blocks.12.hook_resid_post --figure axis.png
    workbench concepts axis --set topics --a happy --b sad --project my.wbproj
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.cli import _args, add_json_flag, add_model_args, load_model_from_args, print_json
from workbench.errors import PromptSetError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "axis",
        help="place items on an axis between two concepts or two groups of texts",
        description="Each item's activation x at --site is placed at (x - A)·(B - A)/|B - A|², "
        "0 at pole A and 1 at pole B. A pole is a concept (--a NAME, its vector at the site) or "
        "a group of texts (--a-texts, their mean activation). --c/--d add a second axis (2-D).",
    )
    add_model_args(p)
    g = p.add_argument_group("items (one of)")
    g.add_argument("--items", help="comma-separated items")
    g.add_argument("--items-file", help="a text file, one item per line")
    g.add_argument(
        "--set", dest="prompt_set", help="a prompt set (built-in name or file): its texts"
    )
    for pole in ("a", "b", "c", "d"):
        p.add_argument(f"--{pole}", help=f"pole {pole.upper()}: a concept name")
        p.add_argument(
            f"--{pole}-texts",
            help=f"pole {pole.upper()}: comma-separated texts, or @FILE (one per line)",
        )
    p.add_argument(
        "--concept",
        action="append",
        default=[],
        metavar="[NAME=]FILE",
        help="a vector file to use as a concept pole by name (repeatable)",
    )
    p.add_argument(
        "--site", required=True, help="where the items are read, e.g. blocks.12.hook_resid_post"
    )
    p.add_argument("--pole-site", help="read concept poles here instead (the result warns)")
    p.add_argument(
        "--position",
        default="last",
        choices=["last", "mean", "mean_skip_first"],
        help="token position read for items and text poles",
    )
    p.add_argument(
        "--template",
        default="{item}",
        help='read each item and pole text inside this text, e.g. "I work as a {item}" (a '
        "one-token item read alone sits on the attention sink)",
    )
    p.add_argument("--batch-size", type=_args.positive_int, default=16)
    p.add_argument(
        "--figure", type=_args.figure_file, help="draw the strip or scatter (PNG, SVG or PDF)"
    )
    p.add_argument("--project", help="store the projection as a run and its figure here")
    add_json_flag(p)
    p.set_defaults(func=_axis)


def _texts(value: str) -> list[str]:
    if value.startswith("@"):
        return [
            t.strip() for t in Path(value[1:]).read_text(encoding="utf-8").splitlines() if t.strip()
        ]
    return [t.strip() for t in value.split(",") if t.strip()]


def _items(args: argparse.Namespace) -> list[str]:
    given = [x for x in (args.items, args.items_file, args.prompt_set) if x]
    if len(given) != 1:
        raise PromptSetError("give the items one way: --items, --items-file or --set.")
    if args.items:
        return _texts(args.items)
    if args.items_file:
        return _texts("@" + args.items_file)
    from workbench.concepts.prompt_sets import resolve_prompt_set

    return resolve_prompt_set(args.prompt_set).all_texts()


def _pole(args: argparse.Namespace, which: str, concepts: dict[str, Any]) -> Any:
    from workbench.concepts.axis import concept_pole, text_pole

    name, texts = getattr(args, which), getattr(args, f"{which}_texts")
    if name and texts:
        raise PromptSetError(f"pole {which.upper()}: give --{which} or --{which}-texts, not both.")
    if texts:
        group = _texts(texts)
        if not group:
            raise PromptSetError(
                f"--{which}-texts {texts!r} holds no text; give comma-separated texts, e.g. "
                f"--{which}-texts 'good,great', or @FILE with one per line."
            )
        label = group[0] if len(group) == 1 else f"{group[0]} (+{len(group) - 1})"
        return text_pole(label, group)
    if name:
        if name not in concepts:
            known = ", ".join(list(concepts)[:8]) or "none (give --project or --concept)"
            raise PromptSetError(f"--{which} {name!r}: no such concept; there are {known}.")
        return concept_pole(concepts[name])
    return None


def _axis(args: argparse.Namespace) -> int:
    from workbench.cli.concepts import _load_concepts
    from workbench.concepts.axis import axis_projection_job
    from workbench.figures import export, render_all
    from workbench.jobs import run, run_with_progress_bar
    from workbench.models.sites import parse_site

    if "{item}" not in args.template:  # what needs no model is refused before it loads
        raise PromptSetError(
            f"--template {args.template!r} must contain {{item}}, e.g. 'I work as a {{item}}'."
        )
    for site in (args.site, args.pole_site):
        if site:
            parse_site(site)
    items = [t for t in _items(args) if t.strip()]
    if not items:
        raise PromptSetError("no items to place: give --items a,b,c, --items-file or --set.")
    concepts = _load_concepts(args) if (args.a or args.b or args.c or args.d) else {}
    a, b, c, d = (_pole(args, w, concepts) for w in "abcd")
    if a is None or b is None:
        raise PromptSetError("give both poles of the axis: --a/--a-texts and --b/--b-texts.")
    if (c is None) != (d is None):
        raise PromptSetError("a second axis needs both --c/--c-texts and --d/--d-texts.")
    hm = load_model_from_args(args)
    job = axis_projection_job(
        hm,
        items,
        (a, b),
        None if c is None else (c, d),
        site=args.site,
        position=args.position,
        pole_site=args.pole_site,
        batch_size=args.batch_size,
        template=args.template.replace("\\n", "\n"),
    )
    r = run(job) if args.json else run_with_progress_bar(job, desc="axis")
    out = r.to_dict()
    spec = r.figure_spec()
    if args.figure:
        out["figure"] = str(export(spec, args.figure))
    if args.project:
        from workbench.store import Project

        settings = {"model": hm.ref.to_dict(), "site": args.site, "position": args.position,
                    "pole_site": args.pole_site, "poles": r.poles, "template": args.template}  # fmt: skip
        with Project.open(args.project, create=True) as project:
            out["run_id"] = project.add_run("axis", spec["title"], settings, r.to_dict())
            out["figure_id"] = project.add_figure(spec["title"], spec, render_all(spec))
        out["project"] = args.project
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print_json(out)
    return 0
