"""Per-forward bookkeeping shared by hooks: which rows and token positions a hook may touch.

Positions are counted from each row's first real token (left padding excluded) across the
whole sequence, prompt then generated tokens, also when a KV cache feeds one token at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

# "all" | "prompt" | "generated" | "last_prompt" | explicit prompt indices (negative from the end)
Positions = str | Sequence[int]


@dataclass
class ForwardContext:
    """What the hooks need to know about the forward pass in flight."""

    pad_left: torch.Tensor | None = None  # [batch] left-pad count per row
    prompt_len: torch.Tensor | None = None  # [batch] real prompt tokens per row
    offset: int = 0  # tokens already in the KV cache before this forward

    def absolute_positions(self, batch: int, seq: int, device: torch.device) -> torch.Tensor:
        """[batch, seq] index of each column counted from the row's first real token."""
        cols = torch.arange(seq, device=device) + self.offset
        pad = self.pad_left if self.pad_left is not None else torch.zeros(batch, dtype=torch.long)
        return cols.unsqueeze(0) - pad.to(device).unsqueeze(1)

    def mask(
        self,
        positions: Positions,
        batch: int,
        seq: int,
        device: torch.device,
        rows: Sequence[int] | None = None,
    ) -> torch.Tensor | None:
        """[batch, seq] bool mask of where to act, or None for "everywhere" (the fast path)."""
        everywhere = positions == "all" and rows is None and not self._has_padding()
        if everywhere:
            return None
        pos = self.absolute_positions(batch, seq, device)
        if self.prompt_len is not None:
            plen = self.prompt_len.to(device).unsqueeze(1)
        else:
            plen = torch.full((batch, 1), 1 << 30, device=device)
        real = pos >= 0
        if positions == "all":
            m = real
        elif positions == "prompt":
            m = real & (pos < plen)
        elif positions == "generated":
            m = pos >= plen
        elif positions == "last_prompt":
            m = pos == plen - 1
        elif isinstance(positions, str):
            raise ValueError(
                f"unknown position rule {positions!r}: use all, prompt, generated, "
                "last_prompt or a list of prompt indices"
            )
        else:
            m = torch.zeros(batch, seq, dtype=torch.bool, device=device)
            for p in positions:
                target = (plen + p) if p < 0 else torch.full_like(plen, p)
                m |= pos == target
            m &= real
        if rows is not None:
            keep = torch.zeros(batch, 1, dtype=torch.bool, device=device)
            keep[list(rows)] = True
            m = m & keep
        return m

    def _has_padding(self) -> bool:
        return self.pad_left is not None and bool((self.pad_left > 0).any())
