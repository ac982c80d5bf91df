"""``workbench concepts sweep``: the layer × coefficient steering sweep on a prompt or a set.

Examples::

    workbench concepts sweep happy --project my.wbproj --layers 4,8,12 --coefficients -8 -4 0 4 8 \\
        --prompt "I think the movie was" --targets great,terrible
    workbench concepts sweep "fv:antonyms" --project study.wbproj --set antonyms --held-out \\
        --template "Q: {input}\\nA: {output}" --positions last_prompt --layers 10-16 \\
        --coefficients 1 2 4 --max-new-tokens 3 --vector-site blocks.14.hook_resid_post
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.cli import _args, add_json_flag, add_model_args, load_model_from_args, print_json
from workbench.errors import PromptSetError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="steer a prompt or a prompt set over layers × coefficients, with metrics",
        description="Every layer × coefficient variant of a concept on every prompt, as rows of "
        "one batch: texts, KL to the unsteered run, target log-prob, task accuracy "
        "(demonstration sets) and the base model's perplexity of the steered text.",
    )
    add_model_args(p)
    p.add_argument(
        "concept",
        help="a concept name (from --project or --concept files) or an expression over them, "
        'e.g. "happy - 0.5*sad"',
    )
    p.add_argument(
        "--concept",
        dest="concept_files",
        action="append",
        default=[],
        metavar="[NAME=]FILE",
        help="a vector file to use by name (repeatable)",
    )
    p.add_argument(
        "--prompt",
        action="append",
        default=[],
        type=_args.prompt_text,
        help="a prompt (repeatable)",
    )
    p.add_argument(
        "--set",
        dest="prompt_set",
        help="a prompt set (built-in name or file); a demonstration set sweeps its zero-shot "
        "queries and measures accuracy against its outputs",
    )
    p.add_argument("--kind", help="kind of --set file when it cannot be guessed")
    p.add_argument(
        "--template",
        help='demonstration sets: write each query in this template, e.g. "Q: {input}\\nA: '
        "{output}\" (default: the set's own)",
    )
    p.add_argument(
        "--held-out",
        action="store_true",
        help="demonstration sets: only the words the concept held out when it was made (a "
        "function vector's recipe lists them)",
    )
    p.add_argument(
        "--positions",
        default=None,
        choices=["all", "prompt", "last_prompt"],
        help="token positions the vector is added at (default: all; a function vector on a "
        "demonstration set: last_prompt, as its accuracy was measured)",
    )
    p.add_argument("--layers", required=True, help="e.g. 12, 10-14, 4,8,12 or all")
    p.add_argument(
        "--coefficients",
        required=True,
        nargs="+",
        action="extend",
        help="finite numbers, e.g. --coefficients -8 -4 0 4 8 (or --coefficients=-8,-4,0,4,8)",
    )
    from workbench.cli.concepts import add_site_kind_arg

    add_site_kind_arg(p)
    p.add_argument(
        "--vector-site",
        help="add the concept's vector at this site at every swept layer (e.g. a function "
        "vector, stored at the one layer it was made for)",
    )
    p.add_argument("--targets", default="", help="comma-separated target words (log-prob metric)")
    p.add_argument("--max-new-tokens", type=_args.positive_int, default=16)
    p.add_argument("--seed", type=_args.nonneg_int, default=0)
    p.add_argument("--chat", action="store_true", help="wrap prompts in the chat template")
    p.add_argument(
        "--max-rows", type=_args.positive_int, default=None, help="rows per batch (memory)"
    )
    p.add_argument("--project", help="store the sweep and its generations in this project")
    from workbench.cli._cluster import add_cluster_arg

    add_cluster_arg(p)
    from workbench.cli._weights import add_weight_args

    add_weight_args(p)
    add_json_flag(p)
    p.set_defaults(func=_sweep)


def _coefficients(items: list[str]) -> list[float]:
    try:
        return [_args.finite_float(x) for it in items for x in it.split(",") if x.strip()]
    except argparse.ArgumentTypeError as e:
        raise PromptSetError(f"--coefficients: {e}") from None


def _resolve_concept(args: argparse.Namespace) -> Any:
    from workbench.cli.concepts import _load_concepts
    from workbench.concepts.algebra import evaluate

    ns = argparse.Namespace(project=args.project, concept=args.concept_files)
    concepts = _load_concepts(ns)
    if args.concept in concepts:
        return concepts[args.concept]
    if not concepts:
        raise PromptSetError(
            f"no concept named {args.concept!r}: give --project FILE (its concepts are used by "
            "name) or --concept NAME=FILE."
        )
    return evaluate(args.concept, concepts)


def _weighting(
    args: argparse.Namespace, layers: list[int], probes: dict[str, Any]
) -> dict[str, Any] | None:
    """Per-token weights from the flags; a probe concept is looked up like the steered one,
    once (``probes`` keeps it for a second call with the model's own layers)."""
    from workbench.cli._weights import weighting_from_args
    from workbench.models.sites import site_name

    def probe(name: str) -> Any:
        if name not in probes:
            probes[name] = _resolve_concept(argparse.Namespace(**{**vars(args), "concept": name}))
        return probes[name]

    sites = [site_name(args.site_kind, L) for L in layers]
    return weighting_from_args(args, probe, sites)


def _sweep(args: argparse.Namespace) -> int:
    from workbench.cli.concepts import parse_layers
    from workbench.concepts.prompt_sets import resolve_prompt_set
    from workbench.concepts.steering_sweep import (
        SteeringSweepSpec,
        default_vector_site,
        prompts_from_set,
        steering_sweep_job,
        sweep_prompts_for,
    )
    from workbench.jobs import run, run_with_progress_bar
    from workbench.models.generation import SamplingSettings

    coefficients = _coefficients(args.coefficients)
    if not coefficients:
        raise PromptSetError("--coefficients: give at least one number, e.g. -4 0 4.")
    every_layer = args.layers.strip() == "all"
    early_layers = [] if every_layer else parse_layers(args.layers)  # its syntax, now
    if not every_layer and not early_layers:
        raise PromptSetError("--layers is empty; give layers, e.g. 12, 10-14, 4,8,12 or all.")
    concept = _resolve_concept(args)
    if args.vector_site:
        concept.vector(args.vector_site)  # a site it lacks: named with the ones it has
    prompts: list[str] = list(args.prompt)
    answers: list[str] = []
    positions = args.positions or "all"
    notes = []
    if args.prompt_set:
        if prompts:
            raise PromptSetError("give --prompt or --set, not both.")
        ps = resolve_prompt_set(args.prompt_set, kind=args.kind)
        if args.held_out or args.template or args.positions:
            held = None
            if args.held_out:
                held = (concept.recipe.get("held_out") or {}).get("words")
                if not held:
                    raise PromptSetError(
                        f"{concept.name!r} records no held-out words (only function vectors "
                        "made by this version do); leave out --held-out."
                    )
            template = args.template.replace("\\n", "\n") if args.template else None
            prompts, answers = prompts_from_set(ps, template=template, inputs=held)
        else:  # as the window does: a function vector as its held-out accuracy was measured
            chosen = sweep_prompts_for(concept, ps)
            prompts, answers, positions = chosen.prompts, chosen.answers, chosen.positions
            notes.append(chosen.note)
    elif args.held_out or args.template:
        raise PromptSetError("--held-out and --template go with --set (a demonstrations set).")
    if not prompts:
        raise PromptSetError("give prompts: --prompt TEXT (repeatable) or --set NAME|FILE.")
    probes: dict[str, Any] = {}
    weighting = _weighting(args, early_layers, probes)  # the weights' syntax and probe, now
    hm = load_model_from_args(args)
    layers = parse_layers(args.layers, hm.n_layers)
    if layers != early_layers:
        weighting = _weighting(args, layers, probes)
    vector_site = args.vector_site or default_vector_site(concept, args.site_kind, layers)
    if vector_site and not args.vector_site:
        notes.append(f"the vector of {vector_site} is added at every layer")
    if notes and not args.json:
        print("note: " + "; ".join(notes) + ".", file=sys.stderr)
    spec = SteeringSweepSpec(
        layers=tuple(layers),
        coefficients=tuple(coefficients),
        prompts=tuple(prompts),
        site_kind=args.site_kind,
        targets=tuple(t for t in args.targets.split(",") if t.strip()),
        answers=tuple(answers),
        settings=SamplingSettings(
            max_new_tokens=args.max_new_tokens, seed=args.seed, chat=args.chat
        ),
        max_rows=args.max_rows,
        vector_site=vector_site,
        positions=positions,
        weighting=weighting,
    )
    spec.check(hm, concept)
    cluster = None
    if args.cluster:
        from workbench.cluster import Cluster

        cluster = Cluster(args.cluster)
    try:
        job = steering_sweep_job(hm, concept, spec, cluster=cluster)
        result = run(job) if args.json else run_with_progress_bar(job, desc="sweep")
    finally:
        if cluster is not None:
            from workbench.cli._cluster import report

            report(cluster, args.json)
            cluster.close()
    out = result.to_dict()
    if args.project:
        from workbench.store import Project

        with Project.open(args.project, create=True) as project:
            out["run_id"] = result.save_to_project(project, hm.ref, concept)
        out["project"] = args.project
    print_json(out)
    if not args.json:
        _print_table(result)
    return 0


def _print_table(r: Any) -> None:
    """A readable grid of the first metric on stderr (stdout holds the JSON)."""
    from workbench.concepts.sweep_metrics import METRICS

    key = "accuracy" if "accuracy" in r.metrics else "kl"
    print(f"{METRICS[key][0]} (rows: layers, columns: coefficients)", file=sys.stderr)
    print("layer " + " ".join(f"{c:>8g}" for c in r.coefficients), file=sys.stderr)
    for i, layer in enumerate(r.layers):
        cells = " ".join(f"{v:8.3f}" for v in r.metrics[key][i])
        print(f"{layer:>5} {cells}", file=sys.stderr)
    base = r.baseline_metrics.get(key)
    if base is not None:
        print(f"unsteered: {base:.3f}", file=sys.stderr)
