"""Qt-free glue between the Diffusion panel and the engine (``workbench.diffusion``).

Jobs here run in the model executor (generators, see :mod:`workbench.jobs`); the helpers that
turn the panel's rows into an :class:`~workbench.diffusion.generate.ImageSpec` run on the GUI
thread and touch no tensor. torch and diffusers are imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.jobs import Job, Progress

LEVELS = {
    "text_encoder": (
        "Text-encoder output",
        "Concept arithmetic on what the text encoder returns: the token sequence the denoiser "
        "attends to and, for SDXL/SD3/Flux, the pooled vector, always combined together. "
        "A concept is a prompt's embedding.",
    ),
    "token_embeds": (
        "Token embeddings",
        "Arithmetic on the text encoders' input (token) embeddings; the result is then pushed "
        "through the encoders with the prompt's token positions (and CLIP's pooling position).",
    ),
    "noise": (
        "Noise prediction (composable)",
        "Noise-prediction arithmetic (composable diffusion): ε = ε(∅) + g·Σ wᵢ(ε(cᵢ) − ε(∅)); "
        "negative weights push away from a concept. One denoiser pass per term per step "
        "(slower), and it needs guidance > 1. Not for Flux (guidance-distilled).",
    ),
}


# ------------------------------------------------------------------------------ terms
@dataclass(frozen=True)
class TermRow:
    """One row of the panel's term list: a library concept's name or a raw prompt."""

    text: str
    coefficient: float
    is_concept: bool = False


def format_terms(rows: Sequence[tuple[float, str]]) -> str:
    """``[(0.6, "winter"), (-0.4, "summer")]`` -> ``0.6*winter - 0.4*summer`` (algebra spelling)."""
    from workbench.concepts.algebra import Sum, Term, scale

    nodes = [scale(float(w), Term(name)) for w, name in rows if name.strip()]
    if not nodes:
        return ""
    return (nodes[0] if len(nodes) == 1 else Sum(nodes)).to_text()


def parse_terms(text: str) -> list[tuple[float, str]]:
    """An edit expression (``0.6*winter - 0.4*"a hot summer"``) -> ``[(weight, name)]``.

    Only weighted sums: a non-linear combination (``normalize``, ``slerp``...) is made on the
    vector canvas and saved as a concept first.
    """
    from workbench.concepts.algebra import ExpressionError, linear_terms

    text = text.strip()
    if not text:
        return []
    try:
        weights = linear_terms(text)
    except ExpressionError as e:
        raise ExpressionError(
            f"{e} Only weighted sums of concepts or prompts work here (e.g. 0.6*winter - "
            '0.4*"hot summer"); combine non-linearly on the Vector canvas and save the result '
            "as a concept."
        ) from e
    return [(w, name) for name, w in weights.items()]


def resolve_item(
    row: TermRow, infos: Mapping[str, dict], load: Callable[[str], Any], ref: Any
) -> Any:
    """A row's item for the engine: the library concept (checked against the loaded pipeline's
    model ``ref``), or the raw prompt text."""
    from workbench.errors import ShapeMismatchError

    info = infos.get(row.text)  # a library name is a concept; anything else a prompt
    if info is None:
        return row.text
    model = info.get("model_ref")
    if model is not None and getattr(model, "kind", "lm") != "diffusion":
        raise ShapeMismatchError(
            f"{row.text!r} is a language-model concept ({info['model']}); this panel takes "
            "prompt concepts of a diffusion model. Reword the term (a library concept's name "
            "means that concept), or make a diffusion concept with 'Encode as concept'."
        )
    concept = load(row.text)
    if not concept.model.same_space(ref):
        raise ShapeMismatchError(
            f"{row.text!r} was encoded with {concept.model.name}, not with the loaded "
            f"{ref.name}. Load {concept.model.name}, or write its prompt "
            f"({concept.recipe.get('prompt')!r}) as a term and press 'Encode as concept'."
        )
    return concept


def build_spec(prompt: str, items: Sequence[tuple[float, Any]], level: str, **settings: Any) -> Any:
    """The edited image's spec: the prompt at weight 1 plus the terms; its baseline is the
    prompt alone (same seed)."""
    from workbench.diffusion.generate import ImageSpec
    from workbench.diffusion.provenance import format_expression

    terms = ((1.0, prompt), *((float(w), i) for w, i in items))
    return ImageSpec(
        terms=terms,
        prompt=prompt,
        level=level,
        expression=format_expression(terms),
        base_prompt=prompt if level == "token_embeds" else None,
        **settings,
    )


# ------------------------------------------------------------------------------ jobs


def load_job(
    source: str,
    device: str | None,
    dtype: str | None,
    offload: Any,
    config: str | None,
    cache_dir: str | None = None,
) -> Job[Any]:
    """Load a local pipeline (never downloads)."""
    from workbench.diffusion.loading import load_diffusion_pipeline

    yield Progress(0, None, "loading the pipeline")
    dm = load_diffusion_pipeline(
        source, device=device, dtype=dtype, cpu_offload=offload, config=config,
        cache_dir=cache_dir,
    )  # fmt: skip
    yield Progress(0, None, "fitting the preview colours to the VAE")
    from workbench.diffusion.latent_rgb import prepare_latent_rgb

    prepare_latent_rgb(dm)  # once per VAE (then cached on disk); never raises
    yield Progress(1, 1, "loaded")
    return dm


def encode_job(dm: Any, prompt: str, name: str, level: str) -> Job[Any]:
    """A prompt's embedding as a library concept, marked with the pipeline's model."""
    from workbench.diffusion.embeddings import encode_concept

    yield Progress(0, 1, "encoding the prompt")
    concept = encode_concept(dm, prompt, name=name, level=level)
    yield Progress(1, 1, "encoded")
    return concept


@dataclass
class PairResult:
    comparison: Any  # workbench.diffusion.generate.Comparison
    edited_png: bytes
    baseline_png: bytes


def pair_job(dm: Any, spec: Any) -> Job[PairResult]:
    """Baseline and edited images from the same seed; the PNGs (with provenance chunks) are
    encoded here, off the GUI thread."""
    from workbench.diffusion.generate import baseline_and_edited

    c = yield from baseline_and_edited(dm, spec)
    return PairResult(c, c.edited.png_bytes(), c.baseline.png_bytes())


@dataclass
class SweepOutput:
    result: Any  # workbench.diffusion.sweep.SweepResult
    grid_png: bytes
    cell_pngs: list[list[bytes]]  # [row][column]


def sweep_job(dm: Any, sweep: Any) -> Job[SweepOutput]:
    from workbench.diffusion.sweep import run_sweep

    r = yield from run_sweep(dm, sweep)
    cells = [[cell.png_bytes() for cell in row] for row in r.images]
    return SweepOutput(r, r.png_bytes(), cells)


def find_pipelines(cache_dir: str | None = None) -> list[dict[str, Any]]:
    """Pipelines in the local Hugging Face cache, as ``{label, source, tip}`` entries."""
    from workbench.diffusion.catalog import find_cached_pipelines

    out = []
    for c in find_cached_pipelines(cache_dir):
        family = c.family or "unsupported"
        out.append(
            {
                "label": f"{c.repo_id}  ({family}, HF cache)",
                "source": c.source,
                "config": None,
                "tip": f"{c.class_name} · {c.size_on_disk / 2**30:.1f} GiB\n{c.path}",
                "supported": c.family is not None,
            }
        )
    return out


def png_bytes(image: Any, info: dict) -> bytes:
    from workbench.diffusion.provenance import png_with_provenance

    return png_with_provenance(image, info)
