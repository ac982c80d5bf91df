"""Qt-free jobs that the window runs in the model executor (generators, see workbench.jobs).

They glue engine calls together for one view (extraction with the chosen options, canvas
diagnostics, a layer × coefficient sweep). torch is imported inside the functions only, so
importing this module costs nothing at startup.

The steering sweep is the engine's (``workbench.concepts.steering_sweep``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.jobs import Job, Progress


# ----------------------------------------------------------------- extraction
def extract_job(
    hm: Any,
    prompts: Any,
    method: str,
    sites: Sequence[str],
    position: str = "last",
    name: str = "",
    words: Sequence[str] = (),
    params: dict | None = None,
) -> Job[Any]:
    """Extract a concept with the engine (``workbench.concepts.extraction``)."""
    from workbench.concepts.extraction import ExtractionSpec
    from workbench.concepts.extraction import extract_job as engine_extract_job

    spec = ExtractionSpec(
        method=method,
        sites=list(sites),
        position=position,
        prompts=prompts,
        words=[w for w in words if w.strip()],
        name=name,
        params=dict(params or {}),
    )
    concept = yield from engine_extract_job(hm, spec)
    return concept


# ---------------------------------------------------------------- diagnostics
def logit_lens(hm: Any, vector: Any, k: int = 8) -> dict[str, list[tuple[str, float]]]:
    """Tokens a vector promotes and suppresses (the engine's logit lens), as the views show it."""
    from workbench.concepts.diagnostics import logit_lens as engine_logit_lens

    lens = engine_logit_lens(hm, vector.reshape(-1), k=k)
    return {"top": lens.promoted, "bottom": lens.suppressed}


def logit_lens_job(hm: Any, concept: Any, site: str, k: int = 8) -> Job[dict]:
    yield Progress(0, 1, "logit lens")
    return {"site": site, **logit_lens(hm, concept.vector(site), k)}


def cosine_matrix(concepts: Sequence[Any], site: str | None = None) -> tuple[list[str], Any, str]:
    """``(names, [n, n] cosine array, site)`` at ``site`` (default: the last site all share)."""
    import numpy as np

    from workbench.concepts.diagnostics import cosine_matrix as engine_cosine_matrix

    shared = [s for s in concepts[0].sites if all(s in c.vectors for c in concepts)]
    if not shared:
        from workbench.errors import ShapeMismatchError

        raise ShapeMismatchError("These concepts share no site, so they cannot be compared.")
    site = site if site in shared else shared[-1]
    m = engine_cosine_matrix(concepts, site)
    return m.names, np.array(m.matrix), site


def cosine_matrix_job(concepts: Sequence[Any], site: str | None = None) -> Job[tuple]:
    yield Progress(0, 1, "cosine matrix")
    return cosine_matrix(concepts, site)


@dataclass
class CanvasResult:
    concept: Any
    expression: str
    norms: dict[str, float]
    cosines: dict[str, float] = field(default_factory=dict)  # library concept -> cosine
    lens: dict | None = None
    lens_site: str | None = None
    dropped: list[str] = field(default_factory=list)  # sites some terms have and others lack


def canvas_job(
    tree: Any,
    concepts: Mapping[str, Any],
    library: Sequence[Any],
    hm: Any = None,
    site: str | None = None,
    name: str = "",
) -> Job[CanvasResult]:
    """Evaluate the canvas expression and its diagnostics (norms, cosines, top tokens)."""
    from workbench.concepts.algebra import evaluate
    from workbench.concepts.diagnostics import cosine

    yield Progress(0, 3, "combining")
    result = evaluate(tree, concepts, name=name or None, sites_rule="shared")
    every = {s for c in concepts.values() for s in c.vectors}
    dropped = sorted(every - set(result.vectors))
    norms = result.norms()
    yield Progress(1, 3, "cosine to library")
    from workbench.models.sites import readout_site

    site = site if site in result.vectors else readout_site(result.sites)
    v = result.vectors[site]
    cosines = {
        c.name: cosine(v, c.vectors[site])
        for c in library
        if site in c.vectors
        and c.vectors[site].numel() == v.numel()
        and c.model.same_space(result.model)
    }
    lens = None
    if hm is not None and hm.ref.same_space(result.model):
        yield Progress(2, 3, "logit lens")
        lens = logit_lens(hm, result.vectors[site])
    yield Progress(3, 3, "done")
    return CanvasResult(result, tree.to_text(), norms, cosines, lens, site, dropped)
