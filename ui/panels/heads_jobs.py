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
from typing import Any

from psygnal import evented

from ui.figures import FORMATS  # light: matplotlib loads only when a figure is drawn
from workbench.jobs import Job, Progress

# What each score measures, in the field's words (tooltips of the score list).
SCORE_TIPS = {
    "induction": "Induction score (Olsson et al. 2022): on a random token sequence repeated twice, "
    "the mean attention from each token of the second copy to the token right after its earlier "
    "occurrence. Induction heads complete [A][B] … [A] → [B].",
    "previous": "Previous-token score: the mean attention from each token to the token right "
    "before it. Previous-token heads feed induction heads (K-composition).",
    "duplicate": "Duplicate-token score: on a sequence repeated twice, the mean attention from a "
    "token of the second copy to its own earlier occurrence.",
    "successor": "Successor score (Gould et al. 2023): over ordinal sequences (numbers, days, "
    "months, letters), the fraction of tokens whose head OV circuit ranks the next item "
    "(Monday → Tuesday) first among the sequence's items.",
    "copying": "Copying score: over a sample of tokens, the fraction whose head OV circuit "
    "raises the token itself most (the head copies what it attends to).",
    "dla": "Direct logit attribution: each head's output at the last token, read through the "
    "final norm (scale frozen) and the unembedding, on logit(target) − logit(foil). The parts "
    "sum to the model's own logit difference.",
    "ablation": "Ablation score: metric(clean) − metric(head ablated), zero or mean ablation of "
    "the head's output z. Positive when the head supports the target.",
    "patching": "Activation patching (clean → corrupted): the head's z from the clean prompt "
    "patched into the corrupted run; (patched − corrupted) / (clean − corrupted). 1 means the "
    "head alone restores the clean behaviour.",
    "attribution": "Attribution patching (Nanda 2023; Syed et al. 2023): the gradient estimate of "
    "activation patching for every head from one forward and one backward pass, "
    "(z_clean − z_corrupted) · ∂metric/∂z.",
    "function_vector": "Function-vector heads (Todd et al. 2024): average indirect effect, the "
    "rise in p(answer) on prompts with shuffled demonstrations when the head's mean output on "
    "clean in-context prompts is patched in at the last token.",
}
KIND_TITLES = {
    "induction": "Induction",
    "previous": "Previous token",
    "duplicate": "Duplicate token",
    "successor": "Successor (OV)",
    "copying": "Copying (OV)",
    "dla": "Direct logit attribution",
    "ablation": "Ablation",
    "patching": "Activation patching",
    "attribution": "Attribution patching",
    "function_vector": "Function-vector heads (AIE)",
}
SIGNED = {"dla", "ablation", "patching", "attribution", "function_vector"}

Head = tuple[int, int]


@evented
@dataclass
class HeadsState:
    """What the Heads panel shows: the current scores, the selected heads, the focused head."""

    scores: Any = None  # workbench.heads.HeadScores
    run_id: int | None = None  # the project run that holds ``scores``
    selected: tuple[Head, ...] = ()
    focus: Head | None = None  # the head whose pattern is shown

    def toggle(self, head: Head) -> None:
        sel = list(self.selected)
        sel.remove(head) if head in sel else sel.append(head)
        self.selected = tuple(sel)


# --------------------------------------------------------------------- figures
def head_map_spec(scores: Any, run_id: int | None = None, title: str = "") -> dict[str, Any]:
    """A JSON spec of a layer × head map, readable by :func:`ui.figures.render` too."""
    values = [
        [None if v != v else round(float(v), 6) for v in row] for row in scores.scores.tolist()
    ]
    kind = scores.kind
    return {
        "kind": "heatmap",
        "figure": "head_map",
        "score": kind,
        "title": title or f"{KIND_TITLES.get(kind, kind)} — {scores.model.get('name', '')}",
        "xlabel": "head",
        "ylabel": "layer",
        "rows": list(range(scores.n_layers)),
        "cols": list(range(scores.n_heads)),
        "values": values,
        "cmap": "RdBu_r" if kind in SIGNED else "viridis",
        "center": 0.0 if kind in SIGNED else None,
        "value_label": kind,
        "run_id": run_id,
    }


def pattern_spec(view: Any, layer: int, head: int, run_id: int | None = None) -> dict[str, Any]:
    p = view.head(layer, head)
    return {
        "kind": "heatmap",
        "figure": "pattern",
        "title": f"L{layer}H{head} attention pattern",
        "xlabel": "key (attended to)",
        "ylabel": "query",
        "rows": list(view.tokens),
        "cols": list(view.tokens),
        "values": [[round(float(v), 5) for v in row] for row in p.tolist()],
        "cmap": "Blues",
        "value_label": "attention",
        "prompt": view.prompt,
        "layer": layer,
        "head": head,
        "run_id": run_id,
    }


def render_all(spec: dict[str, Any], formats: Sequence[str] = FORMATS) -> dict[str, bytes]:
    from ui.figures import render

    return {fmt: render(spec, fmt) for fmt in formats}


# ------------------------------------------------------------------------ jobs
@dataclass
class ScoreRun:
    scores: Any  # HeadScores
    spec: dict[str, Any]  # the figure spec (run_id filled in when saved)
    files: dict[str, bytes]


def score_with_figures_job(
    hm: Any, spec: Any = None, fv_prompts: Any = None, formats: Sequence[str] = FORMATS
) -> Job[ScoreRun]:
    """Run a head score (``spec``: a ScoreSpec) or the function-vector head score
    (``fv_prompts``: in-context TaskPrompts), then draw its map (PNG, SVG and PDF by default;
    PDF takes about a second, for its embedded fonts)."""
    if fv_prompts is not None:
        from workbench.heads import fv_head_scores_job

        scores = yield from fv_head_scores_job(hm, fv_prompts)
    else:
        from workbench.heads import score_job

        scores = yield from score_job(hm, spec)
    yield Progress(1, 1, "drawing the figure")
    fspec = head_map_spec(scores)
    return ScoreRun(scores, fspec, render_all(fspec, formats))


def patterns_job(hm: Any, prompt: str) -> Job[Any]:
    """Every head's attention pattern on ``prompt`` (a PatternView)."""
    from workbench.heads import attention_patterns

    yield Progress(0, 1, "attention patterns")
    return attention_patterns(hm, prompt)
