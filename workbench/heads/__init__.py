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
:func:`zero_tuning_interventions`, :class:`HeadInterventionSpec`,
:func:`head_intervention_generate_job`, :func:`head_intervention_curve_job`, :class:`ICLTask`,
:func:`icl_prompts`, :func:`fv_head_scores_job`, :func:`function_vector_job`,
:func:`function_vector_concept_job` (held-out accuracy), :class:`FunctionVector`,
:func:`zero_shot_accuracy`.

Names load on first use, so that :mod:`workbench.heads.kinds` (the score names, which the
command line's parser and the window read) comes without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it
_LAZY = {
    "ablation_scores_job": "workbench.heads.ablation",
    "patching_scores_job": "workbench.heads.ablation",
    "reference_pass": "workbench.heads.ablation",
    "AttributionCheck": "workbench.heads.attribution",
    "attribution_check_job": "workbench.heads.attribution",
    "attribution_scores_job": "workbench.heads.attribution",
    "TaskPrompts": "workbench.heads.data",
    "repeated_random_tokens": "workbench.heads.data",
    "successor_task": "workbench.heads.data",
    "dla_job": "workbench.heads.dla",
    "figure_head_map": "workbench.heads.figures",
    "figure_pattern": "workbench.heads.figures",
    "FunctionVector": "workbench.heads.function_vector",
    "FunctionVectorResult": "workbench.heads.function_vector",
    "function_vector_concept_job": "workbench.heads.function_vector",
    "HeadInterventionCurve": "workbench.heads.head_interventions",
    "HeadInterventionSpec": "workbench.heads.head_interventions",
    "head_intervention_curve_job": "workbench.heads.head_interventions",
    "head_intervention_generate_job": "workbench.heads.head_interventions",
    "head_intervention_provenance": "workbench.heads.head_interventions",
    "head_interventions": "workbench.heads.head_interventions",
    "ICLTask": "workbench.heads.function_vector",
    "function_vector_job": "workbench.heads.function_vector",
    "fv_head_scores_job": "workbench.heads.function_vector",
    "icl_prompts": "workbench.heads.function_vector",
    "sweep_function_vector_job": "workbench.heads.function_vector",
    "zero_shot_accuracy": "workbench.heads.function_vector",
    "HeadSet": "workbench.heads.headset",
    "HeadSetComparison": "workbench.heads.headset",
    "ablation_interventions": "workbench.heads.headset",
    "compare_head_sets": "workbench.heads.headset",
    "offset_interventions": "workbench.heads.headset",
    "parse_heads": "workbench.heads.headset",
    "top_k": "workbench.heads.headset",
    "zero_tuning_interventions": "workbench.heads.headset",
    "FIELDS": "workbench.heads.kinds",
    "SCORE_KINDS": "workbench.heads.kinds",
    "TASK_KINDS": "workbench.heads.kinds",
    "METRICS": "workbench.heads.metrics",
    "Metric": "workbench.heads.metrics",
    "copying_score_job": "workbench.heads.ov_scores",
    "ov_logits": "workbench.heads.ov_scores",
    "successor_score_job": "workbench.heads.ov_scores",
    "PATTERN_KINDS": "workbench.heads.pattern_scores",
    "duplicate_token_score_job": "workbench.heads.pattern_scores",
    "induction_score_job": "workbench.heads.pattern_scores",
    "pattern_score_job": "workbench.heads.pattern_scores",
    "pattern_scores_job": "workbench.heads.pattern_scores",
    "previous_token_score_job": "workbench.heads.pattern_scores",
    "PatternView": "workbench.heads.patterns",
    "TopAttended": "workbench.heads.patterns",
    "attention_patterns": "workbench.heads.patterns",
    "head_pattern": "workbench.heads.patterns",
    "top_attended_tokens_job": "workbench.heads.patterns",
    "HeadScores": "workbench.heads.result",
    "KIND_DOC": "workbench.heads.result",
    "ScoreSpec": "workbench.heads.score",
    "score_job": "workbench.heads.score",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench.heads' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)
