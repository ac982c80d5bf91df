"""Qt-free jobs that the window runs in the model executor (generators, see workbench.jobs).

They glue engine calls together for one view (extraction with the chosen options, canvas
diagnostics, a layer × coefficient sweep). torch is imported inside the functions only, so
importing this module costs nothing at startup.

The steering sweep (``workbench.concepts.steering_sweep``) and the canvas's evaluation
(``workbench.concepts.canvas``) are the engine's.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    from workbench.concepts.canvas import promoted_tokens

    return promoted_tokens(hm, vector, k)


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
    chosen = site if site is not None and site in shared else shared[-1]
    m = engine_cosine_matrix(concepts, chosen)
    return m.names, np.array(m.matrix), chosen


def cosine_matrix_job(concepts: Sequence[Any], site: str | None = None) -> Job[tuple]:
    yield Progress(0, 1, "cosine matrix")
    return cosine_matrix(concepts, site)


# The canvas's evaluation and diagnostics are the engine's (workbench.concepts.canvas).
def canvas_job(*args: Any, **kwargs: Any) -> Job[Any]:
    from workbench.concepts.canvas import canvas_diagnostics_job

    result = yield from canvas_diagnostics_job(*args, **kwargs)
    return result
