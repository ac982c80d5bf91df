"""``workbench heads successor``: one head's OV table, mod-10 features and vector arithmetic.

Example::

    workbench heads successor --head L23H3 --project my.wbproj --figure successor.png
"""

from __future__ import annotations

import argparse
import sys

from workbench.cli import _args, add_json_flag, add_model_args, load_model_from_args, print_json


def register(sub: argparse._SubParsersAction) -> None:
    from workbench.heads.successor import FORMS, METHODS

    p = sub.add_parser(
        "successor",
        help="a head's OV table on ordinal sequences, mod-10 features, vector arithmetic",
        description="Successor heads (Gould et al. 2023) in the effective embedding space: the "
        "head's top output tokens for each token of the ordinal sequences; directions that "
        "separate numbers by last digit, checked on held-out numbers; and e - f_a + f_b through "
        "the head (success rate beside the unedited successor rate and a random-direction "
        "control).",
    )
    add_model_args(p)
    p.add_argument("--head", help="e.g. L23H3 (default: the head with the best successor score)")
    p.add_argument(
        "--max-number", type=_args.positive_int, default=100, help="numbers 0..N-1 (N <= 100)"
    )
    p.add_argument(
        "--forms",
        default=",".join(FORMS),
        help=f"number forms to look up as single tokens: {', '.join(FORMS)}",
    )
    p.add_argument(
        "--methods", default=",".join(METHODS), help=f"mod-10 probes: {', '.join(METHODS)}"
    )
    p.add_argument(
        "-k",
        type=_args.count_up_to(100, "the top tokens listed per row"),
        default=5,
        help="top tokens per row, 1 to 100 (default 5)",
    )
    p.add_argument("--seed", type=_args.nonneg_int, default=0, help="seed of the control edit")
    p.add_argument("--figure", type=_args.figure_file, help="draw the OV map (PNG, SVG or PDF)")
    p.add_argument("--project", help="store the analysis as a run and its figure in this project")
    add_json_flag(p)
    p.set_defaults(func=_successor)


def _split(text: str, flag: str, allowed: tuple[str, ...]) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise _args.ArgumentError(f"{flag} {text!r}: choose from {', '.join(allowed)}.")
    return items


def _successor(args: argparse.Namespace) -> int:
    from workbench.figures import export, render_all
    from workbench.heads.headset import parse_heads
    from workbench.heads.successor import FORMS, METHODS, successor_analysis_job
    from workbench.jobs import run, run_with_progress_bar

    forms = _split(args.forms, "--forms", FORMS)
    methods = _split(args.methods, "--methods", METHODS)
    layer = head = None
    if args.head:
        try:
            heads = parse_heads(args.head)
        except ValueError as e:
            raise _args.ArgumentError(f"--head: {e}") from None
        if len(heads) != 1:
            raise _args.ArgumentError(f"--head {args.head!r}: give one head, e.g. L23H3.")
        layer, head = heads[0]
    if not 2 <= args.max_number <= 100:
        raise _args.ArgumentError(f"--max-number {args.max_number}: give 2 to 100.")
    hm = load_model_from_args(args)
    _args.check_top_k(hm, args.k)
    if layer is not None and head is not None:
        layer = _args.check_layer(hm, layer, f"--head {args.head}: layer")
        head = _args.check_head(hm, head, f"--head {args.head}: head")
    job = successor_analysis_job(
        hm,
        layer,
        head,
        max_number=args.max_number,
        forms=forms,
        methods=methods,
        k=args.k,
        seed=args.seed,
    )
    r = run(job) if args.json else run_with_progress_bar(job, desc="successor")
    out = r.to_dict()
    spec = r.figure_spec()
    if args.figure:
        out["figure"] = str(export(spec, args.figure))
    if args.project:
        from workbench.store import Project

        with Project.open(args.project, create=True) as project:
            out["run_id"] = project.add_run(
                "successor", f"{r.label} successor analysis", r.settings, r.to_dict()
            )
            out["figure_id"] = project.add_figure(spec["title"], spec, render_all(spec))
        out["project"] = args.project
    print_json(out)
    if not args.json:
        a, p = r.arithmetic, r.probe
        accs = ", ".join(f"{m} {v:.3f}" for m, v in p.accuracy.items())
        print(
            f"{r.label}: mod-10 on {p.n_numbers} held-out numbers ({p.n_tokens} tokens): {accs} "
            f"(chance {p.chance:.3f}); arithmetic {a.success_rate:.3f} of {a.n_edits} edits "
            f"(control {a.control_rate:.3f}, unedited successor {a.successor_rate:.3f})",
            file=sys.stderr,
        )
    return 0
