"""``workbench diffusion cones``: score a concept's cross-attention key/value neurons, with the
ablation check; and the ``--neurons`` options that switch a scored set off (or scale it) in
``workbench diffusion generate``.

    workbench diffusion cones demo:tiny-sd --concept "a dog" --base "an animal" --steps 10 \\
        --top-k 10 --out dog-neurons.json --project p.wbproj
    workbench diffusion generate demo:tiny-sd dog --define dog="a dog on the grass" \\
        --level neurons --neurons dog-neurons.json --neuron-top 10 --neuron-scale 0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from workbench.cli import _args, add_json_flag, print_json


def register(sub: argparse._SubParsersAction, size: Any) -> None:
    p = sub.add_parser(
        "cones",
        help="concept neurons: score cross-attention key/value neurons by gradient x "
        "activation, check the top set against random sets",
    )
    p.add_argument("pipeline", help="pipeline folder, hf-cache:<repo>, checkpoint, demo:tiny-sd")
    p.add_argument("--concept", required=True, help="the prompt that carries the concept")
    p.add_argument(
        "--base", default="", help="the same prompt without the concept (default: empty)"
    )
    p.add_argument("--config", default=None, help="config folder for a single checkpoint file")
    p.add_argument("--steps", type=_args.positive_int, default=10)
    p.add_argument("--guidance", type=_args.finite_float, default=7.5)
    p.add_argument("--seed", type=_args.nonneg_int, default=0)
    p.add_argument("--size", type=size, default=None, help="width and height (a multiple of 8)")
    p.add_argument(
        "--projections",
        default="k,v",
        type=_args.choice("k,v", "k", "v"),
        help="k,v (default), k or v: which projections' channels are the neurons",
    )
    p.add_argument("--top-k", type=_args.positive_int, default=10)
    p.add_argument("--random-sets", type=_args.positive_int, default=8)
    p.add_argument("--exact-check", type=_args.nonneg_int, default=16)
    p.add_argument("--device", default=None, type=_args.device)
    p.add_argument(
        "--dtype",
        default=None,
        type=_args.choice("float32", "float16", "bfloat16", "fp32", "fp16", "bf16"),
    )
    p.add_argument("--out", default=None, help="write every score here (JSON, for --neurons)")
    p.add_argument(
        "--figure",
        type=_args.figure_file,
        default=None,
        help="write the figure here (.png, .svg, .pdf)",
    )
    p.add_argument("--project", default=None, help="store the run and its figure here")
    add_json_flag(p)
    p.set_defaults(func=_cones)


def add_neuron_args(p: argparse.ArgumentParser) -> None:
    """``generate``'s options for the concept-neuron level."""
    p.add_argument(
        "--neurons",
        default=None,
        metavar="FILE|run:ID",
        help="a scoring from 'diffusion cones --out FILE', or run:ID of one in --project",
    )
    p.add_argument("--neuron-top", type=_args.positive_int, default=None, metavar="K")
    p.add_argument(
        "--neuron-scale",
        type=_args.finite_float,
        default=0.0,
        help="0 switches the neurons off (default), 1 leaves them, above 1 boosts them",
    )


def neuron_edit_from_args(args: argparse.Namespace) -> Any:
    """The NeuronEdit that ``--neurons`` names, or None."""
    from workbench.diffusion.cones import RUN_KIND, edit_from_result
    from workbench.errors import WorkbenchError

    source = args.neurons
    if source is None:
        if args.level == "neurons":
            raise WorkbenchError(
                "--level neurons needs --neurons FILE (from 'workbench diffusion cones --out') "
                "or --neurons run:ID with --project."
            )
        return None
    top, scale = args.neuron_top, args.neuron_scale
    if source.startswith("run:"):
        if not args.project:
            raise WorkbenchError(f"--neurons {source} reads a run of --project; give --project.")
        from workbench.store import Project

        try:
            run_id = int(source[4:])
        except ValueError:
            raise WorkbenchError(f"--neurons {source!r}: write run:ID, e.g. run:3") from None
        with Project.open(args.project, read_only=True) as project:
            run = project.load_run(run_id)
        if run.analysis != RUN_KIND:
            raise WorkbenchError(f"run {run_id} is a {run.analysis} run, not concept neurons.")
        scores = run.tensors["scores"].tolist()
        return edit_from_result(dict(run.result), scores, top, scale, run_id)
    path = Path(source)
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"--neurons {path}: cannot read it as JSON ({exc}).") from exc
    return edit_from_result(result, None, top, scale)


def _cones(args: argparse.Namespace) -> int:
    from workbench.diffusion.cones import RUN_KIND, ConesSpec, cones_job
    from workbench.diffusion.loading import load_diffusion_pipeline
    from workbench.figures import render, render_all
    from workbench.jobs import run_with_progress_bar

    spec = ConesSpec(
        concept=args.concept,
        base=args.base,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        width=args.size,
        height=args.size,
        projections=tuple(args.projections.split(",")),
        top_k=args.top_k,
        random_sets=args.random_sets,
        exact_check=args.exact_check,
    )
    if args.out and Path(args.out).is_dir():  # not after the scoring
        raise _args.ArgumentError(
            f"--out {args.out} is a folder; give a file name, e.g. dog-neurons.json."
        )
    if args.out and not Path(args.out).resolve().parent.is_dir():
        raise _args.ArgumentError(
            f"--out {args.out}: {Path(args.out).parent} does not exist; create it first."
        )
    project = None
    if args.project:  # refused before the model loads
        from workbench.store import Project

        project = Project.open(args.project, create=True)
        if project.read_only:
            print(f"error: {project.read_only_reason}", file=sys.stderr)
            project.close()
            return 1
    try:
        dm = load_diffusion_pipeline(
            args.pipeline, device=args.device, dtype=args.dtype, config=args.config
        )
        scores = run_with_progress_bar(cones_job(dm, spec), desc="concept neurons")
        out = scores.to_dict()
        fig = scores.figure_spec()
        if args.out:
            Path(args.out).write_text(json.dumps(scores.to_dict(full=True), indent=1))
            out["out"] = args.out
        if args.figure:
            fmt = Path(args.figure).suffix.lower().lstrip(".") or "png"
            Path(args.figure).write_bytes(render(fig, fmt))
            out["figure"] = args.figure
        if project is not None:
            rid = project.add_run(
                RUN_KIND, scores.name(), scores.settings(), scores.to_dict(), scores.tensors()
            )
            fid = project.add_figure(
                f"concept neurons: {scores.concept}", {**fig, "run_id": rid}, render_all(fig)
            )
            out |= {"run_id": rid, "figure_id": fid, "project": args.project}
    finally:
        if project is not None:
            project.close()
    print_json(out)
    return 0
