"""Prompt-level analyses of a language model: the logit lens of a prompt, activation patching
(causal tracing) by layer × position, subspace patching with the interpretability-illusion
control, and per-layer direct logit attribution.

Each is an engine job (a generator yielding :class:`workbench.jobs.Progress`) returning a frozen
result with ``to_dict()`` and ``figure_spec()`` (drawn by :func:`workbench.figures.render`).
"""

from __future__ import annotations

from workbench.analysis.logit_lens import LogitLens, logit_lens, logit_lens_job
from workbench.analysis.patching import (
    PATCH_COMPONENTS,
    PatchingResult,
    activation_patching,
    activation_patching_job,
    patched_metric,
)

__all__ = [
    "PATCH_COMPONENTS",
    "LogitLens",
    "PatchingResult",
    "activation_patching",
    "activation_patching_job",
    "logit_lens",
    "logit_lens_job",
    "patched_metric",
]
