"""How large a steering addition is next to the residual stream it is added to.

Adding ``c · v`` at a site changes the residual stream by ``|c| · ‖v‖``. What that does depends
on the stream's own size there: a fraction of it steers the model, about as much as the stream
itself takes it over, more replaces it and the text breaks. Measured on the embedded
SmolLM2-135M-Instruct at ``blocks.20.hook_resid_post`` (typical norm 241), greedy, 20 tokens,
a random direction and a love − hate difference of means each scaled to r × 241: at r = 0.5
both texts are fluent, at r = 1 one repeats itself and the other is dashes, from r = 2 on
both are one token repeated. The
stream's size is :func:`workbench.concepts.norm_check.site_norms`: the median L2 norm of the
activation over the tokens of an ordinary sentence, the first token (the attention sink) left
out.

:func:`steering_scale` turns the three numbers into a :class:`SteeringScale` with a verdict and
a sentence for the window and the CLI; :func:`residual_norms` measures (and remembers, per
model) the stream's size at the sites asked for.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.jobs import Job, Progress

if TYPE_CHECKING:  # torch only for the annotations: the window imports this module
    import torch

    from workbench.models.hooked import HookedModel

STRONG_AT = 0.75  # close to the stream's own size: the text may degrade
BREAKS_AT = 2.0  # twice the stream: the text will likely break (see the measurement above)


@dataclass(frozen=True)
class SteeringScale:
    """``|coefficient| · vector_norm`` next to ``residual_norm`` at ``site``.

    ``residual_norm`` is None when the stream's size is unknown (no model of the vector's space
    is loaded); then ``ratio`` is None and ``level`` is ``"unknown"``.
    """

    site: str
    coefficient: float
    vector_norm: float
    residual_norm: float | None

    @property
    def added_norm(self) -> float:
        return abs(self.coefficient) * self.vector_norm

    @property
    def ratio(self) -> float | None:
        if self.residual_norm is None or not self.residual_norm > 0:
            return None
        return self.added_norm / self.residual_norm

    @property
    def level(self) -> str:
        """``"ok"``, ``"strong"`` (≥ :data:`STRONG_AT`), ``"breaks"`` (≥ :data:`BREAKS_AT`),
        ``"invalid"`` (a NaN or infinite norm) or ``"unknown"``."""
        if not (math.isfinite(self.added_norm)):
            return "invalid"
        r = self.ratio
        if r is None:
            return "unknown"
        if r >= BREAKS_AT:
            return "breaks"
        if r >= STRONG_AT:
            return "strong"
        return "ok"

    def message(self) -> str:
        """One sentence for the user; empty when the scale is ordinary or unknown."""
        level, r = self.level, self.ratio
        if level == "invalid":
            return (
                f"The vector at {self.site} has a norm of {self.vector_norm}: it cannot steer. "
                "Re-extract the concept or choose another."
            )
        if r is None or level == "ok":
            return ""
        if self.coefficient == 1:  # the canvas: its result as it is
            what = f"‖v‖ = {_num(self.added_norm)} at coefficient 1"
        else:
            what = (
                f"coefficient × ‖v‖ = {self.coefficient:g} × {_num(self.vector_norm)} = "
                f"{_num(self.added_norm)}"
            )
        head = f"{what}, about {r:.1f}× the residual norm at {self.site} "
        head += f"({_num(self.residual_norm or 0.0)})"
        if level == "breaks":
            return f"{head}: text will likely break. Lower the coefficient or normalise."
        return f"{head}: it outweighs the stream there; text may degrade."


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def steering_scale(
    vector: torch.Tensor, coefficient: float, site: str, residual_norm: float | None
) -> SteeringScale:
    """The scale of adding ``coefficient · vector`` at ``site`` whose typical residual norm is
    ``residual_norm`` (None: unknown)."""
    return SteeringScale(site, float(coefficient), float(vector.float().norm()), residual_norm)


_CACHE: weakref.WeakKeyDictionary[HookedModel, dict[str, float]] = weakref.WeakKeyDictionary()


def residual_norms(hm: HookedModel, sites: Sequence[str]) -> dict[str, float]:
    """The typical activation norm at each of ``sites`` (:func:`site_norms` on the reference
    sentence), measured once per model and site and then remembered."""
    from workbench.concepts.norm_check import site_norms

    known = _CACHE.setdefault(hm, {})
    missing = [s for s in dict.fromkeys(sites) if s not in known]
    if missing:
        known.update(site_norms(hm, missing))
    return {s: known[s] for s in sites if s in known}


def residual_norms_job(hm: HookedModel, sites: Sequence[str]) -> Job[dict[str, float]]:
    """:func:`residual_norms` as a job (one short forward pass, or none when remembered)."""
    yield Progress(0, 1, "measuring the residual stream's norm")
    norms = residual_norms(hm, sites)
    yield Progress(1, 1, "done")
    return norms
