"""Attribution patching: the first-order (gradient) estimate of activation patching.

For every head at once, from one forward and one backward pass on the corrupted prompts,

``Δmetric(L, h) ≈ Σ_{prompt, pos, d} (z_clean − z_corrupted)[L, h] · ∂metric/∂z[L, h]``

with the same patch values, positions and normalisation as :func:`patching_scores_job` (one
more forward on the clean prompts supplies ``z_clean``). :func:`attribution_check_job` runs
exact patching on the same prompts and reports how well the two agree (Pearson r).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from workbench.heads.ablation import patching_scores_job, patching_setup_job
from workbench.heads.data import TaskPrompts
from workbench.heads.result import HeadScores
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention
from workbench.models.sites import head_z


@dataclass
class _AddLeaf(Intervention):
    """x + delta, where ``delta`` is a zero leaf tensor whose gradient is ∂metric/∂x."""

    delta: torch.Tensor = field(default=None)  # type: ignore[assignment]

    def apply(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return x + self.delta


def attribution_scores_job(
    hm: HookedModel,
    task: TaskPrompts,
    metric: str | None = None,
    positions: str = "all",
    source: str = "paired",
    normalize: bool = True,
) -> Job[HeadScores]:
    """Attribution-patching score of every head (see the module docstring).

    Parameters are those of :func:`workbench.heads.ablation.patching_scores_job`. The model's
    parameters get no gradients (only the activations do).
    """
    yield Progress(0, 3, "clean and corrupted runs")
    et, clean, corr, values, where = yield from patching_setup_job(  # cancellable per block
        hm, task, metric, positions, source
    )
    m_clean = float(et.metric.mean(clean.logits))
    yield Progress(1, 3, "forward with gradients")
    ids, mask, c_last = et.corrupted()
    n, pos = ids.shape
    shape = (n, pos, hm.n_heads, hm.d_head)
    deltas = [
        torch.zeros(shape, device=hm.device, dtype=hm.dtype, requires_grad=True)
        for _ in range(hm.n_layers)
    ]
    zc: dict[int, torch.Tensor] = {}
    readers = {head_z(L): [_keep_into(zc, L)] for L in range(hm.n_layers)}
    ivs = [_AddLeaf(head_z(L), delta=deltas[L]) for L in range(hm.n_layers)]
    with torch.enable_grad():
        out = hm.forward(ids, mask, ivs, readers, use_cache=False)
        logits = out.logits[torch.arange(n), c_last]
        m = et.metric.mean(logits)
        yield Progress(2, 3, "backward")
        grads = torch.autograd.grad(m, deltas)
    m_corr = float(m.detach())
    scores = torch.zeros(hm.n_layers, hm.n_heads)
    for L in range(hm.n_layers):
        src = values(L).to(zc[L].dtype)[:, :pos].expand(shape)  # [n, pos, head, d_head]
        diff = (src - zc[L]) * grads[L]
        if where is not None:
            diff = diff * where[:, :, None, None].to(diff.dtype)
        # padded positions of right-padded rows do not reach the last real token
        diff = diff * mask[:, :, None, None].to(diff.dtype)
        scores[L] = diff.sum((0, 1, 3)).float().cpu()
    denom = m_clean - m_corr
    settings = {
        "kind": "attribution", "metric": et.metric.kind, "positions": positions, "source": source,
        "normalize": normalize, "task": task.to_dict(),
    }  # fmt: skip
    extras = {
        "clean_metric": m_clean,
        "corrupted_metric": m_corr,
        "estimated_change": scores.tolist(),
    }
    yield Progress(3, 3, "done")
    return HeadScores(
        "attribution", scores / denom if normalize else scores, settings, hm.ref.to_dict(), extras
    )


@dataclass
class AttributionCheck:
    """Attribution patching against exact patching on the same prompts."""

    attribution: HeadScores
    exact: HeadScores
    pearson: float
    spearman: float
    top_overlap: float  # fraction of exact patching's top-k heads also in attribution's top-k
    k: int

    def to_dict(self) -> dict:
        return {
            "pearson": self.pearson,
            "spearman": self.spearman,
            "top_overlap": self.top_overlap,
            "k": self.k,
        }


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    ok = ~(a.isnan() | b.isnan())
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-30))


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    def rank(x: torch.Tensor) -> torch.Tensor:
        return x.flatten().argsort().argsort().double()

    return pearson(rank(a), rank(b))


def attribution_check_job(
    hm: HookedModel,
    task: TaskPrompts,
    metric: str | None = None,
    positions: str = "all",
    source: str = "paired",
    k: int = 10,
    max_rows: int | None = None,
    heads: Sequence[tuple[int, int]] | None = None,
) -> Job[AttributionCheck]:
    """Attribution patching and exact patching of the same heads; Pearson and Spearman r."""
    attr = yield from attribution_scores_job(hm, task, metric, positions, source, normalize=True)
    exact = yield from patching_scores_job(
        hm, task, metric, positions, source, True, heads, max_rows
    )
    a, e = attr.scores, exact.scores
    ta = {(L, h) for L, h, _ in attr.top(k, "abs")}
    te = {(L, h) for L, h, _ in exact.top(k, "abs")}
    return AttributionCheck(
        attr, exact, pearson(a, e), spearman(a, e), len(ta & te) / max(1, len(te)), k
    )


def _keep_into(store: dict[int, torch.Tensor], layer: int) -> Callable[[torch.Tensor], None]:
    def read(x: torch.Tensor) -> None:
        store[layer] = x.detach()

    return read
