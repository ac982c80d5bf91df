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

from workbench.cli import (
    _args,
    add_json_flag,
    add_model_args,
    load_model_from_args,
    print_json,
    save_new_concept,
)
from workbench.errors import PromptSetError
from workbench.heads.kinds import SCORE_KINDS as KINDS  # torch-free: every --help builds this


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="a layer × head score map (JSON or CSV)")
    add_model_args(p)
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--prompts", help="pattern scores: texts (.txt one per line, .json list); task scores: "
                   "records with prompt,target[,foil][,corrupted] (.json, .jsonl, .csv)")  # fmt: skip
    p.add_argument(
        "--n-seqs",
        type=_args.positive_int,
        default=8,
        help="random repeated sequences (pattern scores)",
    )
    p.add_argument(
        "--seq-len",
        type=_args.positive_int,
        default=32,
        help="tokens per half of a repeated sequence",
    )
    p.add_argument("--seed", type=_args.nonneg_int, default=0)
    p.add_argument(
        "--sequences", help="successor: ordinal sequences, one comma-separated sequence per line"
    )
    p.add_argument(
        "--n-tokens", type=_args.positive_int, default=200, help="copying: tokens sampled"
    )
    p.add_argument(
        "--top-k",
        type=_args.positive_int,
        default=1,
        help="copying: count a token in its row's top k",
    )
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
        type=_args.positive_int,
        default=None,
        help="rows (variants x prompts) per batch in ablation and patching sweeps "
        "(default: about 16k token positions)",
    )
    from workbench.cli._cluster import add_cluster_arg

    add_cluster_arg(p)  # ablation and patching
    _add_output_args(p)
    add_json_flag(p)
    p.set_defaults(func=_score)

    p = sub.add_parser("pattern", help="attention pattern of one head on a prompt, with tokens")
    add_model_args(p)
    p.add_argument("prompt", type=_args.prompt_text)
    p.add_argument("--layer", type=_args.index, required=True, help="-1 is the last layer")
    p.add_argument("--head", type=_args.index, required=True, help="-1 is the last head")
    p.add_argument("--figure", type=_args.figure_file, help="also draw it (PNG, SVG or PDF)")
    p.add_argument(
        "--project", help="store the pattern as a figure (spec, PNG, SVG, PDF) in this project"
    )
    add_json_flag(p)
    p.set_defaults(func=_pattern)

    p = sub.add_parser("top-tokens", help="the tokens a head attends to most over a prompt set")
    add_model_args(p)
    p.add_argument("--prompts", required=True, help="texts (.txt one per line, .json list)")
    p.add_argument("--layer", type=_args.index, required=True, help="-1 is the last layer")
    p.add_argument("--head", type=_args.index, required=True, help="-1 is the last head")
    p.add_argument("-k", type=_args.positive_int, default=20)
    p.add_argument("--project", help="store the result as a run in this project")
    add_json_flag(p)
    p.set_defaults(func=_top_tokens)

    p = sub.add_parser("figure", help="draw a score file as a heat map (PNG, SVG or PDF)")
    p.add_argument("scores", help="a JSON file written by `heads score`")
    p.add_argument("output", type=_args.figure_file, help="the figure file (.png, .svg or .pdf)")
    p.add_argument("--title", default="")
    p.add_argument("--project", help="also store the figure (spec, PNG, SVG, PDF) in this project")
    add_json_flag(p)
    p.set_defaults(func=_figure)

    p = sub.add_parser("compare", help="overlap and Jaccard index of two head sets or score files")
    p.add_argument("a", help="head-set JSON or score JSON (its top k)")
    p.add_argument("b")
    p.add_argument("-k", type=_args.positive_int, default=10)
    p.add_argument("--project", help="store the comparison as a run in this project")
    add_json_flag(p)
    p.set_defaults(func=_compare)

    p = sub.add_parser("function-vector", help="function vector of an in-context task")
    add_model_args(p)
    p.add_argument("--task", default="antonyms", help="built-in demonstrations set or a file")
    p.add_argument("--template", default="Q: {input}\\nA: {output}", help="one demonstration")
    p.add_argument("--separator", default="\\n\\n", help="between demonstrations")
    p.add_argument("--heads", help="e.g. L9H3,L12H4 (default: top --k by indirect effect)")
    p.add_argument("--k", type=_args.positive_int, default=10)
    p.add_argument("--select", choices=("attribution", "patching"), default="attribution",
                   help="how to estimate each head's indirect effect")  # fmt: skip
    p.add_argument(
        "--layer", type=_args.index, help="layer to add it at (default n_layers // 3; -1 the last)"
    )
    p.add_argument("--coefficient", type=_args.finite_float, default=1.0)
    p.add_argument("--sweep", action="store_true",
                   help="pick layer and coefficient on the training words")  # fmt: skip
    p.add_argument("--n-prompts", type=_args.positive_int, default=24)
    p.add_argument("--n-shots", type=_args.positive_int, default=5)
    p.add_argument("--seed", type=_args.nonneg_int, default=0)
    p.add_argument("--name", help="concept name (default fv:<task>)")
    p.add_argument("--project", help="save the concept and the head scores into this project")
    add_json_flag(p)
    p.set_defaults(func=_function_vector)

    from workbench.cli import heads_interventions

    heads_interventions.register(sub)
    from workbench.cli import heads_successor

    heads_successor.register(sub)


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
_PROMPTS_FILE = "a prompts file (.txt, .json, .jsonl, .csv)"


