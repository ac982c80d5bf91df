"""Linear combination of concepts, site by site.

A stand-in for ``workbench.concepts.algebra`` until it lands: one function, so that swapping it
for the shared evaluator is a one-line change. Expressions (``castle + 0.6*winter``) are parsed
only there; this package takes already-parsed ``(coefficient, concept)`` terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.errors import ShapeMismatchError

if TYPE_CHECKING:
    import torch

    from workbench.concepts.concept import Concept


def _combine(terms: Sequence[tuple[float, Concept]]) -> dict[str, torch.Tensor]:
    """``Σ wᵢ·vᵢ`` per site, in float32, in the terms' order (``1.0·v`` is exactly ``v``)."""
    if not terms:
        raise ShapeMismatchError("an empty expression has no vectors; add at least one concept.")
    first = terms[0][1]
    sites = set(first.vectors)
    for _, c in terms[1:]:
        first.check_compatible(c)
        if set(c.vectors) != sites:
            raise ShapeMismatchError(
                f"{first.name!r} has sites {sorted(sites)} but {c.name!r} has "
                f"{sorted(c.vectors)}: combine concepts made at the same level."
            )
    out: dict[str, torch.Tensor] = {}
    for site in first.vectors:
        acc = None
        for w, c in terms:
            v = c.vectors[site].float()
            if acc is not None and v.shape != acc.shape:
                raise ShapeMismatchError(
                    f"{c.name!r} at {site} has shape {tuple(v.shape)}, expected {tuple(acc.shape)}"
                )
            acc = v * float(w) if acc is None else acc + v * float(w)
        out[site] = acc
    return out
