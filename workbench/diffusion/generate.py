"""Generate images from concept arithmetic, as jobs with per-step previews.

Every image gets a fresh ``torch.Generator("cpu").manual_seed(seed)``, so an image depends on
its seed alone (not on its place in a batch's random stream) and reproduces across devices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.concepts.concept import Concept
from workbench.diffusion._stepper import pipeline_job
from workbench.diffusion.embeddings import (
    LEVELS,
    Conditioning,
    Item,
    Term,
    combined_conditioning,
    negative_conditioning,
    term_conditionings,
)
from workbench.diffusion.guidance import ComposedGuidance
from workbench.diffusion.preview import capture_x0, preview_images
from workbench.diffusion.provenance import image_info, png_with_provenance
from workbench.errors import NonFiniteError, WorkbenchError
from workbench.jobs import Job

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from workbench.diffusion.cones import NeuronEdit
    from workbench.diffusion.loading import DiffusionModel


def _label(item: Any) -> str:
    return repr(item) if isinstance(item, str) else repr(getattr(item, "name", item))


@dataclass(frozen=True, eq=False)  # holds Concepts (tensors): compare fields, not specs
class ImageSpec:
    """One image: what to condition on, at which level, and how to sample.

    ``terms`` are ``(coefficient, concept or prompt)`` pairs (an expression already parsed by the
    concept algebra); empty ``terms`` means the plain ``prompt``. ``level``: ``text_encoder``
    (combine ``prompt_embeds`` and pooled vectors), ``token_embeds`` (combine the encoders' input
    embeddings; positions from ``base_prompt``, default the first term's prompt) or ``noise``
    (compose the noise predictions; needs ``guidance > 1``) or ``neurons`` (combine as at
    ``text_encoder``, with ``neurons``, a :class:`~workbench.diffusion.cones.NeuronEdit`,
    switching cross-attention key/value neurons off or scaling them; an edit given at another
    level applies there too). ``negative_prompt=None`` keeps the pipeline's default
    unconditional branch. ``width``/``height`` ``None``: the model's default.
    """

    terms: tuple[Term, ...] = ()
    prompt: str | None = None
    level: str = "text_encoder"
    negative_prompt: str | None = None
    seed: int = 0
    steps: int = 30
    guidance: float = 7.5
    width: int | None = None
    height: int | None = None
    preview_every: int = 1  # 0: no previews
    expression: str | None = None  # how the terms were written, for labels and provenance
    base_prompt: str | None = None
    neurons: NeuronEdit | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple((float(w), i) for w, i in self.terms))
        if self.level not in LEVELS:
            raise WorkbenchError(f"level {self.level!r}; choose one of {', '.join(LEVELS)}")
        if not self.terms and not self.prompt:
            raise WorkbenchError("give a prompt or at least one concept term")
        if self.level == "neurons" and self.neurons is None:
            raise WorkbenchError(
                "level 'neurons' needs a NeuronEdit (neurons=...): the concept neurons to switch "
                "off or scale"
            )
        if int(self.steps) < 1:
            raise WorkbenchError(f"steps must be at least 1, got {self.steps}")
        # NaN or inf would render a black or noise image without a word
        bad = [f"{w} for {_label(i)}" for w, i in self.terms if not math.isfinite(w)]
        if not math.isfinite(float(self.guidance)):
            bad.append(f"guidance {self.guidance}")
        if bad:
            raise NonFiniteError(f"not finite: {', '.join(bad)}; use finite numbers.")
        for side in ("width", "height"):
            v = getattr(self, side)
            if v is not None and (int(v) < 8 or int(v) % 8):
                raise WorkbenchError(
                    f"{side} {v}: must be divisible by 8 (the latent is 1/8 of it)"
                )
        if int(self.seed) < 0 or int(self.preview_every) < 0:
            raise WorkbenchError("seed and preview_every must be 0 or more")

    @property
    def effective_terms(self) -> tuple[Term, ...]:
        return self.terms or ((1.0, self.prompt),)  # type: ignore[return-value]

    def replace(self, **changes: Any) -> ImageSpec:
        return dataclasses.replace(self, **changes)

    def baseline(self) -> ImageSpec:
        """The unedited image: ``prompt`` if given, else the first term alone at weight 1."""
        item: Item = self.prompt if self.prompt else self.effective_terms[0][1]
        return self.replace(
            terms=((1.0, item),), level="text_encoder", expression=None, neurons=None
        )


def spec_from_expression(
    expr: str, concepts: Mapping[str, Concept], level: str = "text_encoder", **kwargs: Any
) -> ImageSpec:
    """An :class:`ImageSpec` from a concept-algebra expression (``castle + 0.6*winter``).

    A linear expression keeps one term per concept (per-term provenance, coefficient sweeps,
    noise-level composition; repeated names are merged by ``algebra.linear_terms``). A non-linear
    one (``normalize``, ``project_out``, ``slerp``) is evaluated into a single concept, which
    works at the ``text_encoder`` and ``token_embeds`` levels only.
    """
    from workbench.concepts.algebra import (
        ExpressionError,
        as_node,
        evaluate,
        linear_terms,
        names,
    )

    node = as_node(expr)
    used = names(node)
    missing = [n for n in used if n not in concepts]
    if missing:
        raise ExpressionError(
            f"unknown concept(s) {', '.join(missing)}; known: {', '.join(sorted(concepts)) or 'none'}."
        )
    try:
        terms: tuple[Term, ...] = tuple((w, concepts[n]) for n, w in linear_terms(node).items())
    except ExpressionError:
        if level == "noise":
            raise
        terms = ((1.0, evaluate(node, concepts)),)
    if level == "token_embeds" and "base_prompt" not in kwargs:
        kwargs["base_prompt"] = next(
            (p for n in used if (p := concepts[n].recipe.get("prompt"))), None
        )
    return ImageSpec(terms=terms, level=level, expression=node.to_text(), **kwargs)


@dataclass
class ImageResult:
    image: Image.Image
    array: np.ndarray  # [H, W, 3] float32 in [0, 1], before quantisation
    spec: ImageSpec
    info: dict[str, Any]  # provenance (see provenance.image_info)

    def png_bytes(self) -> bytes:
        return png_with_provenance(self.image, self.info)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_bytes(self.png_bytes())
        return p


@dataclass(frozen=True)
class StepPreview:
    """``Progress.payload`` after a denoising step: x0-estimate previews (``None`` on steps
    between ``preview_every``), one per image of the running call."""

    step: int  # 1-based
    steps: int
    images: list[Image.Image] | None
    part: str = ""  # e.g. "baseline" / "edited"
    indices: list[int] = field(default_factory=list)  # which requested images these are

    @property
    def image(self) -> Image.Image | None:
        return self.images[0] if self.images else None


# ------------------------------------------------------------------------------ call assembly
def _call_key(spec: ImageSpec) -> tuple:
    """Images with equal keys can share one pipeline call."""
    key: tuple = (spec.level, spec.steps, spec.guidance, spec.width, spec.height,
                  spec.negative_prompt, spec.preview_every)  # fmt: skip
    if spec.level == "noise":  # one call composes one set of concepts
        key += tuple(_item_key(i) for _, i in spec.effective_terms)
    if spec.neurons is not None:  # the neurons are switched in the model, for the whole call
        key += ("neurons", spec.neurons.key())
    return key


def _item_key(item: Item) -> str:
    return item if isinstance(item, str) else f"{item.id}:{item.content_hash()}"


def _conditioning(dm: DiffusionModel, spec: ImageSpec) -> Conditioning:
    level = "text_encoder" if spec.level in ("noise", "neurons") else spec.level
    return combined_conditioning(dm, spec.effective_terms, level, spec.base_prompt)


def _call_kwargs(dm: DiffusionModel, specs: list[ImageSpec]) -> tuple[dict[str, Any], Any]:
    """Pipeline kwargs for a batch of compatible specs, and the context to run the call in."""
    import torch

    first = specs[0]
    dev, dtype = dm.execution_device, dm.dtype or dm.denoiser.dtype
    contexts: list[Any] = []  # entered together when the call runs
    if first.neurons is not None:
        first.neurons.check(dm)  # before the call: a clear message, not a hook failure
        contexts.append(first.neurons.applied(dm))
    if first.level == "noise":
        if dm.family == "flux":
            raise WorkbenchError(
                "Flux is guidance-distilled (no unconditional branch to compose against); use "
                "the text_encoder or token_embeds level."
            )
        if first.guidance <= 1:
            raise WorkbenchError("noise-level composition needs guidance > 1 (a CFG batch).")
        items = [i for _, i in first.effective_terms]
        conds = [c.to(dev, dtype) for c in term_conditionings(dm, items)]
        weights = torch.tensor([[w for w, _ in s.effective_terms] for s in specs])
        contexts.append(ComposedGuidance(dm.denoiser, conds, weights))
        cond = conds[0].repeat(len(specs))  # placeholder for the cond half, replaced per term
    else:
        cond = Conditioning.cat([_conditioning(dm, s) for s in specs]).to(dev, dtype)
    kwargs: dict[str, Any] = {
        "prompt_embeds": cond.hidden,
        "num_inference_steps": first.steps,
        "guidance_scale": first.guidance,
        "height": first.height,
        "width": first.width,
        "generator": [torch.Generator("cpu").manual_seed(int(s.seed)) for s in specs],
        "output_type": "np",
    }
    if cond.pooled is not None:
        kwargs["pooled_prompt_embeds"] = cond.pooled
    neg = negative_conditioning(dm, first.negative_prompt, cond)
    if neg is not None:
        neg = neg.to(dev, dtype).repeat(len(specs))
        kwargs["negative_prompt_embeds"] = neg.hidden
        if neg.pooled is not None:
            kwargs["negative_pooled_prompt_embeds"] = neg.pooled
    return kwargs, _entered_together(contexts)


@contextlib.contextmanager
def _entered_together(contexts: list[Any]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for c in contexts:
            stack.enter_context(c)
        yield


# ----------------------------------------------------------------------------------- the jobs
def generate_batch(
    dm: DiffusionModel, specs: list[ImageSpec], max_batch: int = 8, part: str = ""
) -> Job[list[ImageResult]]:
    """Generate several images; compatible ones (same level, steps, guidance, size, negative
    prompt; for ``noise`` also the same concepts) share one pipeline call of up to
    ``max_batch`` images. Results come back in the order of ``specs``.

    Batched images are not bit-identical to one-by-one ones (batched kernels sum in another
    order; ~2e-6 on [0, 1] pixels in float32 on the CPU), but re-running the same batch
    reproduces them exactly; each image's provenance records its batch size and index.
    """
    groups: dict[tuple, list[int]] = {}
    for idx, s in enumerate(specs):
        groups.setdefault(_call_key(s), []).append(idx)
    calls = [
        ids[k : k + max_batch] for ids in groups.values() for k in range(0, len(ids), max_batch)
    ]
    grand_total = sum(specs[ids[0]].steps for ids in calls)
    results: list[ImageResult | None] = [None] * len(specs)
    done = 0
    for ids in calls:
        batch = [specs[i] for i in ids]
        out, ran = yield from _run_call(dm, batch, ids, done, grand_total, part)
        for i, r in zip(ids, out, strict=True):
            results[i] = r
        grand_total += ran - batch[0].steps  # second-order samplers run more timesteps
        done += ran
    return results  # type: ignore[return-value]


def _run_call(
    dm: DiffusionModel, specs: list[ImageSpec], ids: list[int], done: int, grand_total: int,
    part: str,
) -> Job[tuple[list[ImageResult], int]]:  # fmt: skip
    """One pipeline call; returns the images and how many denoising steps actually ran."""
    first = specs[0]
    kwargs, context = _call_kwargs(dm, specs)
    every, steps = first.preview_every, first.steps
    size: dict[str, int] = {}
    ran = {"steps": steps}

    def on_step(i: int, n: int) -> StepPreview:
        ran["steps"] = n
        images = None
        if every and ((i + 1) % every == 0 or i + 1 == n) and holder.x0 is not None:
            h = first.height or size.setdefault("h", _default_size(dm)[0])
            w = first.width or size.setdefault("w", _default_size(dm)[1])
            images = preview_images(dm.pipe, dm.family, holder.x0, h, w)
        return StepPreview(i + 1, n, images, part, list(ids))

    with context, capture_x0(dm.pipe.scheduler) as holder:
        out = yield from pipeline_job(
            dm.pipe, kwargs, on_step, steps, done, grand_total, label=part
        )
    arrays = out.images  # [B, H, W, 3] float32
    pils = dm.pipe.image_processor.numpy_to_pil(arrays)
    scheduler = dm.pipe.scheduler
    results = [
        ImageResult(pil, arrays[k], s, image_info(dm, s, pil.size, scheduler, len(specs), k))
        for k, (pil, s) in enumerate(zip(pils, specs, strict=True))
    ]
    return results, ran["steps"]


def _default_size(dm: DiffusionModel) -> tuple[int, int]:
    pipe = dm.pipe
    if dm.family in ("sd", "sdxl"):
        s = pipe.unet.config.sample_size
        s = s if isinstance(s, int) else s[0]
        return s * pipe.vae_scale_factor, s * pipe.vae_scale_factor
    return (
        pipe.default_sample_size * pipe.vae_scale_factor,
        pipe.default_sample_size * pipe.vae_scale_factor,
    )


def generate_image(dm: DiffusionModel, spec: ImageSpec) -> Job[ImageResult]:
    """One image as a job: ``Progress`` per step with a :class:`StepPreview` payload."""
    results = yield from generate_batch(dm, [spec])
    return results[0]


@dataclass
class Comparison:
    baseline: ImageResult
    edited: ImageResult
    side_by_side: Image.Image  # labelled, baseline left


def baseline_and_edited(dm: DiffusionModel, spec: ImageSpec) -> Job[Comparison]:
    """The unedited and the edited image from the same seed (two calls, each reproducible alone),
    and a labelled side-by-side picture."""
    from workbench.diffusion.grid import labelled_grid

    total = 2 * spec.steps
    base_job = generate_batch(dm, [spec.baseline()], part="baseline")
    baseline = (yield from _offset(base_job, 0, total))[0]
    edited = (yield from _offset(generate_batch(dm, [spec], part="edited"), spec.steps, total))[0]
    label = edited.info.get("expression", "edited")
    grid = labelled_grid([[baseline.image, edited.image]], col_labels=["baseline", label])
    return Comparison(baseline, edited, grid)


def _offset(job: Job[Any], done: int, total: int) -> Job[Any]:
    from workbench.jobs import Progress

    try:
        while True:
            p = next(job)
            yield Progress(done + p.done, total, p.message, p.payload)
    except StopIteration as stop:
        return stop.value
    finally:
        job.close()
