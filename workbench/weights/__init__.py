"""Weight-space task vectors: Δ = θ_A − θ_B between checkpoints, θ_base + c·Δ on disk or in
memory (see :mod:`workbench.weights.delta`)."""

from workbench.weights.checkpoint import (
    TENSOR_KINDS,
    Checkpoint,
    TensorFilter,
    WeightsError,
    open_checkpoint,
    tensor_kind,
    tensor_layer,
)
from workbench.weights.delta import (
    DeltaResult,
    DeltaSpec,
    MergeResult,
    apply,
    apply_deltas,
    apply_job,
    diff,
    diff_job,
    read_delta_metadata,
)

__all__ = [
    "TENSOR_KINDS",
    "Checkpoint",
    "DeltaResult",
    "DeltaSpec",
    "MergeResult",
    "TensorFilter",
    "WeightsError",
    "apply",
    "apply_deltas",
    "apply_job",
    "diff",
    "diff_job",
    "open_checkpoint",
    "read_delta_metadata",
    "tensor_kind",
    "tensor_layer",
]
