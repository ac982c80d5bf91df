"""The head scores by name, and which settings each reads. Imports nothing heavy: the command
line's parser and the window's Heads panel read these before torch is loaded."""

from __future__ import annotations

SCORE_KINDS = (
    "induction",
    "previous",
    "duplicate",
    "successor",
    "copying",
    "dla",
    "ablation",
    "patching",
    "attribution",
)
TASK_KINDS = ("dla", "ablation", "patching", "attribution")
# Which ScoreSpec fields each kind reads (a panel shows only these).
FIELDS = {
    "induction": ("prompts", "n_seqs", "seq_len", "seed"),
    "previous": ("prompts", "n_seqs", "seq_len", "seed"),
    "duplicate": ("prompts", "n_seqs", "seq_len", "seed"),
    "successor": ("sequences",),
    "copying": ("n_tokens", "seed", "top_k"),
    "dla": ("task",),
    "ablation": ("task", "metric", "mode", "max_rows"),
    "patching": ("task", "metric", "positions", "source", "normalize", "max_rows"),
    "attribution": ("task", "metric", "positions", "source", "normalize"),
}

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

__all__ = ["FIELDS", "KIND_TITLES", "SCORE_KINDS", "SCORE_TIPS", "SIGNED", "TASK_KINDS"]
