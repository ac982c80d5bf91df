"""``workbench diffusion``: find pipelines and render concept arithmetic from the shell.

    workbench diffusion list
    workbench diffusion generate /models/sd15 "castle + 0.6*winter - 0.4*summer" \\
        --define castle="a castle on a hill" --define winter="snow, winter" \\
        --define summer="summer, green grass" --seed 1 --steps 30 --out renders/ --project p.wbproj
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="diffusers pipelines in the local Hugging Face cache")
    p.set_defaults(func=_list)
    p = sub.add_parser(
        "generate",
        help="baseline and edited image from one seed; PNGs carry their provenance",
    )
    p.add_argument("pipeline", help="pipeline folder, hf-cache:<repo>, or a checkpoint file")
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
    p.add_argument("--level", default="text_encoder", help="text_encoder, token_embeds or noise")
    p.add_argument("--negative", default=None, help="negative prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--size", type=int, default=None, help="width and height in pixels")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None)
    p.add_argument(
        "--out", default=".", help="folder for baseline.png, edited.png, side_by_side.png"
    )
    p.add_argument("--project", default=None, help="also store both images in this project")
    p.set_defaults(func=_generate)


def _list(args: argparse.Namespace) -> int:
    from workbench.diffusion import find_cached_pipelines

    print_json(
        [
            {"source": c.source, "class": c.class_name, "family": c.family, "path": str(c.path)}
            for c in find_cached_pipelines()
        ]
    )
    return 0


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
    from workbench.diffusion import (
        baseline_and_edited,
        encode_concept,
        load_diffusion_pipeline,
        spec_from_expression,
    )
    from workbench.jobs import run_with_progress_bar

    prompts = _definitions(args.define)
    dm = load_diffusion_pipeline(
        args.pipeline, device=args.device, dtype=args.dtype, config=args.config
    )
    concepts = {name: encode_concept(dm, prompt, name=name) for name, prompt in prompts.items()}
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
    )
    result = run_with_progress_bar(baseline_and_edited(dm, spec), desc="rendering")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.baseline.save(out / "baseline.png")
    result.edited.save(out / "edited.png")
    result.side_by_side.save(out / "side_by_side.png")
    if args.project:
        from workbench.store import Project

        with Project.open(args.project, create=True) as project:
            if project.read_only:
                print(f"error: {project.read_only_reason}", file=sys.stderr)
                return 1
            project.add_generation(
                kind="image",
                prompt=args.expression,
                provenance={**result.edited.info, "definitions": prompts},
                image_png=result.edited.png_bytes(),
                baseline_png=result.baseline.png_bytes(),
            )
    print_json({"out": str(out), "provenance": result.edited.info})
    return 0
