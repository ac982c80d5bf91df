"""The extraction methods by name (see :mod:`workbench.concepts.extraction` for what each does).
Imports nothing heavy: the window's extract dialog lists them before torch is loaded."""

from __future__ import annotations

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

__all__ = ["METHODS"]
