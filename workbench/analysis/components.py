"""Views of what the head analyses compute, for one prompt or one head:

* :func:`layer_attribution_job` — direct logit attribution of every head *and every MLP*
  (and each layer's attention bias, the embeddings) to a target at the prompt's last token, as
  one layers × (heads, MLP) map: the per-head map with the MLP column beside it. The parts and
  the model's own logit (difference) come from :func:`workbench.heads.dla.dla_job`; their sum
  is checked against it there (``residual``).
* :func:`head_ov_job` — one head's OV circuit: for each input token, the output tokens its
  effective OV circuit (through MLP0, as Gould et al. 2023 read it) raises most over the whole
  vocabulary (:func:`workbench.heads.successor.head_ov_logits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from workbench.analysis._readout import show_token
from workbench.errors import PromptSetError
from workbench.jobs import Job, Progress, run
from workbench.models.hooked import HookedModel


@dataclass(frozen=True)
class LayerAttribution:
    """Direct logit attribution at the last token (means over the prompts).

    ``heads[layer][head]``, ``mlp[layer]``, ``attn_bias[layer]``; ``embed``, ``norm_bias``,
    ``unembed_bias``; ``total`` is the model's own logit (difference) and ``residual`` what the
    parts leave unexplained (zero up to rounding: the decomposition is exact).
    """

    prompts: list[str]
    target: str
    foil: str | None
    heads: list[list[float]]
    mlp: list[float]
    attn_bias: list[float]
    embed: float
    norm_bias: float
    unembed_bias: float
    total: float
    residual: float
    model: dict[str, Any] = field(default_factory=dict)
    kind: str = "layer_attribution"

    @property
    def attn(self) -> list[float]:
        """Each layer's attention total (its heads plus its output bias)."""
        return [sum(h) + b for h, b in zip(self.heads, self.attn_bias, strict=True)]

    def top_mlps(self, n: int = 5) -> list[tuple[int, float]]:
        return sorted(enumerate(self.mlp), key=lambda t: -abs(t[1]))[:n]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["attn"] = self.attn
        d["settings"] = {"prompts": self.prompts, "target": self.target, "foil": self.foil}
        return d

    def figure_spec(self, run_id: int | None = None) -> dict[str, Any]:
        what = f"logit({self.target!r})" + (f" − logit({self.foil!r})" if self.foil else "")
        n_heads = len(self.heads[0]) if self.heads else 0
        return {
            "kind": "heatmap",
            "figure": "layer_attribution",
            "title": (
                f"Direct logit attribution to {what} — {self.model.get('name', '')}\n"
                f"heads and MLP per layer; model total {self.total:.3f}, "
                f"embeddings {self.embed:.3f}"
            ),  # fmt: skip
            "xlabel": "head (and the layer's MLP)",
            "ylabel": "layer",
            "rows": [str(i) for i in range(len(self.mlp))],
            "cols": [f"H{h}" for h in range(n_heads)] + ["MLP"],
            "values": [
                [round(float(v), 6) for v in [*hs, m]]
                for hs, m in zip(self.heads, self.mlp, strict=True)
            ],  # fmt: skip
            "cell_width": 0.55,
            "cell_height": 0.28,
            "cmap": "RdBu_r",
            "center": 0.0,
            "value_label": f"direct effect on {what}",
            "run_id": run_id,
        }


def layer_attribution_job(
    hm: HookedModel, prompts: Sequence[str], target: str, foil: str | None = None
) -> Job[LayerAttribution]:
    """Direct logit attribution of every head and MLP to ``target`` (− ``foil``) at the last
    token of each prompt (means over the prompts)."""
    from workbench.heads.data import TaskPrompts
    from workbench.heads.dla import dla_job

    prompts = [p for p in prompts if p.strip()]
    if not prompts:
        raise PromptSetError("Give at least one prompt.")
    if not target:
        raise PromptSetError("Give a target word, e.g. ' Paris'.")
    task = TaskPrompts(prompts, [target] * len(prompts), [foil] * len(prompts) if foil else None)
    s = yield from dla_job(hm, task)
    x = s.extras
    return LayerAttribution(
        prompts=list(prompts), target=target, foil=foil, heads=s.scores.tolist(),
        mlp=list(x["mlp"]), attn_bias=list(x["attn_bias"]), embed=float(x["embed"]),
        norm_bias=float(x["norm_bias"]), unembed_bias=float(x["unembed_bias"]),
        total=float(x["total"]), residual=float(x["residual"]), model=hm.ref.to_dict(),
    )  # fmt: skip


