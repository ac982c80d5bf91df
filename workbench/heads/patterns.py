"""Looking at heads: attention patterns with token labels, and the tokens a head attends to
over a prompt set. Plain data for the window's heat maps and for :mod:`workbench.heads.figures`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from workbench.errors import SiteError, WorkbenchError
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention
from workbench.models.sites import pattern


def _check_index(i: int, n: int, what: str) -> None:
    """Indices are 0..n-1. A negative one is refused rather than read from the end: a result
    labelled "head -1" must never hold another head's pattern."""
    if not 0 <= int(i) < n:
        raise SiteError(f"{what} {i}: this model has {what}s 0..{n - 1}.")


@dataclass
class PatternView:
    """Attention patterns of one prompt: ``patterns[i]`` is layer ``layers[i]``'s
    ``[head, query, key]`` weights; ``tokens`` label both axes."""

    prompt: str
    tokens: list[str]
    layers: list[int]
    patterns: torch.Tensor  # [layer, head, query, key]

    def head(self, layer: int, head: int) -> torch.Tensor:
        """``[query, key]`` pattern of one head."""
        if layer not in self.layers:
            raise SiteError(f"layer {layer} was not read; this view holds layers {self.layers}.")
        _check_index(head, self.patterns.shape[1], "head")
        return self.patterns[self.layers.index(layer), head]

    def to_dict(self, layer: int, head: int) -> dict:
        return {
            "prompt": self.prompt,
            "tokens": self.tokens,
            "layer": layer,
            "head": head,
            "pattern": self.head(layer, head).tolist(),
        }


def attention_patterns(
    hm: HookedModel,
    prompt: str,
    layers: Sequence[int] | None = None,
    interventions: Sequence[Intervention] = (),
) -> PatternView:
    """Every head's attention pattern on ``prompt`` (layers ``layers``, default all), with
    ``interventions`` applied (pass them here, not through an enclosing ``hm.intervene``:
    pattern hooks of one site do not nest)."""
    layers = list(range(hm.n_layers)) if layers is None else [int(L) for L in layers]
    for L in layers:
        _check_index(L, hm.n_layers, "layer")
    _, cache = hm.run_with_cache(prompt, [pattern(L) for L in layers], interventions)
    ids = hm.encode([prompt])["input_ids"][0].tolist()
    tokens = [hm.tokenizer.decode([i]) for i in ids]
    pats = torch.stack([cache[pattern(L)][0].float().cpu() for L in layers])
    return PatternView(prompt, tokens, layers, pats)


def head_pattern(
    hm: HookedModel, prompt: str, layer: int, head: int
) -> tuple[list[str], torch.Tensor]:
    """``(tokens, [query, key] pattern)`` of one head on one prompt."""
    _check_index(head, hm.n_heads, "head")
    view = attention_patterns(hm, prompt, [layer])
    return view.tokens, view.head(layer, head)


@dataclass
class TopAttended:
    """Where one head looks over a prompt set.

    ``tokens``: ``(token, total weight, mean weight per occurrence as a key, occurrences)``,
    by total weight. ``pairs``: ``(query token, key token, total weight)``, strongest first.
    ``examples``: per prompt, the key each query attends to most.
    """

    layer: int
    head: int
    tokens: list[tuple[str, float, float, int]]
    pairs: list[tuple[str, str, float]]
    examples: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "head": self.head,
            "tokens": [list(t) for t in self.tokens],
            "pairs": [list(p) for p in self.pairs],
            "examples": self.examples,
        }


def top_attended_tokens_job(
    hm: HookedModel,
    prompts: Sequence[str],
    layer: int,
    head: int,
    k: int = 20,
    skip_first: bool = True,
    batch_size: int = 8,
    interventions: Sequence[Intervention] = (),
) -> Job[TopAttended]:
    """The tokens head ``(layer, head)`` attends to most over ``prompts``.

    Parameters
    ----------
    k
        How many tokens and pairs to keep.
    skip_first
        Leave out key position 0 (the attention sink most heads park on).
    interventions
        Applied during the forward passes.
    """
    _check_index(layer, hm.n_layers, "layer")
    _check_index(head, hm.n_heads, "head")
    if k < 1 or batch_size < 1:
        raise WorkbenchError(
            f"k and batch_size must be at least 1; got k={k}, batch_size={batch_size}"
        )
    prompts = list(prompts)
    total: dict[str, float] = defaultdict(float)
    occurrences: dict[str, int] = defaultdict(int)
    pairs: dict[tuple[str, str], float] = defaultdict(float)
    examples = []
    dec = hm.tokenizer.decode
    yield Progress(0, len(prompts), f"L{layer}H{head}")
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        enc = hm.encode(batch)
        got: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            hm.forward(
                enc["input_ids"],
                enc["attention_mask"],
                interventions,
                {pattern(layer): [_head_reader(got, head)]},
                use_cache=False,
            )
        for b, prompt in enumerate(batch):
            n = int(enc["attention_mask"][b].sum())
            toks = [dec([i]) for i in enc["input_ids"][b, :n].tolist()]
            p = got["p"][b, :n, :n].clone()
            first = 1 if skip_first else 0
            p[:, :first] = 0
            for key in range(first, n):
                total[toks[key]] += float(p[key:, key].sum())
                occurrences[toks[key]] += 1
            for q in range(first, n):
                best = int(p[q].argmax())
                pairs[(toks[q], toks[best])] += float(p[q, best])
            examples.append(
                {
                    "prompt": prompt,
                    "tokens": toks,
                    "argmax_key": [int(p[q].argmax()) for q in range(n)],
                }
            )
        done = min(start + batch_size, len(prompts))
        yield Progress(done, len(prompts), f"{done}/{len(prompts)} prompts")
    ranked = sorted(total.items(), key=lambda kv: -kv[1])[:k]
    tokens = [(t, w, w / occurrences[t], occurrences[t]) for t, w in ranked]
    top_pairs = [(q, kk, w) for (q, kk), w in sorted(pairs.items(), key=lambda kv: -kv[1])[:k]]
    return TopAttended(layer, head, tokens, top_pairs, examples)


def _head_reader(got: dict[str, torch.Tensor], head: int) -> Callable[[torch.Tensor], None]:
    def read(p: torch.Tensor) -> None:  # [batch, head, query, key]
        got["p"] = p[:, head].float().cpu()

    return read
