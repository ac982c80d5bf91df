"""Attention-head analysis: scores (layer × head maps, each a cancellable job), looking at
patterns, picking head sets, and acting on them (ablation, offsets, ZeroTuning, function
vectors).

Scores — every ``*_job`` is a generator yielding :class:`~workbench.jobs.Progress` and returning
:class:`HeadScores`; :func:`score_job` runs any of them from a :class:`ScoreSpec`:

* patterns: :func:`pattern_scores_job` (induction, previous, duplicate in one pass)
* OV circuits: :func:`successor_score_job`, :func:`copying_score_job`
* logits: :func:`dla_job`, :func:`ablation_scores_job`, :func:`patching_scores_job`,
  :func:`attribution_scores_job`, :func:`attribution_check_job`

Looking: :func:`attention_patterns`, :func:`head_pattern`, :func:`top_attended_tokens_job`,
:func:`figure_head_map`, :func:`figure_pattern`.

Picking and acting: :class:`HeadSet`, :func:`top_k`, :func:`compare_head_sets`,
:func:`ablation_interventions`, :func:`offset_interventions`,
:func:`zero_tuning_interventions`, :class:`ICLTask`, :func:`icl_prompts`,
:func:`fv_head_scores_job`, :func:`function_vector_job`, :class:`FunctionVector`,
:func:`zero_shot_accuracy`.
"""

from workbench.heads.ablation import ablation_scores_job, patching_scores_job, reference_pass
from workbench.heads.attribution import (
    AttributionCheck,
    attribution_check_job,
    attribution_scores_job,
)
from workbench.heads.data import TaskPrompts, repeated_random_tokens, successor_task
from workbench.heads.dla import dla_job
from workbench.heads.figures import figure_head_map, figure_pattern
from workbench.heads.function_vector import (
    FunctionVector,
    ICLTask,
    function_vector_job,
    fv_head_scores_job,
    icl_prompts,
    sweep_function_vector_job,
    zero_shot_accuracy,
)
from workbench.heads.headset import (
    HeadSet,
    HeadSetComparison,
    ablation_interventions,
    compare_head_sets,
    offset_interventions,
    parse_heads,
    top_k,
    zero_tuning_interventions,
)
from workbench.heads.metrics import METRICS, Metric
from workbench.heads.ov_scores import copying_score_job, ov_logits, successor_score_job
from workbench.heads.pattern_scores import (
    PATTERN_KINDS,
    duplicate_token_score_job,
    induction_score_job,
    pattern_score_job,
    pattern_scores_job,
    previous_token_score_job,
)
from workbench.heads.patterns import (
    PatternView,
    TopAttended,
    attention_patterns,
    head_pattern,
    top_attended_tokens_job,
)
from workbench.heads.result import KIND_DOC, HeadScores
from workbench.heads.score import FIELDS, SCORE_KINDS, ScoreSpec, score_job

__all__ = [
    "FIELDS", "KIND_DOC", "METRICS", "PATTERN_KINDS", "SCORE_KINDS",
    "AttributionCheck", "FunctionVector", "HeadScores", "HeadSet", "HeadSetComparison", "ICLTask",
    "Metric", "PatternView", "ScoreSpec", "TaskPrompts", "TopAttended",
    "ablation_interventions", "ablation_scores_job", "attention_patterns", "attribution_check_job",
    "attribution_scores_job", "compare_head_sets", "copying_score_job", "dla_job",
    "duplicate_token_score_job", "figure_head_map", "figure_pattern", "function_vector_job",
    "fv_head_scores_job", "head_pattern", "icl_prompts", "induction_score_job",
    "offset_interventions", "ov_logits", "parse_heads", "patching_scores_job",
    "pattern_score_job", "pattern_scores_job", "previous_token_score_job", "reference_pass",
    "repeated_random_tokens", "score_job", "successor_score_job", "successor_task",
    "sweep_function_vector_job", "top_attended_tokens_job", "top_k", "zero_shot_accuracy",
    "zero_tuning_interventions",
]  # fmt: skip
