"""``workbench concepts probe`` under perturbation: input noise and quantized weights.

Example::

    workbench concepts probe --set sentiment --layers 0-29 --token-noise 0.1 0.3 \\
        --embed-noise 0.5 1 --bits 8 4 --figure depth.svg --project my.wbproj
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_perturbation_args(p: argparse.ArgumentParser) -> None:
    from workbench.cli import _args

    g = p.add_argument_group("perturbations (concept depth; each adds a curve)")
    g.add_argument(
        "--token-noise",
        nargs="+",
        action="extend",
        default=[],
        metavar="P",
        help="replace each token by a random one with probability P (e.g. 0.1 0.3)",
    )
    g.add_argument(
        "--embed-noise",
        nargs="+",
        action="extend",
        default=[],
        metavar="S",
        help="add Gaussian noise of S times the embeddings' RMS to every token (e.g. 0.5 1)",
    )
    g.add_argument(
        "--bits",
        nargs="+",
        action="extend",
        default=[],
        metavar="B",
        help="round the linear layers' weights of a copy to B bits per channel (e.g. 8 4 3)",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the noise and the folds")
    g.add_argument("--figure", type=_args.figure_file, help="draw the curves (PNG, SVG or PDF)")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.token_noise or args.embed_noise or args.bits or args.figure)


def spec_from_args(args: argparse.Namespace, layers: list[int] | None) -> Any:
    """The DepthSpec the flags describe; its levels are checked here, without a model (so
    ``concepts probe`` calls it before the model loads too)."""
    from workbench.concepts.depth import DepthSpec, parse_levels

    bits = parse_levels(args.bits, "--bits")
    if any(b != int(b) for b in bits):
        from workbench.cli._args import ArgumentError

        raise ArgumentError(f"--bits {bits}: give whole numbers of bits, e.g. 8 4 3.")
    return DepthSpec(
        token_noise=tuple(parse_levels(args.token_noise, "--token-noise")),
        embed_noise=tuple(parse_levels(args.embed_noise, "--embed-noise")),
        bits=tuple(int(b) for b in bits),
        layers=tuple(layers) if layers else None,
        site_kind=args.site_kind,
        position=args.position,
        folds=args.folds or None,
        seed=args.seed,
        batch_size=args.batch_size,
    )


def run_depth(args: argparse.Namespace, ps: Any, hm: Any, layers: list[int] | None) -> int:
    from workbench.cli import print_json
    from workbench.concepts.depth import concept_depth_job
    from workbench.figures import export, render_all
    from workbench.jobs import run, run_with_progress_bar

    spec = spec_from_args(args, layers)
    job = concept_depth_job(hm, ps, spec)
    result = run(job) if args.json else run_with_progress_bar(job, desc="concept depth")
    out = result.to_dict()
    fig = result.figure_spec()
    if args.figure:
        out["figure"] = str(export(fig, args.figure))
    if args.project:
        from workbench.store import Project

        settings = {"model": hm.ref.to_dict(), "prompt_set": ps.name, **spec.to_dict()}
        with Project.open(args.project, create=True) as project:
            out["run_id"] = project.add_run(
                "concept_depth", f"{ps.name} concept depth", settings, result.to_dict()
            )
            out["figure_id"] = project.add_figure(fig["title"], fig, render_all(fig))
        out["project"] = args.project
    print_json(out)
    if not args.json:
        for label, curve in zip(result.labels, result.curves, strict=True):
            L, acc = curve.best
            print(f"{label}: best layer {L} accuracy {acc:.3f}", file=sys.stderr)
    return 0
