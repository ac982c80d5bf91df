"""Looking at concepts: norms by layer, cosine matrices, logit-lens read-outs and projections of
prompts onto an axis between two concepts ("Labor Space").

Logit lens
----------
A vector ``v`` written into the last residual stream promotes the tokens ``W_U · N(v)`` where
``N`` is the final norm. We apply the model's own final norm module and subtract what it gives
for the zero vector: ``N(v) - N(0)``. For RMSNorm that is ``g ⊙ v / rms(v)``, the common
``W_U (g ⊙ v)`` times a positive number, so the ranking of tokens is the same; the same recipe
handles Gemma's ``(1 + g)`` weight and LayerNorm's centring (GPT-2, NeoX), and it drops the
norm's bias, which favours the same tokens whatever ``v`` is. Scores are therefore on the
scale of a normal final residual. ``norm="none"`` reads ``W_U · v`` raw. The unembedding's
bias (if any) is left out for the same reason as the norm's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from workbench.errors import ShapeMismatchError
from workbench.jobs import Job, Progress

if TYPE_CHECKING:
    from workbench.concepts.concept import Concept
    from workbench.models.hooked import HookedModel


# ----------------------------------------------------------------------------- norms
def norms_by_layer(concept: Concept) -> list[tuple[str, float]]:
    """``[(site, L2 norm)]`` in the concept's site order."""
    return [(s, float(v.float().norm())) for s, v in concept.vectors.items()]


def typical_norms_job(
    hm: HookedModel,
    prompts: Sequence[str],
    sites: Sequence[str],
    position: str = "last",
    batch_size: int = 16,
) -> Job[dict[str, float]]:
    """Mean L2 norm of the activations at each site over ``prompts`` (a job): the scale a
    steering vector is compared with, and the target of ``normalize_to(x)``."""
    cap = yield from hm.capture_job(
        list(prompts), list(sites), position=position, batch_size=batch_size
    )
    return {s: float(cap.acts[s].float().norm(dim=-1).mean()) for s in sites}


# ---------------------------------------------------------------------------- cosine
@dataclass
class CosineMatrix:
    names: list[str]
    matrix: list[list[float]]  # [n, n]
    sites: list[str]  # the sites averaged over (one when a site was chosen)

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "matrix": self.matrix, "sites": self.sites}

    def figure_spec(self) -> dict[str, Any]:
        """The heat map's figure spec (:mod:`workbench.figures` draws it, the window too)."""
        where = self.sites[0] if len(self.sites) == 1 else f"{len(self.sites)} shared sites"
        return {
            "kind": "heatmap",
            "title": f"Cosine similarity at {where}",
            "rows": list(self.names),
            "cols": list(self.names),
            "values": [[round(float(v), 4) for v in row] for row in self.matrix],
            "cmap": "RdBu_r",
            "center": 0.0,
            "value_label": "cosine",
        }


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float().flatten(), b.float().flatten()
    den = float(a.norm() * b.norm())
    return float(a @ b) / den if den > 0 else 0.0


def cosine_matrix(concepts: Sequence[Concept], site: str | None = None) -> CosineMatrix:
    """Cosine similarity of every pair of concepts at ``site``, or averaged over the sites all
    of them share (``site=None``).

    Raises
    ------
    ShapeMismatchError
        Concepts of different models, a site one of them lacks, or no shared site.
    """
    if not concepts:
        raise ShapeMismatchError("no concepts to compare.")
    first = concepts[0]
    for c in concepts[1:]:
        first.check_compatible(c)
    if site is not None:
        sites = [site]
        for c in concepts:
            c.vector(site)
    else:
        sites = [s for s in first.vectors if all(s in c.vectors for c in concepts)]
        if not sites:
            raise ShapeMismatchError(
                "these concepts share no site: "
                + "; ".join(f"{c.name}: {', '.join(c.sites)}" for c in concepts)
            )
    n = len(concepts)
    m = torch.zeros(n, n, dtype=torch.float64)
    for s in sites:
        for i in range(n):
            for j in range(i, n):
                a, b = concepts[i].vectors[s], concepts[j].vectors[s]
                if a.shape != b.shape:
                    raise ShapeMismatchError(
                        f"at {s}, {concepts[i].name!r} is {tuple(a.shape)} and {concepts[j].name!r} is {tuple(b.shape)}."
                    )
                m[i, j] += cosine(a, b)
    m = m / len(sites)
    m = torch.triu(m) + torch.triu(m, 1).T
    return CosineMatrix([c.name for c in concepts], m.tolist(), sites)


# ------------------------------------------------------------------------ logit lens
@dataclass
class LogitLens:
    """Tokens a vector promotes (highest scores) and suppresses (lowest)."""

    promoted: list[tuple[str, float]]
    suppressed: list[tuple[str, float]]
    norm: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "promoted": [list(p) for p in self.promoted],
            "suppressed": [list(p) for p in self.suppressed],
            "norm": self.norm,
        }


