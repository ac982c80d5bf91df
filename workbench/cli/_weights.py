"""Per-token weights of a steering vector on the command line (``models generate``,
``concepts sweep``): given per position, or from each token's projection on a probe."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from workbench.cli import _args


def add_weight_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("per-token weights of the steering vector")
    g.add_argument(
        "--token-weights",
        metavar="W,W,...",
        help="weight of the vector at each token position (from the first prompt token), e.g. "
        "0,0,1,1; later positions take --weight-rest",
    )
    g.add_argument(
        "--weight-rest", type=_args.finite_float, default=1.0, help="weight past the list"
    )
    g.add_argument(
        "--weight-probe",
        nargs="?",
        const="self",
        metavar="CONCEPT",
        help="weight each token by sigmoid((x·d - center)/scale), d the probe CONCEPT's unit "
        "vector at the steered site (no name: the steering vector itself)",
    )
    g.add_argument("--weight-center", type=_args.finite_float, default=0.0)
    g.add_argument("--weight-scale", type=_args.positive_float, default=1.0)
    g.add_argument(
        "--weight-invert", action="store_true", help="1 - that weight: steer where it reads low"
    )


def weighting_from_args(
    args: argparse.Namespace,
    probe: Callable[[str], Any] | None = None,
    sites: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The JSON-able weighting (``SteeringSweepSpec.weighting``) the flags describe; ``probe``
    looks a concept up by name and ``sites`` are where its vectors are needed."""
    from workbench.models.token_weights import check_weighting, parse_weights

    if args.token_weights and args.weight_probe:
        raise _args.ArgumentError("give --token-weights or --weight-probe, not both.")
    if args.token_weights:
        return {
            "mode": "given",
            "values": list(parse_weights(args.token_weights)),
            "rest": args.weight_rest,
        }
    if not args.weight_probe:
        return None
    d: dict[str, Any] = {
        "mode": "projection",
        "center": args.weight_center,
        "scale": args.weight_scale,
        "invert": bool(args.weight_invert),
        "probe": args.weight_probe,
    }
    if args.weight_probe != "self":
        if probe is None:
            raise _args.ArgumentError("--weight-probe NAME needs --project or --concept files.")
        c = probe(args.weight_probe)
        missing = [s for s in sites if s not in c.vectors]
        if missing:
            raise _args.ArgumentError(
                f"--weight-probe {args.weight_probe!r} has no vector at {', '.join(missing)}; "
                f"it has {', '.join(c.sites[:6])}."
            )
        d["directions"] = {s: c.vector(s).float().tolist() for s in sites}
    check_weighting(d)
    return d
