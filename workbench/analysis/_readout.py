"""Reading the residual stream the way the model itself does at its end: its own final norm,
its own unembedding (with its bias) and, where the config has one, its logit soft-capping.
Also the one rule for a target word: its first token."""

from __future__ import annotations

from typing import Any

import torch

from workbench.models.hooked import HookedModel


@torch.no_grad()
def unembed(hm: HookedModel, resid: torch.Tensor) -> torch.Tensor:
    """Logits ``[..., vocab]`` of residual vectors ``[..., d_model]``: ``lm_head(norm(x))``."""
    a = hm.adapter
    x = resid.to(hm.device, hm.dtype)
    logits = a.unembed()(a.final_norm()(x))
    cap = getattr(hm.model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits.float()


def target_token(hm: HookedModel, text: str) -> tuple[int, str, str]:
    """``(id, token text, note)`` for a target word, by the engine's one rule
    (:mod:`workbench.models.tokens`: a leading space, its first token); the note is empty when
    ``text`` is one token, else it says which token is scored."""
    from workbench.models.tokens import target_token as token_of

    return token_of(hm.tokenizer, text)


def token_texts(hm: HookedModel, ids: Any) -> list[str]:
    return [hm.tokenizer.decode([int(i)]) for i in ids]


def show_token(t: str, width: int = 10) -> str:
    """A token as a cell label: whitespace made visible, long ones cut."""
    s = t.replace("\n", "\\n").replace("\t", "\\t")
    if s.startswith(" "):
        s = "␣" + s[1:]
    return s if len(s) <= width else s[: width - 1] + "…"
