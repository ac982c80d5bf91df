"""Per-token weighted steering on the embedded model: the README figure.

Extracts the built-in ``sentiment`` concept at layer 12 (difference of means) and sweeps its
coefficient on eight prompts three ways: every token alike (plain ``AddVector``), weights from
each token's projection on the concept (``sigmoid((x·d - c) / s)``), and the inverse of those
weights. ``c`` and ``s`` are the median and the standard deviation of the prompts' own token
projections at that site (the first token, an attention sink, left out). Plots the mean
log P(" great") - log P(" terrible") of the next token against the coefficient, and prints it
with the KL to the unsteered model.

    python scripts/figure_weighted_steering.py docs/figures/weighted_steering.png
"""

from __future__ import annotations

import sys

import torch

import workbench as wb
from workbench.concepts.steering_sweep import SteeringSweepSpec, steering_sweep
from workbench.figures import export
from workbench.models.generation import SamplingSettings

PROMPTS = (
    "I think the movie was", "The food at that restaurant was", "My week has been",
    "The new phone is", "Honestly, the concert was", "The hotel room was",
    "Our trip to the coast was", "The book I just finished was",
)  # fmt: skip
LAYER, COEFS = 12, (-8.0, -4.0, 0.0, 4.0, 8.0)


def main(out: str) -> None:
    hm = wb.load_language_model()
    happy = wb.extract(hm, "sentiment", layers=[LAYER])
    site = f"blocks.{LAYER}.hook_resid_post"
    d = happy.vectors[site]
    acts = hm.capture(list(PROMPTS), [site], position="all")[site]  # [tokens, d]
    starts = torch.tensor([0] + list(torch.cumsum(torch.tensor(acts_len(hm)), 0)[:-1]))
    keep = torch.ones(len(acts), dtype=torch.bool)
    keep[starts] = False  # the attention sink
    proj = acts[keep] @ (d / d.norm())
    center, scale = float(proj.median()), float(proj.std())
    ways = {
        "every token": None,
        "projection weights": {"mode": "projection", "center": center, "scale": scale},
        "inverted weights": {
            "mode": "projection",
            "center": center,
            "scale": scale,
            "invert": True,
        },
    }
    series_lp, series_kl = {}, {}
    for label, w in ways.items():
        lp = {}
        for word in ("great", "terrible"):
            spec = SteeringSweepSpec(
                layers=(LAYER,), coefficients=COEFS, prompts=PROMPTS, targets=(word,),
                settings=SamplingSettings(max_new_tokens=1), fluency=False, weighting=w,
            )  # fmt: skip
            r = steering_sweep(hm, happy, spec)
            lp[word] = r.metrics["target_logprob"][0]
        series_lp[label] = [g - t for g, t in zip(lp["great"], lp["terrible"], strict=True)]
        series_kl[label] = r.metrics["kl"][0]
        print(label, "log P(great) - log P(terrible):", [round(v, 3) for v in series_lp[label]],
              "KL:", [round(v, 3) for v in series_kl[label]])  # fmt: skip
    print(f"projection center {center:.2f}, scale {scale:.2f}")
    spec_fig = {
        "kind": "line",
        "title": f"sentiment at L{LAYER}, per-token weights (8 prompts)",
        "xlabel": "coefficient",
        "ylabel": "mean log P(' great') - log P(' terrible')",
        "x": list(COEFS),
        "series": series_lp,
    }
    print("figure:", export(spec_fig, out))


def acts_len(hm: object) -> list[int]:
    return [len(hm.encode([p])["input_ids"][0]) for p in PROMPTS]  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/figures/weighted_steering.png")
