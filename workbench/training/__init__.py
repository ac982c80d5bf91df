"""Learned interventions on one small training loop: LoFiT-style head offsets, steering vectors
trained with a loss, and fine-tunes that give weight-space task vectors."""

from workbench.training.data import Examples, answer_loss, answer_metrics, task_from
from workbench.training.loop import LossCurve, TrainingError, TrainingSpec, train_job
from workbench.training.offsets import (
    HeadOffsetsResult,
    offsets_interventions,
    select_heads_job,
    train_head_offsets_job,
)
from workbench.training.steering import TrainedVectorResult, train_steering_vector_job

__all__ = [
    "Examples",
    "HeadOffsetsResult",
    "LossCurve",
    "TrainedVectorResult",
    "TrainingError",
    "TrainingSpec",
    "answer_loss",
    "answer_metrics",
    "offsets_interventions",
    "select_heads_job",
    "task_from",
    "train_head_offsets_job",
    "train_job",
    "train_steering_vector_job",
]
