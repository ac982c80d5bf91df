"""``workbench weights``: weight-space task vectors between checkpoints.

workbench weights diff FINETUNED BASE --out delta.safetensors
workbench weights apply BASE delta.safetensors --coefficient 0.5 --out merged/ [--kinds mlp]
workbench weights sweep delta.safetensors --model BASE --coefficients -1 0 1 --task antonyms
"""

from __future__ import annotations

import argparse
from typing import Any

from workbench.cli import _args, add_json_flag, add_model_args, load_model_from_args, print_json
from workbench.cli.concepts import parse_layers

KIND_HELP = "attention, mlp, embedding, norm, other (comma-separated; default all)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="Δ = A − B, tensor by tensor, into a .safetensors file")
    p.add_argument(
        "a", help="checkpoint A (model folder, .safetensors or .gguf), e.g. the fine-tune"
    )
    p.add_argument("b", help="checkpoint B of the same architecture, e.g. its base ('embedded': "
                   "the embedded default model)")  # fmt: skip
    p.add_argument("--out", required=True, help="the delta file to write (.safetensors)")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                   help="Δ's dtype (float32: exact for half-precision checkpoints)")  # fmt: skip
    _filter_args(p)
    p.add_argument("--project", help="record the diff (sources, hashes, norms) in this project")
    add_json_flag(p)
    p.set_defaults(func=_diff)

    p = sub.add_parser("apply", help="θ_base + c·Δ, written as a model folder or file")
    p.add_argument("base", help="base checkpoint (model folder, .safetensors, .gguf or 'embedded')")
    p.add_argument("delta", help="a delta written by `workbench weights diff`")
    p.add_argument("--coefficient", "-c", type=_args.finite_float, default=1.0)
    p.add_argument("--out", required=True, help="the merged model (a folder for a folder base)")
    _filter_args(p)
    p.add_argument("--project", help="record the merge in this project")
    add_json_flag(p)
    p.set_defaults(func=_apply)

    p = sub.add_parser("sweep", help="task metrics of the model + c·Δ for several coefficients")
    add_model_args(p)
    p.add_argument("delta", help="a delta written by `workbench weights diff`")
    p.add_argument("--coefficients", type=_args.finite_float, nargs="+", action="extend",
                   required=True, help="e.g. -1 -0.5 0 0.5 1")  # fmt: skip
    p.add_argument("--task", default="antonyms", help="built-in demonstrations set or a file")
    p.add_argument("--template", default="Q: {input}\\nA: {output}", help="one demonstration")
    p.add_argument("--test-fraction", type=_args.held_out_fraction, default=None,
                   help="default: the fine-tune's split recorded in the delta, else 0.3")  # fmt: skip
    p.add_argument("--seed", type=_args.nonneg_int, default=None,
                   help="of the held-out split; default: the fine-tune's, else 0")  # fmt: skip
    _filter_args(p)
    p.add_argument("--project", help="record the sweep in this project")
    add_json_flag(p)
    p.set_defaults(func=_sweep)


def _filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", help="only these blocks, e.g. 10-20 or 3,5 (default all)")
    p.add_argument("--kinds", help=f"only these tensor kinds: {KIND_HELP}")


def tensor_filter(args: argparse.Namespace) -> Any:
    from workbench.weights import TensorFilter

    layers = parse_layers(args.layers) if args.layers else []
    kinds = [k for k in (args.kinds or "").split(",") if k.strip()]
    return TensorFilter(tuple(layers), tuple(kinds))


def _record(project: str | None, kind: str, name: str, settings: dict, result: dict) -> int | None:
    if not project:
        return None
    from workbench.store import Project

    with Project.open(project, create=True) as p:
        return p.add_run(kind, name, settings, result)


def _diff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.jobs import run_with_progress_bar
    from workbench.weights import diff_job

    flt = tensor_filter(args)
    res = run_with_progress_bar(
        diff_job(args.a, args.b, args.out, dtype=args.dtype, tensor_filter=flt), desc="diff"
    )
    out = res.to_dict()
    run_id = _record(args.project, "weights_diff", f"Δ {Path(args.out).name}",
                     {"a": args.a, "b": args.b, "out": args.out, "dtype": args.dtype,
                      "filter": flt.to_dict()}, out)  # fmt: skip
    if run_id is not None:
        out |= {"run_id": run_id, "project": args.project}
    print_json(out)
    return 0


def _apply(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.jobs import run_with_progress_bar
    from workbench.weights import apply_job

    flt = tensor_filter(args)
    res = run_with_progress_bar(
        apply_job(args.base, args.delta, args.out, coefficient=args.coefficient, tensor_filter=flt),
        desc="apply",
    )
    out = res.to_dict()
    run_id = _record(args.project, "weights_apply", f"{Path(args.out).name}",
                     {"base": args.base, "delta": args.delta, "coefficient": args.coefficient,
                      "out": args.out, "filter": flt.to_dict()}, out)  # fmt: skip
    if run_id is not None:
        out |= {"run_id": run_id, "project": args.project}
    print_json(out)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from workbench.cli.train import icl_task
    from workbench.jobs import run_with_progress_bar
    from workbench.weights import read_delta_metadata
    from workbench.weights.evaluate import coefficient_sweep_job

    flt = tensor_filter(args)
    task = icl_task(args)
    read_delta_metadata(args.delta)  # not a delta: say so before the model loads
    hm = load_model_from_args(args)
    res = run_with_progress_bar(
        coefficient_sweep_job(hm, args.delta, args.coefficients, task, tensor_filter=flt,
                              test_fraction=args.test_fraction, seed=args.seed),
        desc="coefficient sweep",
    )  # fmt: skip
    out = {"model": hm.ref.to_dict(), **res.to_dict()}
    run_id = _record(args.project, "weights_sweep", f"{Path(args.delta).name} × {task.name}",
                     {"delta": args.delta, "coefficients": list(args.coefficients),
                      "task": task.name, "filter": flt.to_dict(), "model": hm.ref.to_dict(),
                      "test_fraction": (res.split or {}).get("test_fraction"),
                      "seed": (res.split or {}).get("seed")}, out)  # fmt: skip
    if run_id is not None:
        out |= {"run_id": run_id, "project": args.project}
    if not args.json:
        print(res.table(), file=sys.stderr)
    print_json(out)
    return 0
