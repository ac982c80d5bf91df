"""``workbench concepts``: extract concepts, evaluate expressions, diagnose, probe, list sets.

Examples::

    workbench concepts sets
    workbench concepts extract --set sentiment --method diff_of_means --layers 12 --out happy.safetensors
    workbench concepts extract --positive pos.txt --negative neg.txt --layers 10-14 --project my.wbproj
    workbench concepts eval "happy - 0.5*sad" --concept happy=happy.safetensors --concept sad.safetensors
    workbench concepts diagnose --project my.wbproj --logit-lens --site blocks.24.hook_resid_post
    workbench concepts probe --set facts_true_false --layers all
"""

from __future__ import annotations

import argparse
import math
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
from workbench.concepts.methods import METHODS
from workbench.errors import PromptSetError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sets", help="list the built-in prompt sets")
    add_json_flag(p, always=True)
    p.set_defaults(func=_sets)

    p = sub.add_parser("extract", help="extract a concept from prompts")
    add_model_args(p)
    _add_prompt_args(p)
    p.add_argument(
        "--method",
        default="diff_of_means",
        type=_args.choice(*METHODS),
        help=", ".join(METHODS),
    )
    _add_site_args(p)
    p.add_argument(
        "--position",
        default="last",
        choices=["last", "mean", "mean_skip_first"],
        help="token position read: the last token, the mean over tokens, or that mean "
        "without the first token (an attention sink in most models)",
    )
    p.add_argument("--words", help="comma-separated words (embedding / unembedding methods)")
    p.add_argument(
        "--leading-space",
        action="store_true",
        help="read ' word' (the token after a space), not 'word'",
    )
    p.add_argument("--name", default="", help="the concept's name")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method parameter, e.g. k=5, aggregate=mean",
    )
    p.add_argument("--batch-size", type=_args.positive_int, default=16)
    p.add_argument("--chat", action="store_true", help="wrap prompts in the chat template")
    _add_output_args(p)
    from workbench.cli._cluster import add_cluster_arg

    add_cluster_arg(p)  # the prompt batches are captured on the cluster's workers
    add_json_flag(p)
    p.set_defaults(func=_extract)

    p = sub.add_parser("eval", help="evaluate an expression over concepts")
    p.add_argument("expression", help='e.g. "happy - 0.5*sad + formal"')
    _add_concept_sources(p)
    p.add_argument("--name", default=None)
    p.add_argument(
        "--norm",
        action="append",
        default=[],
        metavar="SITE=NORM",
        help="target norm for normalize_to(x)",
    )
    _add_output_args(p, project=False)
    add_json_flag(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser("diagnose", help="norms, cosine matrix and logit-lens read-out of concepts")
    add_model_args(p)
    _add_concept_sources(p)
    p.add_argument("--names", help="comma-separated concept names to include (default: all)")
    p.add_argument(
        "--site",
        help="site for the cosine matrix and logit lens (default: mean over shared sites / last site)",
    )
    p.add_argument(
        "--logit-lens",
        action="store_true",
        help="load the model and list promoted / suppressed tokens",
    )
    p.add_argument(
        "-k",
        type=_args.count_up_to(1000, "the promoted and suppressed tokens listed per concept"),
        default=10,
        help="tokens listed each way by --logit-lens, 1 to 1000 (default 10)",
    )
    p.add_argument("--lens-norm", default="final_norm", choices=["final_norm", "none"])
    add_json_flag(p)
    p.set_defaults(func=_diagnose)

    p = sub.add_parser("probe", help="linear-probe accuracy at every layer")
    add_model_args(p)
    _add_prompt_args(p)
    p.add_argument("--layers", default="all", help="e.g. 0-29, 4,8,12 or all")
    add_site_kind_arg(p)
    p.add_argument(
        "--position",
        default="last",
        choices=["last", "mean", "mean_skip_first"],
        help="token position read: the last token, the mean over tokens, or that mean "
        "without the first token (an attention sink in most models)",
    )
    p.add_argument(
        "--folds", type=_folds, default=5, help="k-fold cross-validation (0: one held-out split)"
    )
    p.add_argument("--batch-size", type=_args.positive_int, default=16)
    p.add_argument("--project", help="store the accuracy curve as a run in this project")
    from workbench.cli import concepts_depth

    concepts_depth.add_perturbation_args(p)
    add_cluster_arg(p)
    add_json_flag(p)
    p.set_defaults(func=_probe)

    from workbench.cli import concepts_sweep

    concepts_sweep.register(sub)
    from workbench.cli import concepts_axis

    concepts_axis.register(sub)


# --------------------------------------------------------------------------- arguments
def _folds(text: str) -> int:
    v = _args.nonneg_int(text)
    if v == 1:
        raise argparse.ArgumentTypeError("1: give 2 folds or more, or 0 for one held-out split")
    return v


def check_layers(layers: list[int], n_layers: int) -> list[int]:
    """Refuse layers the model does not have (``--layers 40`` on a 30-layer model)."""
    bad = [L for L in layers if not 0 <= L < n_layers]
    if bad:
        raise _args.ArgumentError(
            f"--layers {', '.join(map(str, bad))}: this model has layers 0..{n_layers - 1}."
        )
    return layers


def add_site_kind_arg(p: argparse.ArgumentParser) -> None:
    """``--site-kind``: which residual-stream site of each layer (``blocks.L.hook_KIND``)."""
    from workbench.models.sites import RESID_KINDS

    p.add_argument(
        "--site-kind",
        default="resid_post",
        choices=RESID_KINDS,
        help="the site of each layer: blocks.L.hook_KIND",
    )


def _add_prompt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="prompt_set",
        help="a built-in set name or a prompt-set file (json, csv, tsv, jsonl, txt)",
    )
    p.add_argument("--kind", help="kind of --set file when it cannot be guessed")
    p.add_argument("--positive", help="text file, one positive prompt per line (with --negative)")
    p.add_argument("--negative", help="text file, one negative prompt per line")


