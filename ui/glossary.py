"""Tooltips that explain the field's terms, in one place so every widget says the same."""

from __future__ import annotations

from workbench.concepts.sweep_metrics import METRICS as METRICS

METHODS = {
    "diff_of_means": (
        "Difference of means",
        "Mean activation on the positive prompts minus the mean on the negative prompts "
        "(Turner et al. ActAdd; Rimsky et al. Contrastive Activation Addition, CAA).",
    ),
    "mean": (
        "Mean",
        "Mean activation over the prompts: a 'what these prompts have in common' direction.",
    ),
    "pca_diff": (
        "PCA of differences",
        "First principal component of the paired differences positive − negative "
        "(representation engineering, Zou et al. 2023); sign chosen to point to the positives.",
    ),
    "pca_center": (
        "PCA of centred activations",
        "First principal component of all activations after subtracting their mean "
        "(RepE 'PCA on centred reps'); finds the main axis of variation.",
    ),
    "icv": (
        "In-context vector",
        "Residual shift that demonstrations cause: activations with the demonstrations minus without "
        "(Liu et al. In-Context Vectors; cf. Todd et al. Function Vectors).",
    ),
    "probe": (
        "Linear probe",
        "Weight vector of a logistic-regression probe trained to separate the labels at each layer "
        "(Exploring Concept Depth; accuracy by layer shows where a concept becomes linear).",
    ),
    "token": (
        "Token direction",
        "The unembedding (or embedding) row of a token: the direction the model reads as that word.",
    ),
}

SITES = {
    "resid_post": "Residual stream after block L (output of the block). What llama.cpp/repeng control vectors steer.",
    "resid_pre": "Residual stream entering block L.",
    "resid_mid": "Residual stream between attention and MLP of block L.",
    "attn_out": "Output of the attention sub-layer of block L (after o_proj).",
    "mlp_out": "Output of the MLP sub-layer of block L.",
}

POSITIONS = {
    "last": "Activation at the last prompt token (the usual choice for steering vectors).",
    "mean": "Mean activation over all prompt tokens.",
    "mean_skip_first": (
        "Mean activation over the prompt tokens after the first. The first token is an "
        "attention sink in most models: from the middle layers on its activation is many "
        "times larger than the others' and dominates a plain mean."
    ),
}

# METRICS, the steering sweep's metrics (name -> (title, what it measures)), are spelled once in
# the engine (imported at the top).

TERMS = {
    "coefficient": "How much of the vector is added: x ← x + coefficient · v at the chosen site(s). Negative values steer away.",
    "seed": "Random seed for sampling; baseline and steered use the same seed so differences come from steering.",
    "greedy": "Greedy decoding picks the most likely token each step (deterministic).",
    "temperature": "Sampling temperature: lower = more conservative, higher = more diverse.",
    "top_k": "Sample only among the k most likely tokens (0 = no limit).",
    "top_p": "Nucleus sampling: sample among the smallest set of tokens whose probability reaches p.",
    "chat": "Wrap the prompt in the model's chat template (instruction-tuned models).",
    "normalize": "Scale to unit norm before combining, so each term counts by its coefficient only.",
    "project_out": "Remove this concept's direction from the result (Gram-Schmidt): the result becomes orthogonal to it.",
    "group": "Terms in the same group are summed first; a group can be normalised as a whole.",
    "logit_lens": "Logit lens: apply the final norm and unembedding to the vector to read which tokens it promotes (top) and suppresses (bottom).",
    "cosine": "Cosine similarity between concept vectors at the same site: 1 = same direction, 0 = orthogonal, −1 = opposite.",
    "norm": "L2 norm of the vector at each layer.",
}


def method_tooltip(method: str) -> str:
    name, text = METHODS.get(method, (method, ""))
    return f"<b>{name}</b>: {text}" if text else name
