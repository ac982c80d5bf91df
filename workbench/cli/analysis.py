"""``workbench analysis``: prompt-level analyses of a language model.

Examples::

    workbench analysis logit-lens "The capital of France is" --target " Paris" --figure lens.png
    workbench analysis patch "The capital of France is" "The capital of Italy is" \\
        --target " Paris" --foil " Rome" --component resid_pre --figure patch.png --project p.wbproj

Every command prints its result as JSON on stdout (``--json``: only that), can write its figure
(``--figure FILE``: PNG, SVG or PDF by the extension) and, with ``--project FILE``, stores the
run and its figure in a project.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.cli import _args, add_json_flag, add_model_args, load_model_from_args, print_json
from workbench.models.sites import resid_post


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "logit-lens",
        help="the logit lens of a prompt: top tokens and a target's probability, layer by layer",
        description="Every layer's residual stream at every position, read through the model's "
        "own final norm and unembedding: top tokens, and the probability and rank of a target.",
    )
    add_model_args(p)
    p.add_argument(
        "prompt", type=_args.prompt_text, help="the prompt, e.g. 'The capital of France is'"
    )
    p.add_argument(
        "--target",
        type=_args.word,
        help="a target word, e.g. ' Paris' (its first token is scored)",
    )
    p.add_argument(
        "-k",
        type=_args.count_up_to(LENS_MAX_K, "the top tokens listed per layer and position"),
        default=5,
        help=f"top tokens per cell, 1 to {LENS_MAX_K} (default 5)",
    )
    p.add_argument(
        "--scale",
        choices=("prob", "log10"),
        default="prob",
        help="figure colour: the target's probability or its log10 (shows it forming earlier)",
    )
    _add_common(p)
    p.set_defaults(func=_logit_lens)

    p = sub.add_parser(
        "patch",
        help="activation patching (causal tracing): clean → corrupted at every layer × position",
        description="Run the corrupted prompt with one activation from the clean run put back, "
        "at every layer × position, and read the metric at the last position. The two prompts "
        "need the same number of tokens.",
    )
    add_model_args(p)
    p.add_argument(
        "clean", type=_args.prompt_text, help="the clean prompt, e.g. 'The capital of France is'"
    )
    p.add_argument(
        "corrupted",
        type=_args.prompt_text,
        help="the corrupted prompt, e.g. 'The capital of Italy is'",
    )
    p.add_argument(
        "--target", type=_args.word, required=True, help="the clean answer, e.g. ' Paris'"
    )
    p.add_argument(
        "--foil",
        type=_args.word,
        help="the corrupted answer, e.g. ' Rome' (needed by logit_diff)",
    )
    p.add_argument(
        "--component",
        action="append",
        choices=("resid_pre", "attn_out", "mlp_out"),
        help="what is patched (repeatable; default resid_pre): the residual stream entering "
        "each block, the attention output or the MLP output",
    )
    p.add_argument(
        "--metric", choices=("logit_diff", "logit", "logprob", "prob"), default="logit_diff"
    )
    p.add_argument("--raw", action="store_true", help="figure: the raw metric, not the fraction")
    p.add_argument(
        "--max-rows", type=_args.positive_int, default=64, help="patched runs per forward pass"
    )
    _add_common(p)
    p.set_defaults(func=_patch)
    _register_subspace(sub)

    p = sub.add_parser(
        "dla",
        help="direct logit attribution of every head and every MLP to a target",
        description="Each head's and each MLP's direct effect on the target's logit (minus the "
        "foil's) at the last token, through the final norm (its scale frozen), as a layers × "
        "(heads, MLP) map; the parts add up to the model's own logit difference.",
    )
    add_model_args(p)
    p.add_argument(
        "prompt", nargs="+", type=_args.prompt_text, help="one or more prompts (means over them)"
    )
    p.add_argument("--target", type=_args.word, required=True, help="e.g. ' Paris'")
    p.add_argument("--foil", type=_args.word, help="e.g. ' Rome'")
    _add_common(p)
    p.set_defaults(func=_dla)

    p = sub.add_parser(
        "head-ov",
        help="one head's OV circuit: the output tokens it raises for each input token",
        description="For each input word (one token), the tokens head LAYER.HEAD's effective OV "
        "circuit (through MLP0) raises most over the whole vocabulary.",
    )
    add_model_args(p)
    p.add_argument("--layer", type=_args.index, required=True, help="-1 is the last layer")
    p.add_argument("--head", type=_args.index, required=True, help="-1 is the last head")
    p.add_argument(
        "--tokens",
        default="one,two,three,four,five,Monday,Tuesday,January,February",
        help="comma-separated input words",
    )
    p.add_argument(
        "-k",
        type=_args.count_up_to(HEAD_OV_MAX_K, "the output tokens listed and drawn per input word"),
        default=8,
        help=f"output tokens per input word, 1 to {HEAD_OV_MAX_K} (default 8); each input's own "
        "rank over the whole vocabulary is in the JSON's copy_rank",
    )
    _add_common(p)
    p.set_defaults(func=_head_ov)


# `analysis head-ov -k`: each is a column of the figure and a list entry per input word
HEAD_OV_MAX_K = 100
# `analysis logit-lens -k`: decoded for every layer x position
LENS_MAX_K = 100


def _register_subspace(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "subspace-patch",
        help="patch along a direction, split into the part the next layer reads and the rest",
        description="Patch the clean activation into the corrupted run at one site, layer and "
        "position: whole, along a direction v, along v's component in the row space of the "
        "weights that read the site, and along its component outside (the interpretability-"
        "illusion control of Makelov et al.), beside the clean and corrupted baselines.",
    )
    add_model_args(p)
    p.add_argument("clean", type=_args.prompt_text)
    p.add_argument("corrupted", type=_args.prompt_text)
    p.add_argument("--target", type=_args.word, required=True)
    p.add_argument("--foil", type=_args.word)
    p.add_argument(
        "--layer", type=_args.index, required=True, help="block index (negative: from the end)"
    )
    p.add_argument(
        "--site",
        choices=("mlp_post", "resid_post"),
        default="mlp_post",
        help="mlp_post: the MLP's hidden activations, read by its down projection; "
        "resid_post: the block output (the residual stream: every later block reads it, so it "
        "has no nullspace and v is split only after the last block, against the unembedding)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--direction-pair",
        nargs=2,
        type=_args.prompt_text,
        metavar=("A", "B"),
        help="the direction: activation of prompt A minus prompt B at the same site and "
        "position (default: the patched pair's own difference)",
    )
    g.add_argument(
        "--concept",
        help="the direction: this concept's vector at blocks.LAYER.hook_resid_post, read from "
        "--project (resid_post only)",
    )
    p.add_argument("--position", type=int, help="default: the first token that differs")
    p.add_argument(
        "--metric", choices=("logit_diff", "logit", "logprob", "prob"), default="logit_diff"
    )
    _add_common(p)
    p.set_defaults(func=_subspace)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--figure", help="write the figure to this file (.png, .svg or .pdf)")
    p.add_argument("--project", help="store the run and its figure in this project file")
    p.add_argument("--name", help="the stored run's name")
    add_json_flag(p)


def _check_figure(args: argparse.Namespace) -> None:
    from pathlib import Path

    from workbench.errors import WorkbenchError

    if args.figure and Path(args.figure).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise WorkbenchError(f"{args.figure}: write the figure as .png, .svg or .pdf.")
    if args.figure and not Path(args.figure).resolve().parent.is_dir():
        raise WorkbenchError(f"{Path(args.figure).parent} does not exist: create it first.")


def _check_foil(args: argparse.Namespace) -> None:
    """The logit difference needs the foil; say so before the model loads."""
    if args.metric == "logit_diff" and not args.foil:
        raise _args.ArgumentError(
            "--metric logit_diff (the default) needs --foil, the corrupted prompt's answer "
            "(e.g. --foil ' Rome'); or choose --metric prob, logprob or logit."
        )


def _finish(args: argparse.Namespace, result: Any, spec: dict[str, Any], out: dict) -> int:
    """Write the figure, store run + figure in the project, print the JSON."""
    if args.figure:
        from workbench.figures import export

        out["figure"] = str(export(spec, args.figure))
    if args.project:
        from workbench.figures import render_all
        from workbench.store import Project

        d = result.to_dict()
        name = args.name or f"{spec['title'].splitlines()[0]}"
        with Project.open(args.project, create=True) as project:
            rid = project.add_run(result.kind, name, d.get("settings", {}), d)
            fid = project.add_figure(f"{name} (run {rid})", {**spec, "run_id": rid},
                                     render_all(spec))  # fmt: skip
        out |= {"run_id": rid, "figure_id": fid, "project": args.project}
        if not args.json:
            print(f"saved run {rid} and figure {fid} to {args.project}", file=sys.stderr)
    if getattr(result, "note", "") and not args.json:
        print(f"note: {result.note}", file=sys.stderr)
    print_json(out)
    return 0


def _logit_lens(args: argparse.Namespace) -> int:
    from workbench.analysis import logit_lens_job
    from workbench.jobs import run_with_progress_bar

    _check_figure(args)
    hm = load_model_from_args(args)
    lens = run_with_progress_bar(logit_lens_job(hm, args.prompt, args.target, args.k, args.scale),
                                 desc="logit lens")  # fmt: skip
    out = {"kind": lens.kind, "prompt": lens.prompt, "tokens": lens.tokens,
           "target": lens.target, "target_token": lens.target_token, "note": lens.note,
           "last_position": lens.summary(), "model": hm.ref.to_dict()}  # fmt: skip
    return _finish(args, lens, lens.figure_spec(), out)


def _patch(args: argparse.Namespace) -> int:
    from workbench.analysis import activation_patching_job
    from workbench.jobs import run_with_progress_bar

    _check_figure(args)
    comps = args.component or ["resid_pre"]
    if args.figure and len(comps) > 1:
        from workbench.errors import WorkbenchError

        raise WorkbenchError("--figure takes one --component; run once per component.")
    _check_foil(args)
    hm = load_model_from_args(args)
    results = []
    for comp in comps:
        job = activation_patching_job(hm, args.clean, args.corrupted, args.target, args.foil,
                                      comp, args.metric, args.max_rows)  # fmt: skip
        results.append(run_with_progress_bar(job, desc=f"patching {comp}"))
    outs = []
    for res in results:
        spec = res.figure_spec(normalized=not args.raw)
        out = {"kind": res.kind, "component": res.component, "metric": res.metric,
               "clean_metric": res.clean_metric, "corrupted_metric": res.corrupted_metric,
               "best_cells": res.best(5), "tokens": res.clean_tokens,
               "corrupted_tokens": res.corrupted_tokens, "values": res.values,
               "note": res.note}  # fmt: skip
        if len(results) == 1:
            return _finish(args, res, spec, out | {"model": hm.ref.to_dict()})
        outs.append(out)
        if args.project:
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                _finish(args, res, spec, out)
    print_json({"results": outs, "model": hm.ref.to_dict()})
    return 0


def _subspace(args: argparse.Namespace) -> int:
    from workbench.analysis.subspace import subspace_patching_job
    from workbench.errors import WorkbenchError
    from workbench.jobs import run_with_progress_bar

    _check_figure(args)
    if args.concept and (not args.project or args.site != "resid_post"):
        raise WorkbenchError("--concept reads the concept from --project, at --site resid_post.")
    _check_foil(args)
    concept = None
    if args.concept:  # a name the project lacks: said before the model loads
        from workbench.store import Project

        with Project.open(args.project, read_only=True) as project:
            concept = project.load_concept(args.concept)
    hm = load_model_from_args(args)
    layer = _args.check_layer(hm, args.layer)
    direction = None
    if concept is not None:
        site = resid_post(layer)
        if site not in concept.vectors:
            raise WorkbenchError(
                f"The concept {args.concept!r} has no vector at {site}; it has "
                f"{', '.join(concept.vectors)}. Choose --layer to match one."
            )
        direction = concept.vectors[site]
    job = subspace_patching_job(
        hm, args.clean, args.corrupted, args.target, args.foil, layer=layer, site=args.site,
        direction=direction, direction_pair=tuple(args.direction_pair) if args.direction_pair
        else None, position=args.position, metric=args.metric,
        direction_name=args.concept or "",
    )  # fmt: skip
    res = run_with_progress_bar(job, desc="subspace patching")
    out = {k: v for k, v in res.to_dict().items() if k != "settings"}
    return _finish(args, res, res.figure_spec(), out)


def _dla(args: argparse.Namespace) -> int:
    from workbench.analysis.components import layer_attribution_job
    from workbench.jobs import run_with_progress_bar

    _check_figure(args)
    hm = load_model_from_args(args)
    res = run_with_progress_bar(
        layer_attribution_job(hm, args.prompt, args.target, args.foil), desc="attribution"
    )
    out = res.to_dict()
    out.pop("settings")
    out["top_mlps"] = [{"layer": L, "dla": v} for L, v in res.top_mlps(5)]
    return _finish(args, res, res.figure_spec(), out)


def _head_ov(args: argparse.Namespace) -> int:
    from workbench.analysis.components import head_ov_job
    from workbench.jobs import run_with_progress_bar

    _check_figure(args)
    words = [w.strip() for w in args.tokens.split(",") if w.strip()]
    if not words:
        raise _args.ArgumentError(
            f"--tokens {args.tokens!r} holds no word; give comma-separated words, e.g. "
            "--tokens one,two,Monday."
        )
    hm = load_model_from_args(args)
    layer = _args.check_layer(hm, args.layer)
    head = _args.check_head(hm, args.head)
    _args.check_top_k(hm, args.k)
    res = run_with_progress_bar(head_ov_job(hm, layer, head, words, args.k), desc="OV circuit")
    out = res.to_dict()
    out.pop("settings")
    if res.skipped and not args.json:
        print(f"note: not one token, left out: {', '.join(res.skipped)}", file=sys.stderr)
    return _finish(args, res, res.figure_spec(), out)