def layer_attribution(hm: HookedModel, prompts: Sequence[str], target: str,
                      foil: str | None = None) -> LayerAttribution:  # fmt: skip
    return run(layer_attribution_job(hm, prompts, target, foil))


@dataclass(frozen=True)
class HeadOV:
    """One head's effective OV circuit: ``top_tokens[i]`` (with ``top_logits[i]``) are the
    tokens it raises most for input ``tokens[i]``; ``copy_rank[i]`` is the input token's own
    rank among its outputs (1: the head copies it)."""

    layer: int
    head: int
    tokens: list[str]
    top_tokens: list[list[str]]
    top_logits: list[list[float]]
    copy_rank: list[int]
    skipped: list[str]
    model: dict[str, Any] = field(default_factory=dict)
    kind: str = "head_ov"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["settings"] = {"layer": self.layer, "head": self.head, "tokens": self.tokens,
                         "k": len(self.top_tokens[0]) if self.top_tokens else 0}  # fmt: skip
        return d

    def figure_spec(self, run_id: int | None = None) -> dict[str, Any]:
        k = len(self.top_tokens[0]) if self.top_tokens else 0
        vals = [[(v - sum(r) / len(r)) for v in r] for r in self.top_logits]
        return {
            "kind": "heatmap",
            "figure": "head_ov",
            "title": (
                f"L{self.layer}H{self.head} effective OV circuit — "
                f"{self.model.get('name', '')}: top output tokens per input"
            ),  # fmt: skip
            "xlabel": "output rank",
            "ylabel": "input token",
            "rows": [show_token(t, 12) for t in self.tokens],
            "cols": [str(i + 1) for i in range(k)],
            "values": [[round(float(v), 5) for v in r] for r in vals],
            "cell_text": [[show_token(t) for t in r] for r in self.top_tokens],
            "cell_width": 1.0,
            "cell_height": 0.4,
            "cmap": "Greens",
            "value_label": "OV logit (minus the row's mean over the top k)",
            "run_id": run_id,
        }


def head_ov_job(
    hm: HookedModel, layer: int, head: int, tokens: Sequence[str], k: int = 8
) -> Job[HeadOV]:
    """The output tokens head ``(layer, head)``'s OV circuit raises for each input token.

    Parameters
    ----------
    tokens
        Words; each is used when it is one token (with a leading space first, then bare), the
        others are listed in ``skipped``.
    """
    from workbench.heads._model import check_additive_heads
    from workbench.heads.successor import head_inputs, head_ov_logits
    from workbench.models.tokens import single_token_id

    if not 0 <= layer < hm.n_layers or not 0 <= head < hm.n_heads:
        raise PromptSetError(
            f"L{layer}H{head}: this model has layers 0..{hm.n_layers - 1} and heads "
            f"0..{hm.n_heads - 1}."
        )
    check_additive_heads(hm, "A head's OV view")  # Gemma 2/3 normalise the attention output
    kept: list[tuple[str, int]] = []
    skipped: list[str] = []
    for w in tokens:
        i = single_token_id(hm.tokenizer, w) if w.strip() else None
        if i is None:
            skipped.append(w)
        else:
            kept.append((w, i))
    if not kept:
        raise PromptSetError(
            "None of the input words is a single token of this model; give words such as "
            "'one, two, Monday'."
        )
    yield Progress(0, 1, f"L{layer}H{head} OV circuit")
    ids = torch.tensor([i for _, i in kept])
    # layer 0 reads the plain embedding (MLP0 runs after attention 0), later layers the
    # MLP0-extended one
    logits = head_ov_logits(hm, head_inputs(hm, ids, layer), layer, head, None)  # [n, vocab]
    top = logits.topk(min(k, logits.shape[-1]), -1)
    own = logits[torch.arange(len(ids)), ids]
    ranks = ((logits > own[:, None]).sum(-1) + 1).tolist()
    dec = hm.tokenizer.decode
    yield Progress(1, 1, "done")
    return HeadOV(
        layer=layer, head=head, tokens=[dec([i]) for _, i in kept],
        top_tokens=[[dec([t]) for t in row] for row in top.indices.tolist()],
        top_logits=[[round(float(v), 5) for v in row] for row in top.values],
        copy_rank=[int(r) for r in ranks], skipped=list(skipped), model=hm.ref.to_dict(),
    )  # fmt: skip


def head_ov(hm: HookedModel, layer: int, head: int, tokens: Sequence[str], k: int = 8) -> HeadOV:
    return run(head_ov_job(hm, layer, head, tokens, k))
