"""The steering sweep's metrics, by name: one vocabulary for the engine, the CLI and the window
(torch-free, so the window can read it while it starts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# metric -> (title, what it measures); the window's legend and the CLI's --json read these.
METRICS: dict[str, tuple[str, str]] = {
    "kl": (
        "KL to baseline",
        "KL divergence (nats) of the steered next-token distribution after the prompt from "
        "the unsteered one, averaged over prompts: how much steering changes the model.",
    ),
    "target_logprob": (
        "Log-prob of target words",
        "Mean log-probability of the target words as the next token after the prompt, with "
        "steering. Higher = the concept pushes the model towards them.",
    ),
    "accuracy": (
        "Task accuracy",
        "Fraction of prompts whose steered continuation starts with the expected answer "
        "(demonstration sets: held-out queries).",
    ),
    "base_perplexity_of_steered": (
        "Base perplexity of steered text (fluency)",
        "Perplexity of the steered continuation under the unsteered model: large values mean "
        "the steering broke fluency (too strong a coefficient).",
    ),
}


# Metrics where higher is what steering aims for (a sequential map), the others a change.
_RISING = ("target_logprob", "accuracy")


def sweep_heatmap_spec(
    metric: str,
    concept: str,
    site_kind: str,
    layers: Sequence[int],
    coefficients: Sequence[float],
    values: Sequence[Sequence[float]],
) -> dict[str, Any]:
    """The figure spec of one metric of a sweep, ``values[layer][coefficient]`` (NaN cells
    empty): what the Sweep tab draws and exports, and a headless run renders."""
    name = METRICS[metric][0]
    return {
        "kind": "heatmap",
        "title": f"{name}: {concept} at {site_kind}",
        "xlabel": "coefficient",
        "ylabel": "layer",
        "rows": list(layers),
        "cols": [f"{c:g}" for c in coefficients],
        "values": [[None if v != v else round(float(v), 4) for v in row] for row in values],
        "cmap": "viridis" if metric in _RISING else "magma",
        "value_label": name,
    }
