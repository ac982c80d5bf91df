"""Diffusion models: concept arithmetic on prompts, previews, sweeps and provenance.

Importing this package is cheap (torch and diffusers load on first use), so a window can import
it at start-up. The flow a panel drives::

    dm = load_diffusion_pipeline("/models/sd15")            # or "hf-cache:<repo>", or a file + config=
    castle = encode_concept(dm, "a castle")                  # a Concept, kind="diffusion"
    winter = encode_concept(dm, "winter")
    spec = spec_from_expression("castle + 0.6*winter", {"castle": castle, "winter": winter},
                                seed=1, steps=30)            # or ImageSpec(terms=[(1.0, castle), ...])
    job = baseline_and_edited(dm, spec)                      # a job: Progress per step,
    for progress in job: show(progress.payload.image)        # payload: StepPreview (x0 preview)
    # cancel: job.close();  result: workbench.jobs.run(job) -> Comparison
    png = comparison.edited.png_bytes()                      # provenance in text chunks

Levels (``ImageSpec.level``): ``text_encoder`` (prompt_embeds + pooled), ``token_embeds`` (the
encoders' input embeddings), ``noise`` (composed noise predictions, Σ wᵢ·ε(cᵢ)).
"""

from workbench.diffusion.catalog import CachedPipeline, find_cached_pipelines, is_pipeline_folder
from workbench.diffusion.embeddings import LEVELS, encode_concept, token_embeddings
from workbench.diffusion.generate import (
    Comparison,
    ImageResult,
    ImageSpec,
    StepPreview,
    baseline_and_edited,
    generate_batch,
    generate_image,
    spec_from_expression,
)
from workbench.diffusion.grid import labelled_grid
from workbench.diffusion.loading import DiffusionModel, load_diffusion_pipeline, wrap_pipeline
from workbench.diffusion.provenance import png_with_provenance, read_provenance
from workbench.diffusion.sweep import SweepAxis, SweepResult, SweepSpec, run_sweep

__all__ = [
    "LEVELS",
    "CachedPipeline",
    "Comparison",
    "DiffusionModel",
    "ImageResult",
    "ImageSpec",
    "StepPreview",
    "SweepAxis",
    "SweepResult",
    "SweepSpec",
    "baseline_and_edited",
    "encode_concept",
    "find_cached_pipelines",
    "generate_batch",
    "generate_image",
    "is_pipeline_folder",
    "labelled_grid",
    "load_diffusion_pipeline",
    "png_with_provenance",
    "read_provenance",
    "run_sweep",
    "spec_from_expression",
    "token_embeddings",
    "wrap_pipeline",
]
