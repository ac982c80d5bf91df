"""``workbench diffusion``: find pipelines and render concept arithmetic from the shell.

    workbench diffusion list
    workbench diffusion generate /models/sd15 "castle + 0.6*winter - 0.4*summer" \\
        --define castle="a castle on a hill" --define winter="snow, winter" \\
        --define summer="summer, green grass" --seed 1 --steps 30 --out renders/ --project p.wbproj
    workbench diffusion cones demo:tiny-sd --concept "a dog" --out dog.json   # concept neurons

``demo:tiny-sd`` is a tiny pipeline with random weights (noise, not pictures), for trying every
command offline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.cli import _args, add_json_flag, diffusion_cones, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="diffusers pipelines in the local Hugging Face cache")
    add_json_flag(p, always=True)
    p.set_defaults(func=_list)
    p = sub.add_parser(
        "generate",
        help="baseline and edited image from one seed; PNGs carry their provenance",
    )
    p.add_argument(
        "pipeline",
        help="pipeline folder, hf-cache:<repo>, a checkpoint file (with --config), or "
        "demo:tiny-sd (random weights)",
    )
    p.add_argument("expression", help="e.g. 'castle + 0.6*winter - 0.4*summer'")
    p.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="NAME=PROMPT",
        help="a concept of the expression, given by its prompt (repeatable)",
    )
    p.add_argument(
        "--config", default=None, help="local config folder for a single checkpoint file"
    )
    p.add_argument(
        "--level",
        default="text_encoder",
        type=_args.choice("text_encoder", "token_embeds", "noise", "neurons"),
        help="text_encoder, token_embeds, noise, or neurons (with --neurons: the expression "
        "with concept neurons switched off or scaled)",
    )
    p.add_argument("--negative", default=None, help="negative prompt")
    p.add_argument("--seed", type=_args.nonneg_int, default=0)
    p.add_argument("--steps", type=_args.positive_int, default=30)
    p.add_argument("--guidance", type=_args.finite_float, default=7.5)
    p.add_argument(
        "--size", type=_size, default=None, help="width and height in pixels (a multiple of 8)"
    )
    p.add_argument("--device", default=None, type=_args.device)
    p.add_argument(
        "--dtype",
        default=None,
        type=_args.choice("float32", "float16", "bfloat16", "fp32", "fp16", "bf16"),
    )
    p.add_argument(
        "--out", default=".", help="folder for baseline.png, edited.png, side_by_side.png"
    )
    p.add_argument("--project", default=None, help="also store both images in this project")
    diffusion_cones.add_neuron_args(p)
    add_json_flag(p)
    p.set_defaults(func=_generate)
    diffusion_cones.register(sub, _size)


def _list(args: argparse.Namespace) -> int:
    from workbench.diffusion import find_cached_pipelines

    print_json(
        [
            {"source": c.source, "class": c.class_name, "family": c.family, "path": str(c.path)}
            for c in find_cached_pipelines()
        ]
    )
    return 0


def _size(text: str) -> int:
    v = _args.positive_int(text)
    if v % 8:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the size must be a multiple of 8 (the latent is 1/8 of the image)"
        )
    return v


def _definitions(pairs: list[str]) -> dict[str, str]:
    from workbench.errors import WorkbenchError

    out = {}
    for pair in pairs:
        name, sep, prompt = pair.partition("=")
        if not sep or not name.strip() or not prompt.strip():
            raise WorkbenchError(
                f"--define {pair!r}: write NAME=PROMPT, e.g. winter='snow, winter'"
            )
        out[name.strip()] = prompt.strip()
    return out


def _generate(args: argparse.Namespace) -> int:
    from workbench.concepts.algebra import names
    from workbench.diffusion import (
        baseline_and_edited,
        encode_concept,
        load_diffusion_pipeline,
        spec_from_expression,
    )
    from workbench.diffusion.embeddings import check_item
    from workbench.errors import WorkbenchError
    from workbench.jobs import run_with_progress_bar

    # Everything that can be checked is checked before a single step is rendered.
    prompts = _definitions(args.define)
    missing = [n for n in names(args.expression) if n not in prompts]
    if missing:
        raise WorkbenchError(
            f"{', '.join(missing)} in the expression has no --define; add e.g. "
            f"--define {missing[0]}='a prompt'."
        )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"--out {out} is a file; give a folder for the PNGs.")
    neurons = diffusion_cones.neuron_edit_from_args(args)
    dm = load_diffusion_pipeline(
        args.pipeline, device=args.device, dtype=args.dtype, config=args.config
    )
    # --level token_embeds needs the concepts at the token-embedding level too
    level = "token_embeds" if args.level == "token_embeds" else "text_encoder"
    concepts = {
        name: encode_concept(dm, prompt, name=name, level=level) for name, prompt in prompts.items()
    }
    spec = spec_from_expression(
        args.expression,
        concepts,
        level=args.level,
        negative_prompt=args.negative,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        width=args.size,
        height=args.size,
        neurons=neurons,
    )
    if neurons is not None:
        neurons.check(dm)
    for _, item in spec.terms:
        check_item(dm, item, spec.level)
    out.mkdir(parents=True, exist_ok=True)
    result = run_with_progress_bar(baseline_and_edited(dm, spec), desc="rendering")
    result.baseline.save(out / "baseline.png")
    result.edited.save(out / "edited.png")
    result.side_by_side.save(out / "side_by_side.png")
    out_json: dict[str, Any] = {"out": str(out), "provenance": result.edited.info}
    if args.project:
        from workbench.store import Project

        with Project.open(args.project, create=True) as project:
            if project.read_only:
                print(f"error: {project.read_only_reason}", file=sys.stderr)
                return 1
            out_json["generation_id"] = project.add_generation(
                medium="image",
                prompt=args.expression,
                provenance={**result.edited.info, "definitions": prompts},
                image_png=result.edited.png_bytes(),
                baseline_png=result.baseline.png_bytes(),
            )
        out_json["project"] = args.project
    print_json(out_json)
    return 0