def _add_site_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--layers", default="", help="layers for blocks.L.hook_resid_post, e.g. 12 or 10-14 or 4,8"
    )
    p.add_argument("--site", action="append", default=[], help="a hook site (repeatable)")


def _add_output_args(p: argparse.ArgumentParser, project: bool = True) -> None:
    p.add_argument(
        "--out",
        help="write a vector file (format from the extension: .safetensors, .gguf, .npz, ...)",
    )
    p.add_argument(
        "--format", default=None, help="vector-file format if the extension is ambiguous"
    )
    if project:
        p.add_argument("--project", help="project file to save the concept in (created if missing)")
    else:
        p.add_argument(
            "--save", action="store_true", help="save the result in --project (created if missing)"
        )


def _add_concept_sources(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--concept",
        action="append",
        default=[],
        metavar="[NAME=]FILE",
        help="a vector file (repeatable)",
    )
    p.add_argument("--project", help="a project file whose concepts can be used by name")


def parse_layers(text: str, n_layers: int | None = None) -> list[int]:
    """``"12"``, ``"10-14"``, ``"4,8,12"``, ``"all"`` -> a sorted list of layers."""
    text = (text or "").strip()
    if not text:
        return []
    if text == "all":
        if n_layers is None:
            raise PromptSetError("'all' layers needs a loaded model.")
        return list(range(n_layers))
    out: set[int] = set()
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if lo < 0 or hi < lo or hi - lo > 100_000:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                v = int(part)
                if v < 0:
                    raise ValueError
                out.add(v)
    except ValueError:
        raise PromptSetError(
            f"cannot read layers {text!r}; write layer numbers from 0, e.g. 12, 10-14 or 4,8,12."
        ) from None
    layers = sorted(out)
    return check_layers(layers, n_layers) if n_layers is not None else layers


def precheck_layers(text: str | None) -> None:
    """Read ``--layers``' syntax before the model loads (``all`` and the range against the
    model's layers wait for it)."""
    if text and text.strip() != "all":
        parse_layers(text)


def check_vector_out(path: str | None, fmt: str | None) -> None:
    """``--out``: a vector-file name whose format is known, checked before the extraction
    (``export_concept`` reads the format the same way once the concept is made)."""
    if not path:
        return
    from workbench.io.vector_files import FORMATS

    p = Path(path)
    if p.is_dir():
        raise PromptSetError(f"--out {path} is a folder; give a file name, e.g. happy.safetensors.")
    if fmt is None:
        suffix = p.suffix.lower()
        ok = any(f.can_export and suffix in f.extensions for f in FORMATS.values())
    else:
        info = FORMATS.get(fmt.lower().lstrip("."))
        ok = info is not None and info.can_export
    if not ok:
        writable = ", ".join(
            f"{n} ({'/'.join(f.extensions)})" for n, f in FORMATS.items() if f.can_export
        )
        given = f" --format {fmt}" if fmt else ""
        raise PromptSetError(
            f"--out {path}{given}: the workbench writes {writable}; end the file name with one "
            "of these extensions or give --format."
        )


