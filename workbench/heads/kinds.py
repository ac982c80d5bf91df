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

__all__ = ["FIELDS", "SCORE_KINDS", "TASK_KINDS"]
