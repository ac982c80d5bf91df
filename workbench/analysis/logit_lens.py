"""The logit lens of a prompt (nostalgebraist 2020): every layer's residual stream read through
the model's own final norm and unembedding, at every position.

Rows are the embeddings (``blocks.0.hook_resid_pre``, what block 0 receives) and each block's
output (``blocks.L.hook_resid_post``); the last row is the model's own logits. For each row and
position: the top-``k`` tokens with their probabilities and, when a target is given, the
target's probability and rank (1 = the top token).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from workbench.analysis._readout import show_token, target_token, token_texts, unembed
from workbench.jobs import Job, Progress, run
from workbench.models.hooked import HookedModel
from workbench.models.sites import resid_post, resid_pre


@dataclass(frozen=True)
class LogitLens:
    """A prompt's logit lens. Lists are indexed ``[row][position]`` (``[row][position][k]`` for
    the top tokens); row 0 is the embeddings, row ``L + 1`` block ``L``'s output."""

    prompt: str
    tokens: list[str]  # the prompt's tokens
    rows: list[str]  # "embed", "0", "1", ... (block outputs)
    sites: list[str]
    top_tokens: list[list[list[str]]]
    top_ids: list[list[list[int]]]
    top_probs: list[list[list[float]]]
    target: str | None = None
    target_id: int | None = None
    target_token: str | None = None
    target_prob: list[list[float]] | None = None
    target_rank: list[list[int]] | None = None
    note: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    scale: str = "prob"  # the figure's colour: "prob" or "log10" (of the probability)
    kind: str = "logit_lens"

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["settings"] = {"prompt": self.prompt, "target": self.target, "k": self.k,
                         "scale": self.scale}  # fmt: skip
        return d

    @property
    def k(self) -> int:
        return len(self.top_ids[0][0]) if self.top_ids and self.top_ids[0] else 0

    def summary(self) -> dict[str, Any]:
        """The last position, row by row: top token, and the target's probability and rank."""
        last = len(self.tokens) - 1
        out: dict[str, Any] = {"position": last, "token": self.tokens[last], "rows": []}
        for r, name in enumerate(self.rows):
            row = {"row": name, "top": self.top_tokens[r][last][0],
                   "top_prob": self.top_probs[r][last][0]}  # fmt: skip
            if self.target_prob is not None and self.target_rank is not None:
                row |= {"target_prob": self.target_prob[r][last],
                        "target_rank": self.target_rank[r][last]}  # fmt: skip
            out["rows"].append(row)
        return out

    def figure_spec(self, run_id: int | None = None) -> dict[str, Any]:
        """A rows × positions heat map: the colour is the target's probability (the top token's
        without a target; its log10, down to 1e-10, with ``scale="log10"``), the text in each
        cell the top token."""
        values = self.target_prob if self.target_prob is not None else [
            [p[0] for p in row] for row in self.top_probs
        ]  # fmt: skip
        what = f"P({self.target_token!r})" if self.target_prob is not None else "P(top token)"
        lo = 0.0
        if self.scale == "log10":
            values = [[math.log10(max(v, 1e-10)) for v in row] for row in values]
            what, lo = f"log10 {what}", -10.0
        return {
            "kind": "heatmap",
            "figure": "logit_lens",
            "title": f"Logit lens — {self.model.get('name', '')}: colour {what}, text top token",
            "xlabel": "position (input token)",
            "ylabel": "layer (embed, then block outputs)",
            "rows": list(self.rows),
            "cols": [f"{i}:{show_token(t, 12)}" for i, t in enumerate(self.tokens)],
            "values": [[round(float(v), 6) for v in row] for row in values],
            "cell_text": [[show_token(c[0]) for c in row] for row in self.top_tokens],
            "cell_width": 1.05,
            "cell_height": 0.3,
            "cmap": "Blues",
            "vmin": lo,
            "vmax": 0.0 if self.scale == "log10" else 1.0,
            "value_label": what,
            "run_id": run_id,
        }


def logit_lens_job(
    hm: HookedModel, prompt: str, target: str | None = None, k: int = 5, scale: str = "prob"
) -> Job[LogitLens]:
    """The logit lens of ``prompt`` (see the module docstring).

    Parameters
    ----------
    prompt
        The text, tokenized as the model's forward pass does (special tokens included).
    target
        A word whose first token's probability and rank are reported (e.g. ``" Paris"``).
    k
        Top tokens kept per cell.
    scale
        The figure's colour: the probability (``prob``) or its log10 (``log10``).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if scale not in ("prob", "log10"):
        raise ValueError(f"scale must be prob or log10, not {scale!r}")
    tid, ttok, note = target_token(hm, target) if target is not None else (None, None, "")
    L = hm.n_layers
    sites = [resid_pre(0)] + [resid_post(layer) for layer in range(L)]
    yield Progress(0, len(sites) + 1, "forward pass")
    _, cache = hm.run_with_cache(prompt, sites)
    ids = hm.encode([prompt])["input_ids"][0]
    tokens = token_texts(hm, ids)
    out: dict[str, list] = {"ids": [], "probs": [], "tprob": [], "trank": []}
    for r, site in enumerate(sites):
        lg = unembed(hm, cache[site][0])  # [pos, vocab]
        probs = torch.softmax(lg, -1)
        p, i = probs.topk(min(k, probs.shape[-1]), -1)
        out["ids"].append(i.tolist())
        out["probs"].append([[round(float(v), 6) for v in row] for row in p])
        if tid is not None:
            out["tprob"].append([float(v) for v in probs[:, tid]])
            out["trank"].append([int(v) + 1 for v in (lg > lg[:, tid : tid + 1]).sum(-1)])
        yield Progress(r + 1, len(sites) + 1, f"row {r + 1}/{len(sites)}")
    top_tokens = [[token_texts(hm, cell) for cell in row] for row in out["ids"]]
    return LogitLens(
        prompt=prompt,
        tokens=tokens,
        rows=["embed"] + [str(layer) for layer in range(L)],
        sites=sites,
        top_tokens=top_tokens,
        top_ids=out["ids"],
        top_probs=out["probs"],
        target=target,
        target_id=tid,
        target_token=ttok,
        target_prob=out["tprob"] if tid is not None else None,
        target_rank=out["trank"] if tid is not None else None,
        note=note,
        model=hm.ref.to_dict(),
        scale=scale,
    )


def logit_lens(
    hm: HookedModel, prompt: str, target: str | None = None, k: int = 5, scale: str = "prob"
) -> LogitLens:
    """:func:`logit_lens_job` run to completion."""
    return run(logit_lens_job(hm, prompt, target, k, scale))