@torch.no_grad()
def logit_scores(hm: HookedModel, vector: torch.Tensor, norm: str = "final_norm") -> torch.Tensor:
    """Scores ``[vocab]`` of every token for a residual-stream vector (see the module notes)."""
    if vector.shape[-1] != hm.d_model or vector.dim() != 1:
        raise ShapeMismatchError(
            f"the logit lens reads a [d_model={hm.d_model}] vector, not {tuple(vector.shape)}."
        )
    W = hm.adapter.unembed().weight  # [vocab, d_model]
    v = vector.to(W.device, W.dtype)
    if norm == "final_norm":
        ln = hm.adapter.final_norm()
        v = ln(v[None])[0] - ln(torch.zeros_like(v)[None])[0]
    elif norm != "none":
        raise ValueError(f"norm must be final_norm or none, not {norm!r}")
    return (W @ v).float().cpu()


def logit_lens(
    hm: HookedModel,
    vector: torch.Tensor | Concept,
    site: str | None = None,
    k: int = 10,
    norm: str = "final_norm",
) -> LogitLens:
    """The ``k`` tokens a vector promotes most and suppresses most.

    ``vector`` may be a concept: its vector at ``site`` (default: its last site) is read.
    """
    if not isinstance(vector, torch.Tensor):
        site = site or vector.sites[-1]
        vector = vector.vector(site)
    scores = logit_scores(hm, vector, norm)
    vocab = min(scores.shape[0], len(hm.tokenizer))
    scores = scores[:vocab]
    top = torch.topk(scores, k)
    bottom = torch.topk(-scores, k)
    dec = hm.tokenizer.decode
    return LogitLens(
        [(dec([int(i)]), float(v)) for v, i in zip(top.values, top.indices, strict=True)],
        [(dec([int(i)]), float(-v)) for v, i in zip(bottom.values, bottom.indices, strict=True)],
        norm,
    )


# ------------------------------------------------------------------------ projection
def axis_coordinates(x: torch.Tensor, a: torch.Tensor | None, b: torch.Tensor) -> torch.Tensor:
    """Coordinates of rows ``x`` [n, d] on an axis.

    With two ends ``a`` and ``b``: ``(x - a)·(b - a) / |b - a|²`` (0 at a, 1 at b). With
    ``a=None``, ``b`` is a direction: ``x·b / |b|``.
    """
    x = x.float()
    if a is None:
        return x @ b.float() / b.float().norm().clamp_min(1e-12)
    d = (b - a).float()
    return (x - a.float()) @ d / (d @ d).clamp_min(1e-12)


@dataclass
class AxisProjection:
    """Scatter data: ``x[i]`` (and ``y[i]``) is item ``items[i]``'s position on each axis."""

    items: list[str]
    x: list[float]
    y: list[float] | None
    x_label: str
    y_label: str | None
    site: str
    position: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


Axis = tuple["Concept | None", "Concept"]


def _label(axis: Axis) -> str:
    a, b = axis
    return b.name if a is None else f"{a.name} → {b.name}"


def project_items_job(
    hm: HookedModel,
    items: Sequence[str],
    x_axis: Axis,
    y_axis: Axis | None = None,
    *,
    site: str | None = None,
    position: str = "last",
    batch_size: int = 16,
) -> Job[AxisProjection]:
    """Place prompts or entity names on an axis between two concepts (a job).

    ``x_axis`` is ``(a, b)``: 0 means "like a", 1 "like b" (see :func:`axis_coordinates`); with
    ``a=None`` the axis is ``b``'s direction. ``site`` defaults to the last site the axis
    concepts share.
    """
    ends = [c for ax in (x_axis, y_axis) if ax is not None for c in ax if c is not None]
    for c in ends[1:]:
        ends[0].check_compatible(c)
    if not ends[0].model.same_space(hm.ref):
        raise ShapeMismatchError(
            f"{ends[0].name!r} belongs to {ends[0].model.name}, not to the loaded {hm.ref.name}."
        )
    if site is None:
        shared = [s for s in ends[0].vectors if all(s in c.vectors for c in ends)]
        if not shared:
            raise ShapeMismatchError(
                "the axis concepts share no site; pick concepts made at the same layer."
            )
        site = shared[-1]
    yield Progress(0, len(items), "reading items")
    cap = yield from hm.capture_job(list(items), [site], position=position, batch_size=batch_size)
    acts = cap.acts[site]

    def coords(ax: Axis) -> list[float]:
        a, b = ax
        return axis_coordinates(
            acts, None if a is None else a.vector(site), b.vector(site)
        ).tolist()

    return AxisProjection(
        list(items),
        coords(x_axis),
        None if y_axis is None else coords(y_axis),
        _label(x_axis),
        None if y_axis is None else _label(y_axis),
        site,
        position,
    )
