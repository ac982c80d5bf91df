"""Eager attention with a hook point on the pattern.

Hugging Face models look their attention function up by name (``ALL_ATTENTION_FUNCTIONS``). We
register ``workbench_eager``: the same computation as the families' own eager attention, with a
call-out after the softmax, so that ``blocks.L.attn.hook_pattern`` can be read *and* changed
(ZeroTuning scales the attention to the first token). The model is switched to it only while a
pattern site is hooked; SDPA stays the default because it is faster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from workbench.compat import attn_implementation, set_attn_implementation

NAME = "workbench_eager"
_registered = False


def _repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    if groups == 1:
        return x
    b, h, s, d = x.shape
    return x[:, :, None].expand(b, h, groups, s, d).reshape(b, h * groups, s, d)


def workbench_eager_attention(
    module: nn.Module,
    query: torch.Tensor,  # [batch, head, query, d_head]
    key: torch.Tensor,  # [batch, kv_head, key, d_head]
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    groups = query.shape[1] // key.shape[1]
    key = _repeat_kv(key, groups)
    value = _repeat_kv(value, groups)
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    pattern = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    hook = getattr(module, "_workbench_pattern_hook", None)
    if hook is not None:
        pattern = hook(pattern)  # [batch, head, query, key]
    pattern = nn.functional.dropout(pattern, p=dropout, training=module.training)
    out = torch.matmul(pattern, value).transpose(1, 2).contiguous()
    return out, pattern


def register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, workbench_eager_attention)
    # The mask builder must know the name too; eager's mask is what this function expects.
    with contextlib.suppress(Exception):
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)
    _registered = True


def _configs(model: nn.Module) -> list[Any]:
    cfgs = [model.config]
    for m in model.modules():
        cfg = getattr(m, "config", None)
        if cfg is not None and all(cfg is not c for c in cfgs):
            cfgs.append(cfg)
    return cfgs


@contextlib.contextmanager
def pattern_attention(model: nn.Module) -> Iterator[None]:
    """Run ``model`` with :func:`workbench_eager_attention` inside the block."""
    register()
    cfgs = _configs(model)
    saved = [attn_implementation(c) for c in cfgs]
    try:
        for c in cfgs:
            set_attn_implementation(c, NAME)
        yield
    finally:
        for c, s in zip(cfgs, saved, strict=False):
            set_attn_implementation(c, s)
