"""Qt-free glue for the Heads panel: the panel's state, the jobs it runs in the model executor,
and the figures (matplotlib, from the same data as the on-screen maps).

Everything here runs without Qt; torch and the engine are imported inside the functions so that
importing the module costs nothing at startup.

Head interventions and function-vector concepts are the engine's
(``workbench.heads.head_interventions``, ``workbench.heads.function_vector``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from psygnal import evented

from workbench.figures import FORMATS  # light: matplotlib loads only when a figure is drawn

# The score kinds' tips, titles and signedness, and the figure specs, are the engine's
# (torch-free); the panels read them from here.
from workbench.heads.figure_specs import head_map_spec as head_map_spec
from workbench.heads.figure_specs import pattern_spec as pattern_spec
from workbench.heads.kinds import KIND_TITLES as KIND_TITLES
from workbench.heads.kinds import SCORE_TIPS as SCORE_TIPS
from workbench.heads.kinds import SIGNED as SIGNED
from workbench.jobs import Job, Progress

Head = tuple[int, int]


@evented
@dataclass
class HeadsState:
    """What the Heads panel shows: the current scores, the selected heads, the focused head."""

    if TYPE_CHECKING:  # made by @evented at run time: state.events.<field> is a SignalInstance
        events: ClassVar[Any]

    scores: Any = None  # workbench.heads.HeadScores
    run_id: int | None = None  # the project run that holds ``scores``
    selected: tuple[Head, ...] = ()
    focus: Head | None = None  # the head whose pattern is shown

    def toggle(self, head: Head) -> None:
        sel = list(self.selected)
        sel.remove(head) if head in sel else sel.append(head)
        self.selected = tuple(sel)


# --------------------------------------------------------------------- figures
# ------------------------------------------------------------------------ jobs
@dataclass
class ScoreRun:
    scores: Any  # HeadScores
    spec: dict[str, Any]  # the figure spec (run_id filled in when saved)
    files: dict[str, bytes]


def score_with_figures_job(
    hm: Any,
    spec: Any = None,
    fv_prompts: Any = None,
    formats: Sequence[str] = FORMATS,
    cluster: str | None = None,
) -> Job[ScoreRun]:
    """Run a head score (``spec``: a ScoreSpec) or the function-vector head score
    (``fv_prompts``: in-context TaskPrompts), then draw its map (PNG, SVG and PDF by default;
    PDF takes about a second, for its embedded fonts)."""
    if fv_prompts is not None:
        from workbench.heads import fv_head_scores_job

        scores = yield from fv_head_scores_job(hm, fv_prompts)
    else:
        from workbench.heads import score_job
        from workbench.heads.score import CLUSTER_KINDS

        # Preferences: ablation and patching sweeps may go to a Ray cluster
        on = cluster if spec is not None and spec.kind in CLUSTER_KINDS else None
        scores = yield from score_job(hm, spec, cluster=on)
    yield Progress(1, 1, "drawing the figure")
    fspec = head_map_spec(scores)
    from workbench.figures import render_all

    return ScoreRun(scores, fspec, render_all(fspec, formats))


def patterns_job(hm: Any, prompt: str) -> Job[Any]:
    """Every head's attention pattern on ``prompt`` (a PatternView)."""
    from workbench.heads import attention_patterns

    yield Progress(0, 1, "attention patterns")
    return attention_patterns(hm, prompt)
