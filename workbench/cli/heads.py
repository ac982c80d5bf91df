"""``workbench heads``: score heads, look at patterns, compare head sets, build function vectors.

workbench heads score --kind induction --output induction.json
workbench heads score --kind ablation --prompts task.jsonl --format csv
workbench heads pattern "Monday Tuesday Monday" --layer 18 --head 6 --figure p.png
workbench heads compare a.json b.json -k 10
workbench heads function-vector --k 10 --layer 9 --project study.wbproj
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from workbench.cli import add_model_args, load_model_from_args, print_json
from workbench.errors import PromptSetError
from workbench.heads.kinds import SCORE_KINDS as KINDS  # torch-free: every --help builds this


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="a layer × head score map (JSON or CSV)")
    add_model_args(p)
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--prompts", help="pattern scores: texts (.txt one per line, .json list); task scores: "
                   "records with prompt,target[,foil][,corrupted] (.json, .jsonl, .csv)")  # fmt: skip
    p.add_argument(
        "--n-seqs", type=int, default=8, help="random repeated sequences (pattern scores)"
    )
    p.add_argument("--seq-len", type=int, default=32, help="tokens per half of a repeated sequence")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sequences", help="successor: ordinal sequences, one comma-separated sequence per line"
    )
    p.add_argument("--n-tokens", type=int, default=200, help="copying: tokens sampled")
    p.add_argument("--top-k", type=int, default=1, help="copying: count a token in its row's top k")
    p.add_argument("--metric", choices=("logit_diff", "logit", "logprob", "prob"))
    p.add_argument("--mode", choices=("zero", "mean"), default="zero", help="ablation")
    p.add_argument(
        "--positions", choices=("all", "last"), default="all", help="patching / attribution"
    )
    p.add_argument(
        "--source", choices=("paired", "mean"), default="paired", help="patching / attribution"
    )
    p.add_argument("--no-normalize", action="store_true", help="patching: raw metric change")
    p.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="rows (variants x prompts) per batch in ablation and patching sweeps "
        "(default: about 16k token positions)",
    )
    _add_output_args(p)
    p.set_defaults(func=_score)

    p = sub.add_parser("pattern", help="attention pattern of one head on a prompt, with tokens")
    add_model_args(p)
    p.add_argument("prompt")
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--head", type=int, required=True)
    p.add_argument("--figure", help="also draw it (PNG, SVG or PDF)")
    p.set_defaults(func=_pattern)

    p = sub.add_parser("top-tokens", help="the tokens a head attends to most over a prompt set")
    add_model_args(p)
    p.add_argument("--prompts", required=True, help="texts (.txt one per line, .json list)")
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--head", type=int, required=True)
    p.add_argument("-k", type=int, default=20)
    p.set_defaults(func=_top_tokens)

    p = sub.add_parser("figure", help="draw a score file as a heat map (PNG, SVG or PDF)")
    p.add_argument("scores", help="a JSON file written by `heads score`")
    p.add_argument("output")
    p.add_argument("--title", default="")
    p.set_defaults(func=_figure)

    p = sub.add_parser("compare", help="overlap and Jaccard index of two head sets or score files")
    p.add_argument("a", help="head-set JSON or score JSON (its top k)")
    p.add_argument("b")
    p.add_argument("-k", type=int, default=10)
    p.set_defaults(func=_compare)

    p = sub.add_parser("function-vector", help="function vector of an in-context task")
    add_model_args(p)
    p.add_argument("--task", default="antonyms", help="built-in demonstrations set or a file")
    p.add_argument("--template", default="Q: {input}\\nA: {output}", help="one demonstration")
    p.add_argument("--separator", default="\\n\\n", help="between demonstrations")
    p.add_argument("--heads", help="e.g. L9H3,L12H4 (default: top --k by indirect effect)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--select", choices=("attribution", "patching"), default="attribution",
                   help="how to estimate each head's indirect effect")  # fmt: skip
    p.add_argument("--layer", type=int, help="layer to add it at (default n_layers // 3)")
    p.add_argument("--coefficient", type=float, default=1.0)
    p.add_argument("--sweep", action="store_true",
                   help="pick layer and coefficient on the training words")  # fmt: skip
    p.add_argument("--n-prompts", type=int, default=24)
    p.add_argument("--n-shots", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="concept name (default fv:<task>)")
    p.add_argument("--project", help="save the concept and the head scores into this project")
    p.set_defaults(func=_function_vector)


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=("json", "csv"), default=None, help="default: from --output, else json"
    )
    p.add_argument("--output", "-o", help="write here instead of stdout")
    p.add_argument(
        "--project", help="also store the result in this project file (created if missing)"
    )
    p.add_argument("--name", help="run name in the project (default: the kind)")


# ------------------------------------------------------------------ readers
def read_texts(path: str) -> list[str]:
    """Texts from a ``.json`` list (of strings or of ``{"text": ...}``) or one per line."""
    p = Path(path)
    raw = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        data = json.loads(raw)
        items = data.get("texts", data) if isinstance(data, dict) else data
        texts = [t["text"] if isinstance(t, dict) else str(t) for t in items]
    else:
        texts = [line for line in raw.splitlines() if line.strip()]
    if not texts:
        raise PromptSetError(f"{path}: no prompts found.")
    return texts


def read_task(path: str) -> Any:
    """A task file: JSON (a list of records or a TaskPrompts dict), JSON Lines or CSV."""
    from workbench.heads.data import TaskPrompts

    p = Path(path)
    raw = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
    elif suffix in (".csv", ".tsv"):
        rows = list(csv.DictReader(raw.splitlines(), delimiter="\t" if suffix == ".tsv" else ","))
    else:
        data = json.loads(raw)
        if isinstance(data, dict) and "prompts" in data:
            return TaskPrompts(
                **{
                    k: data[k]
                    for k in ("prompts", "targets", "foils", "corrupted", "name")
                    if k in data
                }
            )
        rows = data
    return TaskPrompts.from_records(rows, name=p.stem)


def read_sequences(path: str) -> list[list[str]]:
    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    return [[w.strip() for w in ln.split(",") if w.strip()] for ln in lines]


# ------------------------------------------------------------------ commands
def _score(args: argparse.Namespace) -> int:
    from workbench.heads.kinds import TASK_KINDS
    from workbench.heads.score import ScoreSpec, score_job
    from workbench.jobs import run_with_progress_bar

    spec = ScoreSpec(
        args.kind, n_seqs=args.n_seqs, seq_len=args.seq_len, seed=args.seed, n_tokens=args.n_tokens,
        top_k=args.top_k, metric=args.metric, mode=args.mode, positions=args.positions,
        source=args.source, normalize=not args.no_normalize, max_rows=args.max_rows,
    )  # fmt: skip
    if args.prompts:
        if args.kind in TASK_KINDS:
            spec.task = read_task(args.prompts)
        else:
            spec.prompts = read_texts(args.prompts)
    if args.sequences:
        spec.sequences = read_sequences(args.sequences)
    hm = load_model_from_args(args, attn="sdpa")
    scores = run_with_progress_bar(score_job(hm, spec), desc=f"{args.kind} scores")
    _emit(scores, args)
    return 0


def _emit(scores: Any, args: argparse.Namespace) -> None:
    fmt = args.format or ("csv" if args.output and args.output.lower().endswith(".csv") else "json")
    text = scores.to_csv() if fmt == "csv" else scores.to_json() + "\n"
    top = ", ".join(f"L{L}H{h}={v:.3f}" for L, h, v in scores.top(5))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({scores.kind}; top: {top})", file=sys.stderr)
    else:
        sys.stdout.write(text)
        # the summary goes to stderr, so `> scores.json` or a pipe still gets clean JSON
        print(f"{scores.kind}: top heads {top}", file=sys.stderr)
    if args.project:
        from workbench.store import Project

        with Project.open(args.project, create=True) as project:
            run_id = scores.save_to_project(project, args.name or scores.kind)
        print(f"saved run {run_id} to {args.project}", file=sys.stderr)


def _pattern(args: argparse.Namespace) -> int:
    from workbench.heads.patterns import attention_patterns

    hm = load_model_from_args(args)
    view = attention_patterns(hm, args.prompt, [args.layer])
    if args.figure:
        from workbench.heads.figures import figure_pattern

        figure_pattern(
            view.head(args.layer, args.head), view.tokens, f"L{args.layer}H{args.head}"
        ).savefig(args.figure)
    print_json(view.to_dict(args.layer, args.head))
    return 0


def _top_tokens(args: argparse.Namespace) -> int:
    from workbench.heads.patterns import top_attended_tokens_job
    from workbench.jobs import run_with_progress_bar

    hm = load_model_from_args(args)
    top = run_with_progress_bar(
        top_attended_tokens_job(hm, read_texts(args.prompts), args.layer, args.head, args.k),
        desc="patterns",
    )
    d = top.to_dict()
    d.pop("examples")
    print_json(d)
    return 0


def _figure(args: argparse.Namespace) -> int:
    from workbench.heads.figures import figure_head_map
    from workbench.heads.result import HeadScores

    figure_head_map(HeadScores.load(args.scores), args.title).savefig(args.output)
    return 0


def _head_set(path: str, k: int) -> Any:
    from workbench.heads.headset import HeadSet, top_k
    from workbench.heads.result import HeadScores

    d = json.loads(Path(path).read_text(encoding="utf-8"))
    if d.get("format") == "workbench.head_scores":
        return top_k(HeadScores.from_dict(d), k, name=Path(path).stem)
    return HeadSet.from_dict(d)


def _compare(args: argparse.Namespace) -> int:
    from workbench.heads.headset import compare_head_sets

    print_json(compare_head_sets(_head_set(args.a, args.k), _head_set(args.b, args.k)).to_dict())
    return 0


def _icl_task(args: argparse.Namespace) -> Any:
    from workbench.heads.data import antonym_pairs
    from workbench.heads.function_vector import ICLTask

    template = args.template.replace("\\n", "\n")
    separator = args.separator.replace("\\n", "\n")
    if args.task == "antonyms":
        return ICLTask("antonyms", antonym_pairs(), template, separator)
    from workbench.concepts.prompt_sets import resolve_prompt_set

    ps = resolve_prompt_set(args.task, kind="demonstrations")
    pairs = list(zip(ps.inputs, ps.outputs, strict=True))
    return ICLTask(ps.name, pairs, template, separator)


def _function_vector(args: argparse.Namespace) -> int:
    from workbench.heads import (
        attribution_scores_job,
        function_vector_job,
        fv_head_scores_job,
        icl_prompts,
        parse_heads,
        sweep_function_vector_job,
        top_k,
        zero_shot_accuracy,
    )  # fmt: skip
    from workbench.jobs import run_with_progress_bar

    hm = load_model_from_args(args)
    train, test = _icl_task(args).split(0.3, args.seed)
    prompts = icl_prompts(train, args.n_prompts, args.n_shots, args.seed)
    scores = None
    if args.heads:
        heads = parse_heads(args.heads)
    else:
        if args.select == "patching":
            job = fv_head_scores_job(hm, prompts)
        else:
            job = attribution_scores_job(
                hm, prompts, metric="prob", positions="last", source="mean", normalize=False
            )
        scores = run_with_progress_bar(job, desc="indirect effects")
        heads = top_k(scores, args.k).heads
    fv = run_with_progress_bar(
        function_vector_job(hm, heads, prompts, args.layer, train.name), desc="function vector"
    )
    coefficient = args.coefficient
    sweep = None
    if args.sweep:
        layers = list(range(2, hm.n_layers - 1, 2))
        sweep_job = sweep_function_vector_job(hm, fv, train, layers, [1.0, 2.0, 4.0])
        sweep = run_with_progress_bar(sweep_job, desc="layer sweep")
        fv.layer, coefficient = sweep["best_layer"], sweep["best_coefficient"]
    base = zero_shot_accuracy(hm, test)
    steered = zero_shot_accuracy(hm, test, fv.vector, fv.layer, coefficient)
    concept = fv.to_concept(args.name, coefficient)
    out = {
        "task": args.task, "heads": [list(h) for h in heads], "layer": fv.layer,
        "coefficient": coefficient, "held_out_words": len(test.pairs),
        "zero_shot_accuracy": base, "with_function_vector": steered,
        "norm": float(fv.vector.norm()), "concept": concept.name,
    }  # fmt: skip
    if sweep is not None:
        out["sweep_on_training_words"] = sweep
    if args.project:
        from workbench.store import Project

        with Project.open(args.project, create=True) as project:
            project.add_concept(concept)
            if scores is not None:
                scores.save_to_project(project, f"{args.task} indirect effect")
        out["project"] = args.project
    print_json(out)
    return 0
