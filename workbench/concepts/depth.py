"""Concept depth under perturbation: the probe-accuracy-by-layer curve of a labelled set, again
with the input made noisy and with the model's weights quantized ("Exploring Concept Depth").

Conditions
----------
``plain``
    The model as loaded.
``token_noise`` (level ``p``)
    Each token of every prompt is replaced, with probability ``p``, by a random ordinary token:
    the embedding module's output at that position becomes the embedding of the random token.
``embed_noise`` (level ``s``)
    Gaussian noise of standard deviation ``s × rms(E)`` is added to every token embedding
    (``rms(E)``: the root mean square of the embedding module's output over the vocabulary;
    for Gemma that includes the module's × sqrt(d_model)).
``quantize`` (``b`` bits)
    A copy of the model whose linear layers' weights are rounded to ``b`` bits, per output
    channel, symmetric round-to-nearest: ``w_q = round(w / s) · s`` with
    ``s = max|w_row| / (2^(b-1) - 1)``. The embedding and the unembedding stay as they are
    (in most small models they are one tied matrix).

Noise is drawn from seeded generators, so a run is reproducible; level 0 is the plain model
(no intervention at all). Probes are trained and tested on activations of the same condition,
with the folds of :func:`workbench.concepts.probing.probe_layers_job` (error bars: the spread
over folds).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from workbench.concepts.probing import ProbeCurve, probe_layers_job
from workbench.concepts.prompt_sets import PromptSet
from workbench.errors import WorkbenchError
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention

KINDS = ("plain", "token_noise", "embed_noise", "quantize")


@dataclass
class TokenReplace(Intervention):
    """At ``hook_embed``: each position, with probability ``fraction``, gets the embedding of a
    random token from ``pool`` (drawn from ``generator``): the output of the embedding module
    ``embed`` for that token, so a module that scales its lookup (Gemma: × sqrt(d_model))
    gives a replacement on the same scale as the tokens around it."""

    fraction: float = 0.0
    embed: torch.nn.Module = field(default=None)  # type: ignore[assignment]  # the model's own
    pool: torch.Tensor = field(default=None)  # type: ignore[assignment]  # token ids
    generator: torch.Generator = field(default=None)  # type: ignore[assignment]

    def apply(self, x, mask):  # x: [batch, pos, d_model]
        hit = torch.rand(x.shape[:2], generator=self.generator) < self.fraction
        ids = self.pool[torch.randint(len(self.pool), x.shape[:2], generator=self.generator)]
        with torch.no_grad():  # .forward, not __call__: this runs inside the module's own hook
            new = self.embed.forward(ids.to(_weight_device(self.embed))).to(x.device, x.dtype)
        return torch.where(hit.to(x.device).unsqueeze(-1), new, x)


@dataclass
class EmbedNoise(Intervention):
    """At ``hook_embed``: ``x + std · N(0, 1)`` (drawn from ``generator``)."""

    std: float = 0.0
    generator: torch.Generator = field(default=None)  # type: ignore[assignment]

    def apply(self, x, mask):
        noise = torch.randn(x.shape, generator=self.generator, dtype=torch.float32)
        return x + (self.std * noise).to(x.device, x.dtype)


def quantize_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel (row) symmetric round-to-nearest of ``w`` ``[out, in]`` to ``bits``."""
    if bits < 2:
        raise WorkbenchError(f"{bits} bits: give 2 or more.")
    qmax = 2 ** (bits - 1) - 1
    w32 = w.float()
    scale = w32.abs().amax(dim=-1, keepdim=True) / qmax
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    return ((w32 / scale).round().clamp(-qmax, qmax) * scale).to(w.dtype)


def quantized_copy(hm: HookedModel, bits: int) -> HookedModel:
    """A copy of ``hm`` with every linear layer's weight quantized (:func:`quantize_weight`;
    torch ``Linear`` per row, GPT-2's ``Conv1D`` ``[in, out]`` per column, both per output
    channel); ``hm`` is left untouched. The embedding and unembedding matrices are not quantized."""
    model = copy.deepcopy(hm.model)
    keep = {id(model.get_input_embeddings().weight)}
    out = model.get_output_embeddings()
    if out is not None:
        keep.add(id(out.weight))
    from transformers.pytorch_utils import Conv1D

    done = 0
    with torch.no_grad():
        for mod in model.modules():
            if id(getattr(mod, "weight", None)) in keep:
                continue
            if isinstance(mod, torch.nn.Linear):
                mod.weight.copy_(quantize_weight(mod.weight, bits))
                done += 1
            elif isinstance(mod, Conv1D):  # GPT-2's linear layer: weight [in, out], per column
                mod.weight.copy_(quantize_weight(mod.weight.T, bits).T)
                done += 1
    if done == 0:
        raise WorkbenchError(
            f"{bits}-bit weights: this model has no linear layers the quantizer knows "
            "(torch Linear or transformers Conv1D), so nothing would be quantized."
        )
    return HookedModel(model, hm.tokenizer, ref=hm.ref, info=dict(hm.info))


