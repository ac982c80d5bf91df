"""Per-token weights for steering: how strongly :class:`AddVector` acts at each position.

Two kinds, as in representation engineering and lightweight steering controllers:

``given``
    One weight per token position, counted from each row's first real token (the positions
    :class:`workbench.models.context.ForwardContext` counts, prompt then generated tokens);
    positions past the list take ``rest``.
``projection``
    Computed from the activation itself at the steered site: with ``d`` the unit probe
    direction, the weight at a token is ``sigmoid((x · d - center) / scale)`` (``1 -`` that
    with ``invert``): tokens that already read strongly along the probe are steered more (or,
    inverted, less). Each token's weight depends only on its own activation, so a generation
    with a KV cache weights every token exactly as a forward over the whole text does.

A weight of 1 at every position is plain :class:`AddVector` (``x + 1.0 * delta`` is ``x + delta``
bit for bit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.errors import WorkbenchError

MODES = ("given", "projection")


class WeightingError(WorkbenchError):
    """Token weights that cannot be used (a non-finite weight, a zero scale, no direction)."""


@dataclass(frozen=True)
class TokenWeights:
    """How much of the steering vector each token gets (see the module docstring)."""

    mode: str = "given"
    values: tuple[float, ...] = ()  # given: weight per position
    rest: float = 1.0  # given: weight of the positions past ``values``
    direction: torch.Tensor | None = field(default=None, compare=False)  # projection: [d_model]
    center: float = 0.0
    scale: float = 1.0
    invert: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if self.mode not in MODES:
            raise WeightingError(f"token weights {self.mode!r}: use one of {', '.join(MODES)}.")
        numbers = [*self.values, self.rest, self.center, self.scale]
        if not all(math.isfinite(v) for v in numbers):
            raise WeightingError("token weights, center and scale must be finite numbers.")
        if self.mode == "given" and not self.values:
            raise WeightingError("given token weights need at least one weight.")
        if self.mode == "projection":
            if self.direction is None or self.direction.dim() != 1:
                raise WeightingError(
                    "projection weights need one probe direction (a 1-D vector at the site)."
                )
            if not bool(torch.isfinite(self.direction).all()) or float(self.direction.norm()) == 0:
                raise WeightingError("the probe direction is zero or not finite.")
            if self.scale <= 0:
                raise WeightingError(f"scale {self.scale}: must be greater than 0.")

    def weights(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Weights ``[batch, pos]`` (float32) for activations ``x`` ``[batch, pos, d]`` at absolute
        positions ``pos`` ``[batch, pos]``."""
        if self.mode == "given":
            # float32, not the activation dtype: 0.3 stays 0.3 (bf16 would give 0.30078)
            table = torch.tensor([*self.values, self.rest], device=x.device, dtype=torch.float32)
            idx = pos.clamp(0, len(self.values)).to(x.device)
            return table[idx]
        assert self.direction is not None
        d = self.direction.to(x.device, torch.float32)
        if d.shape[0] != x.shape[-1]:
            raise WeightingError(
                f"the probe direction has {d.shape[0]} values but the steered site is "
                f"{x.shape[-1]} wide: take the direction from the same model and site."
            )
        proj = x.float() @ (d / d.norm())  # [batch, pos]
        w = torch.sigmoid((proj - self.center) / self.scale)
        return 1 - w if self.invert else w

    def describe(self) -> dict[str, Any]:
        if self.mode == "given":
            return {"mode": "given", "values": list(self.values), "rest": self.rest}
        assert self.direction is not None
        return {
            "mode": "projection",
            "center": self.center,
            "scale": self.scale,
            "invert": self.invert,
            "direction_norm": float(self.direction.norm()),
        }


def given_weights(values: Sequence[float], rest: float = 1.0) -> TokenWeights:
    """Weights per position, e.g. ``given_weights([0, 0, 1, 1])`` steers from the third token."""
    return TokenWeights("given", tuple(values), rest)


def projection_weights(
    direction: torch.Tensor, center: float = 0.0, scale: float = 1.0, invert: bool = False
) -> TokenWeights:
    """Weights from each token's projection on ``direction`` (see the module docstring)."""
    return TokenWeights(
        "projection", direction=direction.detach(), center=center, scale=scale, invert=invert
    )


def parse_weights(text: str) -> tuple[float, ...]:
    """``"0,0,1,1"`` or ``"0 0 1 1"`` → weights; a clear error for anything else."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise WeightingError(
            f"token weights {text!r}: give numbers separated by commas, e.g. 0,0,1,1."
        ) from None
    if not values:
        raise WeightingError("token weights: give at least one number, e.g. 0,0,1,1.")
    if not all(math.isfinite(v) for v in values):
        raise WeightingError(f"token weights {text!r}: every weight must be a finite number.")
    return values


def check_weighting(d: dict[str, Any] | None) -> None:
    """Refuse a stored or typed weighting (the form a sweep spec keeps) that cannot be used."""
    if d is None:
        return
    mode = d.get("mode")
    if mode == "given":
        given_weights(d.get("values") or (), float(d.get("rest", 1.0)))
    elif mode == "projection":
        projection_weights(torch.ones(1), float(d.get("center", 0.0)), float(d.get("scale", 1.0)))
    else:
        raise WeightingError(f"token weights {mode!r}: use one of {', '.join(MODES)}.")


def token_weights_from_dict(
    d: dict[str, Any] | None, direction: torch.Tensor | None = None
) -> TokenWeights | None:
    """The :class:`TokenWeights` a JSON-able weighting describes: ``{"mode": "given",
    "values": [...], "rest": 1}`` or ``{"mode": "projection", "center", "scale", "invert"}``
    with the probe ``direction`` supplied by the caller (a concept's vector at the site)."""
    if d is None:
        return None
    check_weighting(d)
    if d["mode"] == "given":
        return given_weights(d["values"], float(d.get("rest", 1.0)))
    if direction is None:
        raise WeightingError("projection weights need a probe direction at the steered site.")
    return projection_weights(
        direction,
        float(d.get("center", 0.0)),
        float(d.get("scale", 1.0)),
        bool(d.get("invert", False)),
    )
