"""``workbench models``: list local models, inspect one's sites, try a steered generation."""

from __future__ import annotations

import argparse
from typing import Any

from workbench.cli import (
    _args,
    add_json_flag,
    add_model_args,
    load_model_from_args,
    print_json,
    save_text_generation,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list", help="the embedded default and the models in the local Hugging Face cache"
    )
    add_json_flag(p, always=True)
    p.set_defaults(func=_list)
    p = sub.add_parser("inspect", help="shape, adapter and hook sites of a model")
    add_model_args(p)
    p.add_argument("--sites", action="store_true", help="list every hook site")
    add_json_flag(p, always=True)
    p.set_defaults(func=_inspect)
    p = sub.add_parser("generate", help="baseline and steered continuation of a prompt")
    add_model_args(p)
    p.add_argument("prompt", type=_args.prompt_text)
    p.add_argument("--vector", help="vector file to steer with (safetensors, gguf, pt, npz, ...)")
    p.add_argument("--site", help="site to add the vector at (default: every site the file has)")
    p.add_argument("--coefficient", type=_args.finite_float, default=4.0)
    p.add_argument("--max-new-tokens", type=_args.positive_int, default=32)
    p.add_argument("--sample", action="store_true", help="sample instead of greedy")
    p.add_argument("--temperature", type=_args.positive_float, default=1.0)
    p.add_argument("--seed", type=_args.nonneg_int, default=0)
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the chat template")
    p.add_argument(
        "--concept",
        help="steer with this concept of --project (instead of --vector)",
    )
    p.add_argument(
        "--project",
        help="store the generation in this project (the window's Generations dock lists it)",
    )
    from workbench.cli._weights import add_weight_args

    add_weight_args(p)
    add_json_flag(p)
    p.set_defaults(func=_generate)


def _list(args: argparse.Namespace) -> int:
    from workbench.models.loading import local_sources

    print_json([s.to_dict() | {"label": s.label} for s in local_sources()])
    return 0


def _inspect(args: argparse.Namespace) -> int:
    hm = load_model_from_args(args)
    out = {"model": hm.ref.to_dict(), "adapter": hm.adapter.describe(), "load": hm.info}
    if args.sites:
        out["sites"] = hm.sites()
    print_json(out)
    return 0


def _token_weights(args: argparse.Namespace, concept: Any, sites: list[str]) -> dict[str, Any]:
    """Per-site :class:`TokenWeights` from the flags (None where there are none)."""
    from pathlib import Path

    import torch

    from workbench.cli._weights import weighting_from_args
    from workbench.models.token_weights import token_weights_from_dict

    def probe(name: str) -> Any:
        if Path(name).is_file():
            from workbench.io.vector_files import import_concept

            return import_concept(name)
        if not args.project:
            raise _args.ArgumentError(
                f"--weight-probe {name!r}: give a vector file, or --project with that concept."
            )
        from workbench.store import Project

        with Project.open(args.project, read_only=True) as project:
            return project.load_concept(name)

    w = weighting_from_args(args, probe, sites)
    directions = (w or {}).get("directions") or {}
    return {
        s: token_weights_from_dict(
            w,
            None
            if w is None or w["mode"] != "projection"
            else (torch.tensor(directions[s]) if directions else concept.vector(s)),
        )
        for s in sites
    }


def _generate(args: argparse.Namespace) -> int:
    import sys

    from workbench.jobs import run
    from workbench.models.generation import SamplingSettings, steered_generate_job
    from workbench.models.interventions import AddVector

    concept = None
    if args.vector and args.concept:
        raise _args.ArgumentError("give --vector FILE or --concept NAME, not both.")
    if args.vector:  # read the file before the model: a bad file fails fast
        from workbench.io.vector_files import import_concept

        concept = import_concept(args.vector)
    elif args.concept:
        if not args.project:
            raise _args.ArgumentError("--concept NAME needs --project FILE, the project it is in.")
        from workbench.store import Project

        with Project.open(args.project, read_only=True) as project:
            concept = project.load_concept(args.concept)
    # what needs no model is checked before it loads: the sites, the per-token weights
    sites: list[str] = []
    weights: dict[str, Any] = {}
    if concept is not None:
        sites = [args.site] if args.site else concept.sites
        for site in sites:
            concept.vector(site)  # a site the file does not have: named with the ones it has
        weights = _token_weights(args, concept, sites)
    elif args.token_weights or args.weight_probe:
        raise _args.ArgumentError("per-token weights need a steering --vector or --concept.")
    elif args.site:  # else it would be ignored and both columns unsteered
        raise _args.ArgumentError(
            f"--site {args.site} says where a vector is added: give --vector FILE or --concept NAME."
        )
    hm = load_model_from_args(args)
    ivs = []
    if concept is not None:
        from workbench.io.vector_files import check_for_model

        check_for_model(concept, hm, sites)
        ivs = [
            AddVector(
                s, vector=concept.vector(s), coefficient=args.coefficient, token_weights=weights[s]
            )
            for s in sites
        ]
    n_prompt = len(hm.encode([args.prompt], chat=args.chat)["input_ids"][0])
    _args.check_tokens(hm, n_prompt + args.max_new_tokens, "the prompt plus --max-new-tokens")
    s = SamplingSettings(
        max_new_tokens=args.max_new_tokens,
        do_sample=args.sample,
        temperature=args.temperature,
        seed=args.seed,
        chat=args.chat,
    )
    if not ivs and not args.json:
        print("note: no --vector given, both columns are the unsteered model", file=sys.stderr)
    result = run(steered_generate_job(hm, args.prompt, ivs, s))
    out = {
        "prompt": args.prompt,
        "baseline": result.baseline,
        "steered": result.steered,
        "settings": s.to_dict(),
        "interventions": result.generation.interventions,
    }
    if args.project:
        from workbench.concepts.provenance import text_generation_provenance

        prov = text_generation_provenance(
            hm.ref, concept, [iv.site for iv in ivs], args.coefficient if ivs else 0.0, s
        )
        out["generation_id"] = save_text_generation(args.project, result, prov)
        out["project"] = args.project
    print_json(out)
    return 0
