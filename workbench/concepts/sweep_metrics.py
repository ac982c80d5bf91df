"""The steering sweep's metrics, by name: one vocabulary for the engine, the CLI and the window
(torch-free, so the window can read it while it starts)."""

from __future__ import annotations

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
