"""The vector canvas's computation: evaluate an expression over concepts, then its diagnostics
(norm per site, cosine to every library concept, the tokens it promotes and suppresses).

The window's canvas runs :func:`canvas_diagnostics_job` on every edit; a notebook or the
``workbench concepts eval`` / ``diagnose`` commands reach the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.jobs import Job, Progress


@dataclass
class CanvasDiagnostics:
    """An evaluated canvas. ``lens``: ``{"top": [(token, score)], "bottom": [...]}`` at
    ``lens_site`` (None without a model of the concept's space); ``dropped``: sites some terms
    have and others lack, left out of the result."""

    concept: Any
    expression: str
    norms: dict[str, float]
    cosines: dict[str, float] = field(default_factory=dict)  # library concept -> cosine
    lens: dict | None = None
    lens_site: str | None = None
    dropped: list[str] = field(default_factory=list)
    # ‖v‖ at ``lens_site`` next to the residual norm there, at coefficient 1 (the Preview
    # coefficient multiplies it); its residual norm is None without a model of the space
    scale: Any = None


def promoted_tokens(hm: Any, vector: Any, k: int = 8) -> dict[str, list[tuple[str, float]]]:
    """``{"top": promoted, "bottom": suppressed}``: the logit lens of one vector."""
    from workbench.concepts.diagnostics import logit_lens

    lens = logit_lens(hm, vector.reshape(-1), k=k)
    return {"top": lens.promoted, "bottom": lens.suppressed}


def canvas_diagnostics_job(
    tree: Any,
    concepts: Mapping[str, Any],
    library: Sequence[Any],
    hm: Any = None,
    site: str | None = None,
    name: str = "",
) -> Job[CanvasDiagnostics]:
    """Evaluate ``tree`` (an expression over ``concepts``) at the sites its terms share, and its
    diagnostics at ``site`` (default: the concept's read-out site)."""
    from workbench.concepts.algebra import evaluate
    from workbench.concepts.diagnostics import cosine
    from workbench.concepts.steering_scale import residual_norms, steering_scale
    from workbench.models.sites import readout_site

    yield Progress(0, 3, "combining")
    result = evaluate(tree, concepts, name=name or None, sites_rule="shared")
    every = {s for c in concepts.values() for s in c.vectors}
    dropped = sorted(every - set(result.vectors))
    norms = result.norms()
    yield Progress(1, 3, "cosine to library")
    site = site if site in result.vectors else readout_site(result.sites)
    v = result.vectors[site]
    cosines = {
        c.name: cosine(v, c.vectors[site])
        for c in library
        if site in c.vectors
        and c.vectors[site].numel() == v.numel()
        and c.model.same_space(result.model)
    }
    lens, residual = None, None
    if hm is not None and hm.ref.same_space(result.model):
        yield Progress(2, 3, "logit lens")
        lens = promoted_tokens(hm, result.vectors[site])
        residual = residual_norms(hm, [site]).get(site)
    scale = steering_scale(v, 1.0, site, residual)
    yield Progress(3, 3, "done")
    return CanvasDiagnostics(result, tree.to_text(), norms, cosines, lens, site, dropped, scale)
