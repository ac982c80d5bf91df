"""``workbench heads intervene``: act on chosen heads, as the window's "Act on selected heads".

Examples::

    # baseline vs intervened continuation of a prompt, stored as a generation
    workbench heads intervene "The capital of France is" --heads L18H6,L17H4 --action scale \\
        --value 0 --project study.wbproj
    # accuracy on a demonstration task against the ZeroTuning factor (ZeroTuning's plot)
    workbench heads intervene --set antonyms --heads L3H1,L4H0 --action zero_tuning \\
        --values 0 0.5 1 1.5 2 --shots 5 --project study.wbproj
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.cli import (
    _args,
    add_json_flag,
    add_model_args,
    load_model_from_args,
    print_json,
    save_text_generation,
)
from workbench.errors import PromptSetError
from workbench.heads.actions import ACTIONS, VALUE_NAMES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "intervene",
        aliases=["act"],
        help="ablate, scale, offset or ZeroTune heads: a generation or an accuracy curve",
        description="Head interventions (the window's 'Act on selected heads'). With a prompt: "
        "baseline and intervened continuations. With --set: accuracy and answer log-prob on a "
        "demonstration task for each --values entry.",
    )
    add_model_args(p)
    p.add_argument("prompt", nargs="?", help="a prompt to continue (or give --set)")
    p.add_argument("--heads", required=True, help="e.g. L18H6,L17H4")
    p.add_argument(
        "--action",
        required=True,
        type=_args.choice(*ACTIONS),
        help="; ".join(f"{k}: {v[0]}" for k, v in ACTIONS.items()),
    )
    p.add_argument(
        "--value",
        type=_args.finite_float,
        help="the factor (scale, zero_tuning) or coefficient (offset_*)",
    )
    p.add_argument("--seed", type=_args.nonneg_int, default=0, help="random offsets; sampling")
    p.add_argument("--max-new-tokens", type=_args.positive_int, default=24)
    p.add_argument("--set", dest="prompt_set", help="a demonstration set (built-in name or file)")
    p.add_argument(
        "--values",
        nargs="+",
        action="extend",
        type=_args.finite_float,
        default=[],
        help="values to evaluate",
    )
    p.add_argument(
        "--shots",
        type=_args.nonneg_int,
        default=0,
        help="demonstrations before each query (0: zero-shot queries of every pair)",
    )
    p.add_argument("--n-prompts", type=_args.positive_int, default=24, help="few-shot prompts")
    p.add_argument("--max-rows", type=_args.positive_int, default=None, help="rows per batch")
    p.add_argument("--project", help="store the generation or the curve in this project")
    add_json_flag(p)
    p.set_defaults(func=_intervene)


def _spec(args: argparse.Namespace, value: float | None) -> Any:
    from workbench.heads.head_interventions import HeadInterventionSpec
    from workbench.heads.headset import parse_heads

    try:
        heads = parse_heads(args.heads)
    except ValueError as e:
        raise PromptSetError(f"--heads: {e}") from None
    if args.action in VALUE_NAMES and value is None:
        raise PromptSetError(
            f"--action {args.action} needs --value (its {VALUE_NAMES[args.action]})"
            + (" or --values" if args.prompt_set else "")
            + "."
        )
    return HeadInterventionSpec(args.action, tuple(heads), value, args.seed)


def _intervene(args: argparse.Namespace) -> int:
    from workbench.jobs import run, run_with_progress_bar

    if bool(args.prompt) == bool(args.prompt_set):
        raise PromptSetError("give a prompt to continue, or --set NAME for an accuracy curve.")
    if args.prompt is not None and not args.prompt.strip():
        raise PromptSetError("the prompt is empty: type a prompt to continue.")
    if args.prompt is not None and args.values:  # else all but the first would be dropped
        raise PromptSetError(
            "--values makes an accuracy curve over a --set; a prompt's continuation takes one "
            "--value."
        )
    first = args.value if args.value is not None else (args.values[0] if args.values else None)
    spec = _spec(args, first)
    task = _task(args) if args.prompt_set else None
    hm = load_model_from_args(args)
    spec.check(hm)

    def drive(job: Any, desc: str) -> Any:
        return run(job) if args.json else run_with_progress_bar(job, desc=desc)

    if task is None:
        from workbench.heads.head_interventions import (
            head_intervention_generate_job,
            head_intervention_provenance,
        )
        from workbench.models.generation import SamplingSettings

        settings = SamplingSettings(max_new_tokens=args.max_new_tokens, seed=args.seed)
        n_prompt = len(hm.encode([args.prompt])["input_ids"][0])
        _args.check_tokens(hm, n_prompt + args.max_new_tokens, "the prompt plus --max-new-tokens")
        c = drive(head_intervention_generate_job(hm, args.prompt, spec, settings), "generating")
        out: dict[str, Any] = {
            "prompt": c.prompt,
            "baseline": c.baseline,
            "intervened": c.steered,
            "intervention": spec.to_dict(),
            "label": spec.label,
        }
        if args.project:
            prov = head_intervention_provenance(hm.ref, spec, settings)
            out["generation_id"] = save_text_generation(args.project, c, prov)
            out["project"] = args.project
        print_json(out)
        return 0

    from workbench.heads.head_interventions import head_intervention_curve_job

    job = head_intervention_curve_job(hm, spec, task, args.values, args.max_rows)
    curve = drive(job, "evaluating")
    out = curve.to_dict()
    if args.project:
        from workbench.store import Project

        with Project.open(args.project, create=True) as project:
            out["run_id"] = project.add_run(
                "head_intervention_curve",
                f"{spec.label} on {task.name}",
                {"model": hm.ref.to_dict(), "intervention": spec.to_dict(), "task": task.name},
                out,
            )
        out["project"] = args.project
    print_json(out)
    if not args.json:
        name = VALUE_NAMES.get(spec.action, "value")
        print(f"unintervened: accuracy {curve.baseline_accuracy:.3f}", file=sys.stderr)
        for v, acc in zip(curve.values, curve.accuracy, strict=True):
            print(f"{name} {v}: accuracy {acc:.3f}", file=sys.stderr)
    return 0


def _task(args: argparse.Namespace) -> Any:
    """The prompts of a demonstration set: zero-shot queries of every pair, or few-shot
    in-context prompts (``--shots``), each with its answer."""
    from workbench.concepts.prompt_sets import resolve_prompt_set
    from workbench.heads.data import TaskPrompts
    from workbench.heads.function_vector import ICLTask, icl_prompts

    task = ICLTask.from_prompt_set(resolve_prompt_set(args.prompt_set, kind="demonstrations"))
    if args.shots:
        return icl_prompts(task, args.n_prompts, args.shots, args.seed)
    queries = [task.query(x) for x, _ in task.pairs]
    answers = [task.answer(y) for _, y in task.pairs]  # exact continuations of the template
    return TaskPrompts(queries, answers, name=f"{task.name} 0-shot", exact=True)
