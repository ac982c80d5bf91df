"""Sanity checks on extracted vectors: the attention sink and norms far from the site's own.

Most models park attention on the first token and give its residual stream a norm hundreds of
times the others' (SmolLM2-135M at layer 12: about 23,000 against about 140). A vector read at
that position is the sink's, not the prompt's. Two guards:

- :func:`off_first_token` moves one-token texts (one-word demonstrations: "hot", "cold") off
  position 0 by putting the tokenizer's start token before them, so the position read carries
  the word;
- :func:`norm_warnings` compares each vector's norm with the site's typical activation norm
  (the median over ordinary tokens, the first left out) and says when it is far above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from workbench.errors import PromptSetError

if TYPE_CHECKING:
    from workbench.models.hooked import HookedModel

# An ordinary sentence: with a few of the prompts, it gives each site's typical token norm.
REFERENCE_TEXT = "The weather was calm today, so we walked to the old market near the river."
FAR_ABOVE = 10.0  # a vector this many times the typical activation norm gets a warning


def off_first_token(
    hm: HookedModel, texts: Sequence[str], chat: bool = False
) -> tuple[list[str], str]:
    """``(texts, prefix)``: ``texts`` unchanged when each has two tokens or more; else each with
    the tokenizer's start token (BOS, or EOS where a model has no BOS) put before it, so the
    last position is not the attention sink. ``prefix`` is what was put before ("" if nothing).

    Raises
    ------
    PromptSetError
        When a text is a single token and the tokenizer has no start token to put before it.
    """
    texts = list(texts)
    if chat or not texts:
        return texts, ""  # the chat template puts its own tokens first
    lengths = hm.encode(texts)["attention_mask"].sum(-1)
    if int(lengths.min()) > 1:
        return texts, ""
    tok = hm.tokenizer
    prefix = tok.bos_token or tok.eos_token or ""
    if not prefix:
        short = next(t for t, n in zip(texts, lengths.tolist(), strict=True) if n == 1)
        raise PromptSetError(
            f"{short!r} is a single token, so its only position is the first one, which most "
            "models use as an attention sink; this tokenizer has no start token to put before "
            "it. Write the demonstrations in a short context (e.g. 'The word hot')."
        )
    return [prefix + t for t in texts], prefix


@torch.no_grad()
def site_norms(
    hm: HookedModel, sites: Sequence[str], texts: Sequence[str] = ()
) -> dict[str, float]:
    """Median L2 norm of the activation at each site over the tokens of ``REFERENCE_TEXT`` and
    up to 8 of ``texts``, each text's first token left out (the attention sink)."""
    sample = [REFERENCE_TEXT, *[t for t in texts if t][:8]]
    enc = hm.encode(sample)
    mask = enc["attention_mask"].bool().clone()
    mask[:, 0] = False
    got: dict[str, list[torch.Tensor]] = {s: [] for s in sites}

    def reader(site: str):
        def read(x: torch.Tensor) -> None:  # [batch, pos, ...]
            norms = x.float().flatten(2).norm(dim=-1)  # [batch, pos]
            got[site].append(norms[mask.to(x.device)].cpu())

        return read

    hm.forward(
        enc["input_ids"],
        enc["attention_mask"],
        (),
        {s: [reader(s)] for s in sites},
        use_cache=False,
    )
    return {s: float(torch.cat(v).median()) for s, v in got.items() if v and torch.cat(v).numel()}


def norm_warnings(
    hm: HookedModel, vectors: dict[str, torch.Tensor], texts: Sequence[str] = ()
) -> list[str]:
    """A sentence per site whose vector's norm is more than :data:`FAR_ABOVE` times the site's
    typical activation norm (none when all are in range)."""
    typical = site_norms(hm, list(vectors), texts)
    out = []
    for site, v in vectors.items():
        t = typical.get(site)
        n = float(v.float().norm())
        if t and n > FAR_ABOVE * t:
            out.append(
                f"the vector at {site} has norm {n:,.1f}, {n / t:,.0f}x the typical activation "
                f"norm there ({t:,.1f}): it probably reads the attention sink (the first token) "
                "or an outlier token. Check the position rule (mean_skip_first or last) and that "
                "each prompt has more than one token."
            )
    return out
