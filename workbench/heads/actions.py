"""Head interventions by name: what each does, how a generation names it, which sites it edits.

Torch-free, so the command line's parser and the window read these names without importing the
model code (the computations are in :mod:`workbench.heads.head_interventions`).
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.models.sites import site_name

# action -> (title, what it does)
ACTIONS: dict[str, tuple[str, str]] = {
    "ablate_zero": ("Ablate (zero)", "Set the heads' outputs z to zero at every position."),
    "ablate_mean": (
        "Ablate (mean)",
        "Set the heads' outputs z to their mean over the prompt's tokens.",
    ),
    "scale": (
        "Scale output",
        "Multiply the heads' outputs z by the factor at every position: 1 changes nothing, "
        "0 is zero ablation, 2 doubles what the heads write.",
    ),
    "offset_mean": (
        "Offset along mean output",
        "Add coefficient × each head's own mean-output direction (unit length) to its z, "
        "LoFiT-style: positive strengthens what the head usually writes.",
    ),
    "offset_random": (
        "Offset, random direction",
        "Add coefficient × a random unit vector (seeded) to each head's z: a control for the "
        "mean-output offset.",
    ),
    "zero_tuning": (
        "ZeroTuning",
        "Scale the heads' attention to the first token by the factor and renormalise "
        "(ZeroTuning): above 1 the heads rest more on the sink, below 1 they look elsewhere.",
    ),
}
# Actions that take a value (a factor or a coefficient), and what it is called.
VALUE_NAMES: dict[str, str] = {
    "scale": "factor",
    "offset_mean": "coefficient",
    "offset_random": "coefficient",
    "zero_tuning": "factor",
}
# How a generation's "concept" names the action (Generations dock, CSV).
ACTION_WORDS: dict[str, str] = {
    "ablate_zero": "ablate zero",
    "ablate_mean": "ablate mean",
    "scale": "scale",
    "offset_mean": "offset mean",
    "offset_random": "offset random",
    "zero_tuning": "ZeroTuning",
}
LABEL_HEADS = 6  # heads named in the label; the provenance lists them all


def intervention_label(action: str, heads: Sequence[tuple[int, int]], n: int = LABEL_HEADS) -> str:
    """``"ablate zero: L18H6, L17H4, … (+3)"``: what a generation made with it did."""
    names = ", ".join(f"L{L}H{h}" for L, h in heads[:n])
    more = f", … (+{len(heads) - n})" if len(heads) > n else ""
    return f"{ACTION_WORDS.get(action, action)}: {names}{more}"


def intervention_sites(action: str, heads: Sequence[tuple[int, int]]) -> list[str]:
    """The hook sites the action edits: each layer's head outputs z, or its attention pattern
    for ZeroTuning (in the order the layers first appear among ``heads``)."""
    site_kind = "pattern" if action == "zero_tuning" else "z"
    return [site_name(site_kind, L) for L in dict.fromkeys(int(L) for L, _ in heads)]