@dataclass(frozen=True)
class DepthSpec:
    """Which perturbations to add to the plain curve, and how to probe."""

    token_noise: tuple[float, ...] = ()  # fractions of tokens replaced, in [0, 1]
    embed_noise: tuple[float, ...] = ()  # std of the noise in units of rms(E)
    bits: tuple[int, ...] = ()  # weight quantization bit widths
    layers: tuple[int, ...] | None = None
    site_kind: str = "resid_post"
    position: str = "last"
    folds: int | None = 5
    seed: int = 0
    batch_size: int = 16

    def __post_init__(self) -> None:
        for name in ("token_noise", "embed_noise", "bits"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(int(x) for x in self.layers))
        bad = [p for p in self.token_noise if not (math.isfinite(p) and 0 <= p <= 1)]
        if bad:
            raise WorkbenchError(f"token noise {bad}: give fractions from 0 to 1.")
        bad = [s for s in self.embed_noise if not (math.isfinite(s) and s >= 0)]
        if bad:
            raise WorkbenchError(f"embedding noise {bad}: give standard deviations of 0 or more.")
        bad_bits = [b for b in self.bits if not 2 <= int(b) <= 32]
        if bad_bits:
            raise WorkbenchError(f"bit widths {bad_bits}: give 2 to 32 bits.")

    def conditions(self) -> list[tuple[str, float]]:
        """``("plain", 0)`` first, then every perturbation in the order given."""
        return (
            [("plain", 0.0)]
            + [("token_noise", float(p)) for p in self.token_noise]
            + [("embed_noise", float(s)) for s in self.embed_noise]
            + [("quantize", float(b)) for b in self.bits]
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def condition_label(kind: str, level: float) -> str:
    if kind == "plain":
        return "plain"
    if kind == "token_noise":
        return f"tokens replaced {level:g}"
    if kind == "embed_noise":
        return f"embedding noise {level:g}"
    return f"{int(level)}-bit weights"


@dataclass(frozen=True)
class DepthResult:
    """One probe curve per condition (``conditions[i]`` ↔ ``curves[i]``)."""

    prompt_set: str
    conditions: list[tuple[str, float]]
    curves: list[ProbeCurve]
    spec: DepthSpec
    kind = "concept_depth"  # the project run's analysis

    @property
    def labels(self) -> list[str]:
        return [condition_label(k, v) for k, v in self.conditions]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_set": self.prompt_set,
            "conditions": [
                {"kind": k, "level": v, "label": condition_label(k, v)} for k, v in self.conditions
            ],
            "curves": [c.to_dict() for c in self.curves],
            "spec": self.spec.to_dict(),
            "settings": {"prompt_set": self.prompt_set, **self.spec.to_dict()},
        }

    def figure_spec(self) -> dict[str, Any]:
        """Accuracy by layer, one line per condition, error bars = std over folds."""
        first = self.curves[0]
        return {
            "kind": "line",
            "title": f"Concept depth of {self.prompt_set} under perturbation "
            f"({first.site_kind}, {first.folds} folds)",
            "xlabel": "layer",
            "ylabel": "probe accuracy",
            "x": [p[0] for p in first.points],
            "series": {
                lab: [p[1] for p in c.points]
                for lab, c in zip(self.labels, self.curves, strict=True)
            },
            "errors": {lab: list(c.std) for lab, c in zip(self.labels, self.curves, strict=True)},
            "hline": first.chance,
        }


def _noise(hm: HookedModel, kind: str, level: float, seed: int) -> list[Intervention]:
    if level == 0:
        return []
    g = torch.Generator().manual_seed(seed)
    embed = hm.adapter.embed()
    vocab = int(embed.weight.shape[0])
    if kind == "token_noise":
        special = set(getattr(hm.tokenizer, "all_special_ids", []) or [])
        pool = torch.tensor([t for t in range(min(len(hm.tokenizer), vocab)) if t not in special])
        return [TokenReplace("hook_embed", fraction=level, embed=embed, pool=pool, generator=g)]
    return [EmbedNoise("hook_embed", std=level * embedding_rms(embed), generator=g)]


def _weight_device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def embedding_rms(embed: torch.nn.Module, chunk: int = 4096) -> float:
    """Root mean square of the embedding module's output over the whole vocabulary: what the
    first block sees, so Gemma's × sqrt(d_model) inside the module is counted."""
    vocab = int(embed.weight.shape[0])  # type: ignore[index]
    dev = _weight_device(embed)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, vocab, chunk):
            out = embed.forward(torch.arange(start, min(start + chunk, vocab), device=dev))
            total += float(out.float().pow(2).sum())
            count += out.numel()
    return math.sqrt(total / count)


def concept_depth_job(hm: HookedModel, prompts: PromptSet, spec: DepthSpec) -> Job[DepthResult]:
    """Probe accuracy by layer for the plain model and every perturbation of ``spec`` (a job)."""
    conds = spec.conditions()
    curves: list[ProbeCurve] = []
    for i, (kind, level) in enumerate(conds):
        label = condition_label(kind, level)
        yield Progress(i, len(conds), label)
        model = hm
        ivs: list[Intervention] = []
        if kind == "quantize":
            model = quantized_copy(hm, int(level))
        elif kind != "plain":
            ivs = _noise(hm, kind, level, spec.seed + i)
        try:
            curve = yield from probe_layers_job(
                model,
                prompts,
                layers=spec.layers,
                site_kind=spec.site_kind,
                position=spec.position,
                folds=spec.folds,
                seed=spec.seed,
                batch_size=spec.batch_size,
                interventions=ivs,
            )
        finally:
            del model  # a quantized copy is freed before the next one is made
        curves.append(curve)
    yield Progress(len(conds), len(conds), "done")
    return DepthResult(prompts.name, conds, curves, spec)


def parse_levels(items: Sequence[str], flag: str) -> list[float]:
    """``["0.1", "0.3,0.5"]`` → ``[0.1, 0.3, 0.5]`` (the command line's repeated lists)."""
    out = []
    for it in items:
        for part in it.split(","):
            if part.strip():
                try:
                    out.append(float(part))
                except ValueError:
                    raise WorkbenchError(f"{flag} {part!r} is not a number.") from None
    return out
