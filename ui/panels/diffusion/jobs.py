"""Qt-free glue between the Diffusion panel and the engine (``workbench.diffusion``).

Jobs here run in the model executor (generators, see :mod:`workbench.jobs`). Term parsing and
the edit's :class:`~workbench.diffusion.generate.ImageSpec` are the engine's
(``workbench.diffusion.terms``); the wrappers below import it on first use, so that building
the window imports neither torch nor diffusers.
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
    "neurons": (
        "Concept neurons (switch off / scale)",
        "The prompt with chosen cross-attention key/value neurons switched off (scale 0) or "
        "scaled; the baseline is the plain prompt from the same seed. Score the neurons of a "
        "concept in the Concept neurons tab first.",
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
    from workbench.diffusion.terms import format_terms as engine_format_terms

    return engine_format_terms(rows)


def parse_terms(text: str) -> list[tuple[float, str]]:
    from workbench.diffusion.terms import parse_terms as engine_parse_terms

    return engine_parse_terms(text)


def resolve_item(
    row: TermRow, infos: Mapping[str, Any], load: Callable[[str], Any], ref: Any
) -> Any:
    """A row's item for the engine: the library concept (checked by the engine against the
    loaded pipeline's model ``ref``), or the raw prompt text."""
    from workbench.diffusion.terms import check_term_concept

    info = infos.get(row.text)  # a library name is a concept; anything else a prompt
    if info is None:
        return row.text
    model = info.model_ref  # a workbench.store.ConceptRow
    if model is not None and getattr(model, "kind", "lm") != "diffusion":
        check_term_concept(row.text, model, ref, info.model)
    concept = load(row.text)
    check_term_concept(row.text, concept.model, ref, concept.recipe.get("prompt"))
    return concept


def build_spec(prompt: str, items: Sequence[tuple[float, Any]], level: str, **settings: Any) -> Any:
    from workbench.diffusion.terms import edit_spec

    return edit_spec(prompt, items, level, **settings)


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


@dataclass
class ConesOutput:
    scores: Any  # workbench.diffusion.cones.ConeScores
    figure_spec: dict[str, Any]
    figure_files: dict[str, bytes]  # png, svg, pdf


def cones_job(dm: Any, spec: Any) -> Job[ConesOutput]:
    """Score the concept neurons, then draw their figure (off the GUI thread)."""
    from workbench.diffusion.cones import cones_job as engine_cones_job
    from workbench.figures import render_all

    job = engine_cones_job(dm, spec)
    last = Progress(0, None)
    try:
        while True:
            last = next(job)
            yield last
    except StopIteration as stop:
        scores = stop.value
    finally:
        job.close()
    yield Progress(last.done, last.total, "drawing the figure")  # the passes stay counted
    fig = scores.figure_spec()
    return ConesOutput(scores, fig, render_all(fig))


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
