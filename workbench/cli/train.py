"""``workbench train``: learned interventions and fine-tunes on one small training loop.

workbench train offsets --task antonyms --k 8 --steps 40 --project study.wbproj
workbench train vector --task antonyms --layer 10 --kl-weight 1 --project study.wbproj
workbench train finetune --task antonyms --steps 20 --out antonyms-ft/
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
    save_new_concept,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("offsets", help="LoFiT-style offsets at chosen heads (a concept)")
    add_model_args(p)
    _task_args(p)
    p.add_argument("--heads", help="e.g. L9H3,L12H4 (default: the top --k by --select)")
    p.add_argument("--k", type=_args.positive_int, default=8, help="heads to choose")
    p.add_argument("--select", choices=("gradient", "attribution"), default="gradient",
                   help="head importance: the loss's gradient at each head's offset, or "
                   "attribution patching on few-shot prompts")  # fmt: skip
    p.add_argument("--n-shots", type=_args.positive_int, default=5, help="few-shot baseline")
    _train_args(p, steps=40, lr=1e-2)
    p.add_argument("--name", help="concept name (default offsets:<task>)")
    p.add_argument("--project", help="save the concept and the run (loss curve) here")
    add_json_flag(p)
    p.set_defaults(func=_offsets)

    p = sub.add_parser("vector", help="a steering vector trained with a loss (a concept)")
    add_model_args(p)
    _task_args(p)
    p.add_argument("--layer", type=_args.index, help="default n_layers // 3 (-1: the last)")
    p.add_argument("--site-kind", default="resid_post",
                   choices=("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"))  # fmt: skip
    p.add_argument("--positions", choices=("all", "last_prompt"), default="all")
    p.add_argument("--kl-weight", type=_args.finite_float, default=1.0,
                   help="weight of KL(unsteered ‖ steered) on neutral prompts")  # fmt: skip
    p.add_argument("--neutral", help="neutral prompts: a plain prompt set or file "
                   "(default: the built-in open_prompts)")  # fmt: skip
    _train_args(p, steps=40, lr=5e-2)
    p.add_argument("--name", help="concept name (default trained:<task>)")
    p.add_argument("--project", help="save the concept and the run (loss curve) here")
    add_json_flag(p)
    p.set_defaults(func=_vector)

    p = sub.add_parser("finetune", help="fine-tune the model's weights on a task; save a folder")
    add_model_args(p)
    _task_args(p)
    p.add_argument("--kinds", help="train only these tensor kinds (attention, mlp, ...)")
    p.add_argument("--layers", help="train only these blocks, e.g. 10-20")
    _train_args(p, steps=20, lr=1e-4)
    p.add_argument("--out", required=True, help="folder for the fine-tuned model (new)")
    p.add_argument("--project", help="record the run (loss curve, metrics) here")
    add_json_flag(p)
    p.set_defaults(func=_finetune)


def _task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="antonyms", help="built-in demonstrations set or a file")
    p.add_argument("--template", default="Q: {input}\\nA: {output}", help="one demonstration")
    p.add_argument("--test-fraction", type=_args.held_out_fraction, default=0.3,
                   help="held out for the reported metrics")  # fmt: skip


def _train_args(p: argparse.ArgumentParser, steps: int, lr: float) -> None:
    p.add_argument("--steps", type=_args.positive_int, default=steps)
    p.add_argument("--lr", type=_args.positive_float, default=lr, help="Adam's learning rate")
    p.add_argument("--batch-size", type=_args.positive_int, default=8)
    p.add_argument("--seed", type=_args.nonneg_int, default=0)


def icl_task(args: argparse.Namespace) -> Any:
    from workbench.concepts.prompt_sets import check_template
    from workbench.heads.function_vector import FV_SEPARATOR, ICLTask
    from workbench.training.data import task_from

    template = check_template(args.template.replace("\\n", "\n"), "--template")
    if args.task == "antonyms":
        from workbench.heads.data import antonym_pairs

        return ICLTask("antonyms", antonym_pairs(), template, FV_SEPARATOR)
    return task_from(args.task, template)


def _spec(args: argparse.Namespace) -> Any:
    from workbench.training import TrainingSpec

    spec = TrainingSpec(args.steps, args.lr, args.batch_size, args.seed)
    spec.check()
    return spec


def _save(args: argparse.Namespace, kind: str, name: str, result: Any, out: dict) -> None:
    if not args.project:
        return
    from workbench.store import Project

    concept = getattr(result, "concept", None)
    if concept is not None:
        saved = save_new_concept(args.project, concept)
        out["concept"] = saved.name
    with Project.open(args.project, create=True) as p:
        out["run_id"] = p.add_run(
            kind, name, dict(out.get("settings", {})), out,
            result.curve.run_tensors(),
        )  # fmt: skip
    out["project"] = args.project


def _heads(args: argparse.Namespace) -> list[tuple[int, int]] | None:
    if not args.heads:
        return None
    from workbench.heads import parse_heads

    try:
        return parse_heads(args.heads)
    except ValueError as e:
        raise _args.ArgumentError(f"--heads: {e}") from None


def _offsets(args: argparse.Namespace) -> int:
    from workbench.jobs import run_with_progress_bar
    from workbench.training import train_head_offsets_job

    task, spec, heads = icl_task(args), _spec(args), _heads(args)
    hm = load_model_from_args(args)
    res = run_with_progress_bar(
        train_head_offsets_job(hm, task, heads=heads, k=args.k, select=args.select, spec=spec,
                               test_fraction=args.test_fraction, n_shots=args.n_shots,
                               name=args.name or ""),
        desc="head offsets",
    )  # fmt: skip
    return _report(args, hm, "head_offsets", res.concept.name, res)


def _vector(args: argparse.Namespace) -> int:
    from workbench.jobs import run_with_progress_bar
    from workbench.training import train_steering_vector_job

    task, spec = icl_task(args), _spec(args)
    neutral = None
    if args.neutral:
        from workbench.concepts.prompt_sets import resolve_prompt_set

        neutral = resolve_prompt_set(args.neutral).all_texts()
    hm = load_model_from_args(args)
    layer = _args.check_layer(hm, args.layer) if args.layer is not None else None
    res = run_with_progress_bar(
        train_steering_vector_job(hm, task, layer=layer, site_kind=args.site_kind,
                                  positions=args.positions, kl_weight=args.kl_weight,
                                  neutral=neutral, spec=spec, test_fraction=args.test_fraction,
                                  name=args.name or ""),
        desc="trained vector",
    )  # fmt: skip
    return _report(args, hm, "trained_vector", res.concept.name, res)


def _finetune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.cli.weights import tensor_filter
    from workbench.jobs import run_with_progress_bar
    from workbench.weights.checkpoint import WeightsError
    from workbench.weights.finetune import finetune_job

    if Path(args.out).exists():
        raise WeightsError(f"--out {args.out} exists; choose a new folder (nothing is replaced).")
    task, spec, flt = icl_task(args), _spec(args), tensor_filter(args)
    hm = load_model_from_args(args)
    res = run_with_progress_bar(
        finetune_job(hm, task, spec=spec, tensor_filter=flt, test_fraction=args.test_fraction,
                     out=args.out),
        desc="fine-tune",
    )  # fmt: skip
    return _report(args, hm, "finetune", f"fine-tune {task.name}", res)


def _report(args: argparse.Namespace, hm: Any, kind: str, name: str, res: Any) -> int:
    """Store the result (with --project), then print it: the held-out table, then the JSON."""
    out = {"model": hm.ref.to_dict(), **res.to_dict()}
    _save(args, kind, name, res, out)
    if not args.json:
        _print_metrics(res.metrics)
    print_json(out)
    return 0


def _print_metrics(metrics: dict[str, dict[str, float]]) -> None:
    print(f"{'held-out':<18} {'accuracy':>8} {'target log-prob':>16}", file=sys.stderr)
    for k, m in metrics.items():
        print(f"{k:<18} {m['accuracy']:>8.3f} {m['target_logprob']:>16.3f}", file=sys.stderr)
