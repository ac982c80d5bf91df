"""One entry point for every head score: a :class:`ScoreSpec` (plain, JSON-able settings that
a panel edits and a project stores) and :func:`score_job`, which runs it as a job.

>>> spec = ScoreSpec("induction", n_seqs=8, seq_len=32)
>>> scores = run_with_progress_bar(score_job(hm, spec))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.heads.data import TaskPrompts, successor_task
from workbench.heads.kinds import FIELDS, SCORE_KINDS
from workbench.heads.result import KIND_DOC, HeadScores
from workbench.jobs import Job
from workbench.models.hooked import HookedModel


@dataclass
class ScoreSpec:
    """What to score and how. Only the fields of :data:`FIELDS` ``[kind]`` are read.

    ``task`` defaults to :func:`workbench.heads.data.successor_task` (continue the days of the
    week, corrupted by months) for the task-based kinds.
    """

    kind: str
    prompts: list[str] | None = None
    n_seqs: int = 8
    seq_len: int = 32
    seed: int = 0
    sequences: list[list[str]] | None = None
    n_tokens: int = 200
    top_k: int = 1
    task: TaskPrompts | None = None
    metric: str | None = None
    mode: str = "zero"
    positions: str = "all"
    source: str = "paired"
    normalize: bool = True
    max_rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in SCORE_KINDS:
            raise ValueError(f"unknown score {self.kind!r}: use {', '.join(SCORE_KINDS)}")

    @property
    def description(self) -> str:
        return KIND_DOC[self.kind]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k == "kind" or k in FIELDS[self.kind]}
        if self.task is not None and "task" in d:
            d["task"] = self.task.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoreSpec:
        d = dict(d)
        if isinstance(d.get("task"), dict):
            d["task"] = TaskPrompts(**d["task"])
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# The scores whose sweeps run on a cluster (workbench.cluster).
CLUSTER_KINDS = ("ablation", "patching")


def score_job(hm: HookedModel, spec: ScoreSpec, cluster: Any = None) -> Job[HeadScores]:
    """Run the score ``spec.kind`` with its settings; returns :class:`HeadScores`.

    ``cluster``: an address or :class:`workbench.cluster.Cluster` to run an ablation or
    patching sweep on (the other kinds are one or two forward passes: not worth splitting).
    """
    k = spec.kind
    if cluster is not None and k not in CLUSTER_KINDS:
        from workbench.errors import WorkbenchError

        raise WorkbenchError(
            f"{k} scores run in one process (one or two forward passes); only the "
            f"{' and '.join(CLUSTER_KINDS)} sweeps run on a cluster. Leave out the cluster."
        )
    if k in ("induction", "previous", "duplicate"):
        from workbench.heads.pattern_scores import pattern_score_job

        return (
            yield from pattern_score_job(
                hm,
                k,
                prompts=spec.prompts,
                n_seqs=spec.n_seqs,
                seq_len=spec.seq_len,
                seed=spec.seed,
            )
        )
    if k == "successor":
        from workbench.heads.ov_scores import successor_score_job

        return (yield from successor_score_job(hm, spec.sequences))
    if k == "copying":
        from workbench.heads.ov_scores import copying_score_job

        return (
            yield from copying_score_job(
                hm, n_tokens=spec.n_tokens, seed=spec.seed, top_k=spec.top_k
            )
        )
    task = spec.task or successor_task()
    if k == "dla":
        from workbench.heads.dla import dla_job

        return (yield from dla_job(hm, task))
    if k == "ablation":
        from workbench.heads.ablation import ablation_scores_job

        return (
            yield from ablation_scores_job(
                hm, task, spec.mode, spec.metric, max_rows=spec.max_rows, cluster=cluster
            )
        )
    if k == "patching":
        from workbench.heads.ablation import patching_scores_job

        return (
            yield from patching_scores_job(
                hm,
                task,
                spec.metric,
                spec.positions,
                spec.source,
                spec.normalize,
                max_rows=spec.max_rows,
                cluster=cluster,
            )
        )
    from workbench.heads.attribution import attribution_scores_job

    return (
        yield from attribution_scores_job(
            hm, task, spec.metric, spec.positions, spec.source, spec.normalize
        )
    )