def _params(items: list[str]) -> dict[str, Any]:
    import json

    out: dict[str, Any] = {}
    for it in items:
        key, sep, value = it.partition("=")
        if not sep:
            raise PromptSetError(f"--param {it!r}: write KEY=VALUE.")
        try:
            v = json.loads(value)
        except ValueError:
            v = value
        if isinstance(v, float) and not math.isfinite(v):
            raise PromptSetError(f"--param {it!r}: the value must be a finite number.")
        out[key.strip()] = v
    return out


def _prompt_set(args: argparse.Namespace, required: bool = True):
    from workbench.concepts.prompt_sets import PromptSet, load_prompt_set, resolve_prompt_set

    if args.positive or args.negative:
        if not (args.positive and args.negative):
            raise PromptSetError("--positive and --negative go together.")
        pos = load_prompt_set(args.positive).texts
        neg = load_prompt_set(args.negative).texts
        return PromptSet(
            Path(args.positive).stem,
            "contrastive",
            positive=pos,
            negative=neg,
            source=f"{args.positive} | {args.negative}",
        )
    if args.prompt_set:
        return resolve_prompt_set(args.prompt_set, kind=args.kind)
    if required:
        raise PromptSetError("give prompts: --set NAME|FILE, or --positive FILE --negative FILE.")
    return None


