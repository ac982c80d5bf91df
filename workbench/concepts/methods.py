"""The extraction methods by name (see :mod:`workbench.concepts.extraction` for what each does).
Imports nothing heavy: the window's extract dialog lists them before torch is loaded."""

from __future__ import annotations

from typing import Any

from workbench.errors import PromptSetError

METHODS = (
    "mean",
    "diff_of_means",
    "pca_diff",
    "pca_center",
    "icv",
    "task_vector",
    "probe",
    "embedding",
    "unembedding",
)

# The params each method reads (ExtractionSpec's docstring); any other key is refused, not
# silently ignored.
METHOD_PARAMS: dict[str, tuple[str, ...]] = {
    "mean": ("pole",),
    "pca_diff": ("center",),
    "pca_center": ("center",),
    "icv": ("aggregate",),
    "task_vector": ("k", "n_queries", "seed"),
    "probe": ("test_fraction", "C", "positive_label", "seed"),
}


def check_params(method: str, params: dict[str, Any]) -> None:
    """Refuse a parameter that ``method`` does not read (it would change nothing, silently)."""
    known = METHOD_PARAMS.get(method, ())
    unknown = sorted(k for k in params if k not in known)
    if unknown:
        reads = f"reads {', '.join(known)}" if known else "takes no parameters"
        raise PromptSetError(
            f"{method} {reads}; {', '.join(map(repr, unknown))} would change nothing. "
            "Remove it, or choose the method that reads it."
        )


__all__ = ["METHODS", "METHOD_PARAMS", "check_params"]