def _read(path: str, what: str = _PROMPTS_FILE) -> str:
    """A file's text, or a clear refusal (missing, a folder, binary)."""
    p = Path(path)
    if not p.is_file():
        found = "is a folder" if p.is_dir() else "does not exist"
        raise PromptSetError(f"{path} {found}; give {what}.")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PromptSetError(f"{path} is not UTF-8 text (a binary file?); give {what}.") from None


def _json(raw: str, path: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise PromptSetError(f"{path} is not valid JSON ({e}).") from None
    except RecursionError:
        raise PromptSetError(f"{path} is nested too deeply to be a prompts file.") from None


def read_texts(path: str) -> list[str]:
    """Texts from a ``.json`` list (of strings or of ``{"text": ...}``) or one per line."""
    p = Path(path)
    raw = _read(path)
    if p.suffix.lower() == ".json":
        data = _json(raw, path)
        items = data.get("texts", data) if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(
            isinstance(t, str) or (isinstance(t, dict) and isinstance(t.get("text"), str))
            for t in items
        ):
            raise PromptSetError(
                f'{path}: expected a list of strings or of {{"text": ...}} records.'
            )
        texts = [t["text"] if isinstance(t, dict) else t for t in items]
    else:
        texts = [line for line in raw.splitlines() if line.strip()]
    if not texts:
        raise PromptSetError(f"{path}: no prompts found.")
    return texts


def read_task(path: str) -> Any:
    """A task file: JSON (a list of records or a TaskPrompts dict), JSON Lines or CSV."""
    from workbench.heads.data import TaskPrompts

    p = Path(path)
    raw = _read(path)
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        rows = [_json(line, path) for line in raw.splitlines() if line.strip()]
    elif suffix in (".csv", ".tsv"):
        rows = list(csv.DictReader(raw.splitlines(), delimiter="\t" if suffix == ".tsv" else ","))
    else:
        data = _json(raw, path)
        if isinstance(data, dict) and "prompts" in data:
            return TaskPrompts(
                **{
                    k: data[k]
                    for k in ("prompts", "targets", "foils", "corrupted", "name")
                    if k in data
                }
            )
        rows = data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise PromptSetError(
            f"{path}: expected records with prompt and target (and foil, corrupted) fields."
        )
    try:
        return TaskPrompts.from_records(rows, name=p.stem)
    except (KeyError, TypeError) as e:
        raise PromptSetError(
            f"{path}: a record lacks a field or has the wrong type ({e}); every record needs "
            "prompt and target."
        ) from None


def read_sequences(path: str) -> list[list[str]]:
    lines = [ln for ln in _read(path).splitlines() if ln.strip()]
    seqs = [[w.strip() for w in ln.split(",") if w.strip()] for ln in lines]
    if not any(seqs):  # else the built-in sequences would be scored in their place
        raise PromptSetError(
            f"{path}: no sequences found; write one comma-separated sequence per line, e.g. "
            "Monday,Tuesday,Wednesday."
        )
    return seqs


def _check_output(path: str | None) -> None:
    """``--output``: a file in a folder that exists, checked before the scoring."""
    if not path:
        return
    p = Path(path)
    if p.is_dir():
        raise PromptSetError(f"--output {path} is a folder; give a file name, e.g. scores.json.")
    if not p.resolve().parent.is_dir():
        raise PromptSetError(f"--output {path}: {p.parent} does not exist; create it first.")


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
    _check_output(args.output)
    cluster = None
    if args.cluster:
        from workbench.heads.score import CLUSTER_KINDS

        if args.kind not in CLUSTER_KINDS:
            raise PromptSetError(
                f"--cluster: only the {' and '.join(CLUSTER_KINDS)} sweeps run on a cluster; "
                f"{args.kind} scores are one or two forward passes. Leave out --cluster."
            )
        from workbench.cluster import Cluster

        cluster = Cluster(args.cluster)
    hm = load_model_from_args(args, attn="sdpa")
    if args.kind == "copying":  # a top-k of the whole vocabulary scores every head 1
        _args.check_top_k(hm, args.top_k, "--top-k")
    if args.kind not in TASK_KINDS and not args.prompts:
        _args.check_tokens(hm, 2 * args.seq_len + 1, "a repeated sequence (2 x --seq-len + 1)")
    try:
        scores = run_with_progress_bar(
            score_job(hm, spec, cluster=cluster), desc=f"{args.kind} scores"
        )
    finally:
        if cluster is not None:
            from workbench.cli._cluster import report

            report(cluster, args.json)
            cluster.close()
    _emit(scores, args)  # only this process writes the project, once every share is back
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
    layer, head = _layer_head(hm, args)
    view = attention_patterns(hm, args.prompt, [layer])
    if args.figure:
        from workbench.heads.figures import figure_pattern

        figure_pattern(view.head(layer, head), view.tokens, f"L{layer}H{head}").savefig(args.figure)
    out = view.to_dict(layer, head)
    if args.project:
        from workbench.figures import render_all
        from workbench.heads.figure_specs import pattern_spec

        spec = pattern_spec(view, layer, head)
        out["figure_id"] = _store(args.project, "figure", spec["title"], spec, render_all(spec))
        out["project"] = args.project
    print_json(out)
    return 0


def _store(path: str, what: str, name: str, spec: dict[str, Any], data: Any) -> int:
    """Add a figure (``data``: its files) or a run (``data``: its result) to project ``path``."""
    from workbench.store import Project

    with Project.open(path, create=True) as project:
        if what == "figure":
            return project.add_figure(name, spec, data)
        return project.add_run(what, name, spec, data)


def _layer_head(hm: Any, args: argparse.Namespace) -> tuple[int, int]:
    """``--layer``/``--head`` checked against the model; negative ones count from the end, and
    the output is labelled with the index they resolve to (``--head -1`` is head 3 of 4)."""
    layer = _args.check_layer(hm, args.layer)
    head = _args.check_head(hm, args.head)
    if (layer, head) != (args.layer, args.head):
        print(f"note: --layer {args.layer} --head {args.head} is L{layer}H{head}", file=sys.stderr)
    return layer, head


def _top_tokens(args: argparse.Namespace) -> int:
    from workbench.heads.patterns import top_attended_tokens_job
    from workbench.jobs import run_with_progress_bar

    texts = read_texts(args.prompts)  # a bad file fails before the model loads
    hm = load_model_from_args(args)
    layer, head = _layer_head(hm, args)
    top = run_with_progress_bar(
        top_attended_tokens_job(hm, texts, layer, head, args.k),
        desc="patterns",
    )
    d = top.to_dict()
    d.pop("examples")
    if args.project:
        settings = {"model": hm.ref.to_dict(), "layer": layer, "head": head, "k": args.k,
                    "prompts": args.prompts, "n_prompts": len(texts)}  # fmt: skip
        d["run_id"] = _store(args.project, "top_tokens", f"L{layer}H{head} top tokens", settings, d)
        d["project"] = args.project
    print_json(d)
    return 0


def _figure(args: argparse.Namespace) -> int:
    from workbench.heads.figures import figure_head_map
    from workbench.heads.result import HeadScores

    d = _json(_read(args.scores, "a score file written by `workbench heads score`"), args.scores)
    if not isinstance(d, dict) or d.get("format") != "workbench.head_scores":
        raise PromptSetError(
            f"{args.scores} is not a score file written by `workbench heads score`."
        )
    try:
        scores = HeadScores.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise PromptSetError(f"{args.scores}: a damaged score file ({e}).") from None
    figure_head_map(scores, args.title).savefig(args.output)
    out: dict[str, Any] = {"output": args.output}
    if args.project:
        from workbench.figures import render_all
        from workbench.heads.figure_specs import head_map_spec

        spec = head_map_spec(scores, title=args.title or "")
        out["figure_id"] = _store(args.project, "figure", spec["title"], spec, render_all(spec))
        out["project"] = args.project
    print_json(out)
    return 0


def _head_set(path: str, k: int) -> Any:
    from workbench.heads.headset import HeadSet, top_k
    from workbench.heads.result import HeadScores

    d = _json(_read(path, "a head set or score file (JSON)"), path)
    if not isinstance(d, dict):
        raise PromptSetError(f"{path} is neither a head set nor a score file (JSON object).")
    try:
        if d.get("format") == "workbench.head_scores":
            return top_k(HeadScores.from_dict(d), k, name=Path(path).stem)
        return HeadSet.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise PromptSetError(
            f"{path} is neither a head set nor a score file written by the workbench ({e})."
        ) from None


def _compare(args: argparse.Namespace) -> int:
    from workbench.heads.headset import compare_head_sets

    out = compare_head_sets(_head_set(args.a, args.k), _head_set(args.b, args.k)).to_dict()
    if args.project:
        settings = {"a": args.a, "b": args.b, "k": args.k}
        name = f"{Path(args.a).stem} vs {Path(args.b).stem}"
        out["run_id"] = _store(args.project, "head_set_comparison", name, settings, out)
        out["project"] = args.project
    print_json(out)
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
        function_vector_concept_job,
        fv_head_scores_job,
        icl_prompts,
        parse_heads,
        top_k,
    )  # fmt: skip
    from workbench.heads.function_vector import HELD_OUT_FRACTION
    from workbench.jobs import run_with_progress_bar

    task = _icl_task(args)  # a bad task file or --heads fails before the model loads
    chosen = None
    if args.heads:
        try:
            chosen = parse_heads(args.heads)
        except ValueError as e:
            raise _args.ArgumentError(f"--heads: {e}") from None
    hm = load_model_from_args(args)
    if args.layer is not None:
        args.layer = _args.check_layer(hm, args.layer)
    n_heads = hm.n_layers * hm.n_heads
    if chosen is None and args.k > n_heads:  # as `train offsets --k` says it
        raise _args.ArgumentError(
            f"--k {args.k}: choose 1 to {n_heads} heads ({hm.ref.name} has {n_heads})."
        )
    scores = None
    if chosen is not None:
        bad = [f"L{L}H{h}" for L, h in chosen if not (0 <= L < hm.n_layers and 0 <= h < hm.n_heads)]
        if bad:
            raise _args.ArgumentError(
                f"--heads {', '.join(bad)}: {hm.ref.name} has layers 0-{hm.n_layers - 1} and "
                f"heads 0-{hm.n_heads - 1}."
            )
        heads = chosen
    else:
        # indirect effects on the training words' prompts (the held-out words stay unseen)
        train, _ = task.split(HELD_OUT_FRACTION, args.seed)
        prompts = icl_prompts(train, args.n_prompts, args.n_shots, args.seed)
        if args.select == "patching":
            job = fv_head_scores_job(hm, prompts)
        else:
            job = attribution_scores_job(
                hm, prompts, metric="prob", positions="last", source="mean", normalize=False
            )
        scores = run_with_progress_bar(job, desc="indirect effects")
        heads = top_k(scores, args.k).heads
    job = function_vector_concept_job(
        hm, heads, task, n_prompts=args.n_prompts, n_shots=args.n_shots, layer=args.layer,
        name=args.name or "", coefficient=args.coefficient, seed=args.seed,
        search_layers=list(range(2, hm.n_layers - 1, 2)) if args.sweep else (),
        search_coefficients=[1.0, 2.0, 4.0] if args.sweep else (),
    )  # fmt: skip
    result = run_with_progress_bar(job, desc="function vector")
    concept = result.concept
    out = {"task": args.task, **result.to_dict()}
    if args.project:
        from workbench.store import Project

        saved = save_new_concept(args.project, concept)  # never replaces a stored concept
        if saved.name != concept.name:
            out["concept"] = saved.name
        if scores is not None:
            with Project.open(args.project) as project:
                scores.save_to_project(project, f"{args.task} indirect effect")
        out["project"] = args.project
    print_json(out)
    return 0