def _save(concept, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.out:
        from workbench.io.vector_files import export_concept

        out["file"] = str(export_concept(concept, args.out, fmt=args.format))
    if args.project and getattr(args, "save", True):
        saved = save_new_concept(args.project, concept)  # never replaces a stored concept
        out["project_id"] = saved.id
        out["project"] = args.project
        if saved.name != concept.name:
            out["name"] = saved.name
    return out


def _summary(concept) -> dict[str, Any]:
    recipe = {k: v for k, v in concept.recipe.items() if k != "prompts"}
    if concept.recipe.get("prompts"):
        p = concept.recipe["prompts"]
        recipe["prompts"] = {
            "name": p.get("name"),
            "kind": p.get("kind"),
            "source": p.get("source"),
        }
    return {
        "name": concept.name,
        "id": concept.id,
        "model": concept.model.name,
        "norms": concept.norms(),
        "recipe": recipe,
    }


# ---------------------------------------------------------------------------- commands
def _sets(args: argparse.Namespace) -> int:
    from workbench.concepts.prompt_sets import builtin_sets, resources_dir

    sets = builtin_sets()
    print_json(
        {
            "folder": str(resources_dir() / "prompt_sets"),
            "sets": [
                {"name": s.name, "kind": s.kind, "size": len(s), "description": s.description}
                for s in sets.values()
            ],
        }
    )
    return 0


def _extract(args: argparse.Namespace) -> int:
    from workbench.concepts.extraction import ExtractionSpec, extract_job
    from workbench.concepts.methods import check_params
    from workbench.jobs import run_with_progress_bar

    words = [w.strip() for w in (args.words or "").split(",") if w.strip()]
    if args.leading_space:
        words = [" " + w for w in words]
    if args.method in ("embedding", "unembedding") and not words:
        raise PromptSetError(
            f"--method {args.method} reads words: give --words, e.g. --words happy,glad,joyful."
        )
    ps = None if args.method in ("embedding", "unembedding") else _prompt_set(args)
    precheck_layers(args.layers)
    from workbench.models.sites import parse_site

    for site in args.site:
        parse_site(site)  # a misspelt site, before the model loads
    check_vector_out(args.out, args.format)
    params = _params(args.param)
    check_params(args.method, params)  # a key the method does not read, before the load
    hm = load_model_from_args(args)
    spec = ExtractionSpec(
        args.method,
        sites=list(args.site),
        layers=parse_layers(args.layers, hm.n_layers),
        position=args.position,
        prompts=ps,
        words=words,
        name=args.name,
        batch_size=args.batch_size,
        chat=args.chat,
        params=params,
    )
    from workbench.cli._cluster import cluster_from_args, finish

    cluster = cluster_from_args(args)
    try:
        concept = run_with_progress_bar(
            extract_job(hm, spec, cluster=cluster), desc=f"extracting ({args.method})"
        )
    finally:
        finish(cluster, args)
    for w in concept.recipe.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    print_json(_summary(concept) | _save(concept, args))
    return 0


def _load_concepts(args: argparse.Namespace) -> dict[str, Any]:
    concepts: dict[str, Any] = {}
    if getattr(args, "project", None) and Path(args.project).exists():
        from workbench.store import Project

        with Project.open(args.project, read_only=True) as proj:
            for c in proj.concepts():
                concepts[c.name] = c
    for item in args.concept:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = "", item
        from workbench.io.vector_files import import_concept

        c = import_concept(path)
        key = name or c.name or Path(path).stem
        concepts[key] = c.renamed(key) if name else c
    return concepts


def _eval(args: argparse.Namespace) -> int:
    from workbench.concepts.algebra import evaluate

    concepts = _load_concepts(args)
    norms = {}
    for it in args.norm:
        site, _, value = it.rpartition("=")
        try:
            norms[site] = _args.positive_float(value)
        except argparse.ArgumentTypeError as e:
            raise PromptSetError(f"--norm {it!r}: write SITE=NORM with a norm > 0 ({e}).") from None
        if not site:
            raise PromptSetError(
                f"--norm {it!r}: write SITE=NORM, e.g. blocks.12.hook_resid_post=8."
            )
    result = evaluate(args.expression, concepts, name=args.name, target_norms=norms or None)
    print_json(_summary(result) | _save(result, args))
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from workbench.concepts.diagnostics import cosine_matrix, logit_lens, norms_by_layer

    concepts = _load_concepts(args)
    if args.names:
        wanted = [n.strip() for n in args.names.split(",")]
        missing = [n for n in wanted if n not in concepts]
        if missing:
            raise PromptSetError(
                f"no concept named {', '.join(missing)}; there are {', '.join(concepts)}."
            )
        concepts = {n: concepts[n] for n in wanted}
    if not concepts:
        raise PromptSetError("no concepts: give --concept FILE or --project FILE.")
    out: dict[str, Any] = {"norms": {n: dict(norms_by_layer(c)) for n, c in concepts.items()}}
    if len(concepts) > 1:
        out["cosine"] = cosine_matrix(list(concepts.values()), site=args.site).to_dict()
    if args.logit_lens:
        if args.site:  # a site a concept lacks: named with the ones it has, before the load
            for c in concepts.values():
                c.vector(args.site)
        hm = load_model_from_args(args)
        _args.check_top_k(hm, args.k)
        out["logit_lens"] = {
            n: logit_lens(hm, c, site=args.site, k=args.k, norm=args.lens_norm).to_dict()
            | {"site": args.site or c.sites[-1]}
            for n, c in concepts.items()
        }
    print_json(out)
    return 0


def _probe(args: argparse.Namespace) -> int:
    from workbench.cli import concepts_depth
    from workbench.concepts.probing import probe_layers_job
    from workbench.jobs import run_with_progress_bar

    ps = _prompt_set(args)
    precheck_layers(args.layers)
    depth = concepts_depth.wanted(args)  # noise, quantized weights or a figure: concept depth
    if depth and args.cluster:
        raise PromptSetError(
            "--cluster runs the plain probe; concept depth (noise, quantization, figures) "
            "runs in one process. Leave out --cluster or the depth options."
        )
    if depth:
        concepts_depth.spec_from_args(args, None)  # its levels, before the model loads
    hm = load_model_from_args(args)
    if depth:
        return concepts_depth.run_depth(args, ps, hm, parse_layers(args.layers, hm.n_layers))
    from workbench.cli._cluster import cluster_from_args, finish

    cluster = cluster_from_args(args)
    job = probe_layers_job(
        hm,
        ps,
        layers=parse_layers(args.layers, hm.n_layers) or None,
        site_kind=args.site_kind,
        position=args.position,
        folds=args.folds or None,
        batch_size=args.batch_size,
        cluster=cluster,
    )
    try:
        curve = run_with_progress_bar(job, desc="probing")
    finally:
        finish(cluster, args)
    out = curve.to_dict()
    if args.project:
        from workbench.store import Project

        settings = {
            "model": hm.ref.to_dict(), "prompt_set": ps.name, "site_kind": args.site_kind,
            "position": args.position, "folds": args.folds,
        }  # fmt: skip
        with Project.open(args.project, create=True) as project:
            out["run_id"] = project.add_run("probe", f"{ps.name} probe", settings, curve.to_dict())
        out["project"] = args.project
    print_json(out)
    if args.json:
        return 0
    best = curve.best
    print(
        f"best layer {best[0]}: accuracy {best[1]:.3f} (chance {curve.chance:.3f})", file=sys.stderr
    )
    return 0
