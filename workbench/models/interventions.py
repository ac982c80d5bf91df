"""Interventions: what to do to the activation at one site.

Each intervention names a site and maps the activation there to a new one, at the positions
and batch rows it is told. They are plain data; :meth:`HookedModel.intervene` turns a list of
them into hooks and always removes them, also after an exception.

Shapes: residual-stream sites carry ``[batch, pos, d_model]``; ``attn.hook_z`` carries
``[batch, pos, head, d_head]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from workbench.models.context import Positions
from workbench.models.token_weights import TokenWeights


def _where(mask: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return new
    m = mask.reshape(mask.shape + (1,) * (old.dim() - mask.dim()))
    return torch.where(m, new, old)


@dataclass
class Intervention:
    """Base: ``site`` to act on, ``positions`` rule, optional batch ``rows``."""

    site: str
    positions: Positions = "all"
    rows: Sequence[int] | None = None

    def apply(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"type": type(self).__name__, "site": self.site, "positions": _pos(self.positions)}


def _pos(p: Positions) -> str | list[int]:
    return p if isinstance(p, str) else list(p)


@dataclass
class AddVector(Intervention):
    """x + coefficient * vector (activation addition / steering).

    ``token_weights`` (:class:`workbench.models.token_weights.TokenWeights`) scales the vector
    per token: ``x + w_t * coefficient * vector``, with ``w_t`` given per position or computed
    from the token's projection on a probe direction.
    """

    vector: torch.Tensor = field(default=None)  # type: ignore[assignment]  # [d_model]
    coefficient: float = 1.0
    token_weights: TokenWeights | None = None

    def apply(self, x, mask, pos=None):
        v = self.vector.to(device=x.device, dtype=x.dtype)
        delta = v * self.coefficient if self.coefficient != 1.0 else v
        if self.token_weights is not None:
            if pos is None:
                raise ValueError("per-token weights need the token positions")
            # weights [batch, pos] (float32) broadcast over the site's trailing dims: one
            # d_model vector, or [head, d_head] at attn.hook_z (never over the head axis)
            w = self.token_weights.weights(x, pos)
            w = w.reshape(w.shape + (1,) * (x.dim() - w.dim()))
            delta = (delta.float() * w).to(x.dtype)
        # Select rows with where, never multiply by a 0/1 mask: 0 * NaN is NaN, so a steered
        # row that overflowed would blank the unsteered baseline beside it.
        return _where(mask, x + delta, x)

    def describe(self):
        d = {
            **super().describe(),
            "coefficient": self.coefficient,
            "norm": float(self.vector.norm()),
        }
        if self.token_weights is not None:
            d["token_weights"] = self.token_weights.describe()
        return d


@dataclass
class Replace(Intervention):
    """Set the activation to ``value`` (broadcast over batch and positions)."""

    value: torch.Tensor = field(default=None)  # type: ignore[assignment]

    def apply(self, x, mask):
        return _where(mask, self.value.to(x.device, x.dtype).expand_as(x), x)


@dataclass
class Scale(Intervention):
    """Multiply the activation by ``factor``."""

    factor: float = 1.0

    def apply(self, x, mask):
        return _where(mask, x * self.factor, x)


@dataclass
class ProjectOut(Intervention):
    """Remove the component along ``direction`` (directional ablation)."""

    direction: torch.Tensor = field(default=None)  # type: ignore[assignment]

    def apply(self, x, mask):
        d = self.direction.to(x.device, x.dtype)
        d = d / d.norm().clamp_min(1e-12)
        return _where(mask, x - (x @ d).unsqueeze(-1) * d, x)


@dataclass
class Patch(Intervention):
    """Replace the activation with one recorded on another run ([batch, pos, ...], same shape)."""

    source: torch.Tensor = field(default=None)  # type: ignore[assignment]

    def apply(self, x, mask):
        src = self.source.to(x.device, x.dtype)
        if src.shape != x.shape:
            # A cached forward sees one position at a time: take the matching slice.
            if src.dim() == x.dim() and src.shape[0] == x.shape[0] and src.shape[1] > x.shape[1]:
                src = src[:, -x.shape[1] :]
            else:
                raise ValueError(f"patch source {tuple(src.shape)} does not match {tuple(x.shape)}")
        return _where(mask, src, x)


@dataclass
class AblateHeads(Intervention):
    """Zero or mean-ablate heads at ``blocks.L.attn.hook_z``.

    ``mean`` holds the per-head mean z ([head, d_head]) when ``mode == "mean"``.
    """

    heads: Sequence[int] = ()
    mode: str = "zero"
    mean: torch.Tensor | None = None

    def apply(self, x, mask):  # x: [batch, pos, head, d_head]
        idx = list(self.heads)
        new = x.clone()
        if self.mode == "zero":
            new[:, :, idx] = 0
        elif self.mode == "mean":
            if self.mean is None:
                raise ValueError("mean ablation needs the heads' mean activations")
            new[:, :, idx] = self.mean[idx].to(x.device, x.dtype)
        else:
            raise ValueError(f"unknown ablation mode {self.mode!r}: use zero or mean")
        return _where(mask, new, x)

    def describe(self):
        return {**super().describe(), "heads": list(self.heads), "mode": self.mode}


@dataclass
class HeadOffset(Intervention):
    """Add an offset vector to the output (z) of chosen heads (LoFiT-style), times a coefficient.

    ``offset`` is [d_head] (same for every head) or [len(heads), d_head].
    """

    heads: Sequence[int] = ()
    offset: torch.Tensor = field(default=None)  # type: ignore[assignment]
    coefficient: float = 1.0

    def apply(self, x, mask):
        idx = list(self.heads)
        off = self.offset.to(x.device, x.dtype) * self.coefficient
        if off.dim() == 1:
            off = off.expand(len(idx), -1)
        new = x.clone()
        new[:, :, idx] = new[:, :, idx] + off
        return _where(mask, new, x)


@dataclass
class ScaleAttention(Intervention):
    """Scale the attention that chosen heads pay to one key position, then renormalise the row
    (ZeroTuning scales attention to the first token). Acts on ``blocks.L.attn.hook_pattern``;
    needs the eager attention implementation, which the model switches to by itself.
    """

    heads: Sequence[int] = ()
    key_position: int = 0
    factor: float = 1.0
    renormalise: bool = True

    def apply(self, x, mask):  # x: [batch, head, query, key]
        idx = list(self.heads) if self.heads else list(range(x.shape[1]))
        new = x.clone()
        new[:, idx, :, self.key_position] = new[:, idx, :, self.key_position] * self.factor
        if self.renormalise:
            new[:, idx] = new[:, idx] / new[:, idx].sum(-1, keepdim=True).clamp_min(1e-12)
        return new


@dataclass
class ScaleHeads(Intervention):
    """Multiply the output z of chosen heads at ``blocks.L.attn.hook_z`` by ``factor``
    (1 changes nothing; 0 is zero ablation)."""

    heads: Sequence[int] = ()
    factor: float = 1.0

    def apply(self, x, mask):  # x: [batch, pos, head, d_head]
        idx = list(self.heads)
        new = x.clone()
        new[:, :, idx] = new[:, :, idx] * self.factor
        return _where(mask, new, x)

    def describe(self):
        return {**super().describe(), "heads": list(self.heads), "factor": self.factor}
