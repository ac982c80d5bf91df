"""The head scores by name: one registry (:data:`KINDS`) of their titles, descriptions, the
settings each reads and whether they are signed. Imports nothing heavy: the command
line's parser and the window's Heads panel read these before torch is loaded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreKind:
    """One head score, spelled once: what the CLI, the Heads panel, the JSON files and the
    figures say about it.

    Attributes
    ----------
    name
        Its key (``--kind``, ``ScoreSpec.kind``, ``HeadScores.kind``).
    title
        A short title (lists, figure titles).
    description
        One line: what the number is (written into score JSON files).
    tip
        A paragraph in the field's words, with the paper (tooltips).
    fields
        The :class:`~workbench.heads.score.ScoreSpec` fields it reads (a panel shows only these).
    signed
        Its values have a sign that means something (drawn centred on 0, diverging colours).
    task
        It scores heads on a task (prompt, target, foil) rather than on patterns or weights.
    scored
        :func:`~workbench.heads.score.score_job` computes it (function-vector heads have a job
        of their own).
    """

    name: str
    title: str
    description: str
    tip: str
    fields: tuple[str, ...] = ()
    signed: bool = False
    task: bool = False
    scored: bool = True


_PATTERN_FIELDS = ("prompts", "n_seqs", "seq_len", "seed")
KINDS: dict[str, ScoreKind] = {
    k.name: k
    for k in (
        ScoreKind(
            "induction",
            "Induction",
            "mean attention from a repeated token to the token after its first occurrence",
            "Induction score (Olsson et al. 2022): on a random token sequence repeated twice, "
            "the mean attention from each token of the second copy to the token right after its "
            "earlier occurrence. Induction heads complete [A][B] … [A] → [B].",
            _PATTERN_FIELDS,
        ),
        ScoreKind(
            "previous",
            "Previous token",
            "mean attention from each token to the token right before it",
            "Previous-token score: the mean attention from each token to the token right "
            "before it. Previous-token heads feed induction heads (K-composition).",
            _PATTERN_FIELDS,
        ),
        ScoreKind(
            "duplicate",
            "Duplicate token",
            "mean attention from a repeated token to its earlier occurrence",
            "Duplicate-token score: on a sequence repeated twice, the mean attention from a "
            "token of the second copy to its own earlier occurrence.",
            _PATTERN_FIELDS,
        ),
        ScoreKind(
            "successor",
            "Successor (OV)",
            "fraction of ordinal tokens whose OV-circuit top logit (within the sequence) is the "
            "successor",
            "Successor score (Gould et al. 2023): over ordinal sequences (numbers, days, "
            "months, letters), the fraction of tokens whose head OV circuit ranks the next item "
            "(Monday → Tuesday) first among the sequence's items.",
            ("sequences",),
        ),
        ScoreKind(
            "copying",
            "Copying (OV)",
            "fraction of tokens whose OV-circuit top logit (within the sample) is the token itself",
            "Copying score: over a sample of tokens, the fraction whose head OV circuit "
            "raises the token itself most (the head copies what it attends to).",
            ("n_tokens", "seed", "top_k"),
        ),
        ScoreKind(
            "dla",
            "Direct logit attribution",
            "mean direct logit attribution of the head's output at the last token (target − foil)",
            "Direct logit attribution: each head's output at the last token, read through the "
            "final norm (scale frozen) and the unembedding, on logit(target) − logit(foil). The "
            "parts sum to the model's own logit difference.",
            ("task",),
            signed=True,
            task=True,
        ),
        ScoreKind(
            "ablation",
            "Ablation",
            "metric(clean) − metric(head ablated): positive when the head supports the metric",
            "Ablation score: metric(clean) − metric(head ablated), zero or mean ablation of "
            "the head's output z. Positive when the head supports the target.",
            ("task", "metric", "mode", "max_rows"),
            signed=True,
            task=True,
        ),
        ScoreKind(
            "patching",
            "Activation patching",
            "(metric(patched) − metric(corrupted)) / (metric(clean) − metric(corrupted))",
            "Activation patching (clean → corrupted): the head's z from the clean prompt "
            "patched into the corrupted run; (patched − corrupted) / (clean − corrupted). 1 "
            "means the head alone restores the clean behaviour.",
            ("task", "metric", "positions", "source", "normalize", "max_rows"),
            signed=True,
            task=True,
        ),
        ScoreKind(
            "attribution",
            "Attribution patching",
            "gradient (attribution-patching) estimate of the patching score",
            "Attribution patching (Nanda 2023; Syed et al. 2023): the gradient estimate of "
            "activation patching for every head from one forward and one backward pass, "
            "(z_clean − z_corrupted) · ∂metric/∂z.",
            ("task", "metric", "positions", "source", "normalize"),
            signed=True,
            task=True,
        ),
        ScoreKind(
            "function_vector",
            "Function-vector heads (AIE)",
            "average indirect effect: patching score of the head's mean ICL output",
            "Function-vector heads (Todd et al. 2024): average indirect effect, the "
            "rise in p(answer) on prompts with shuffled demonstrations when the head's mean "
            "output on clean in-context prompts is patched in at the last token.",
            signed=True,
            scored=False,
        ),
    )
}

# Views of the registry, under the names the rest of the code reads.
SCORE_KINDS = tuple(k.name for k in KINDS.values() if k.scored)
TASK_KINDS = tuple(k.name for k in KINDS.values() if k.task)
FIELDS = {k.name: k.fields for k in KINDS.values() if k.scored}
SCORE_TIPS = {k.name: k.tip for k in KINDS.values()}
KIND_TITLES = {k.name: k.title for k in KINDS.values()}
KIND_DOC = {k.name: k.description for k in KINDS.values()}
SIGNED = frozenset(k.name for k in KINDS.values() if k.signed)

__all__ = [
    "FIELDS",
    "KINDS",
    "KIND_DOC",
    "KIND_TITLES",
    "SCORE_KINDS",
    "SCORE_TIPS",
    "SIGNED",
    "TASK_KINDS",
    "ScoreKind",
]
