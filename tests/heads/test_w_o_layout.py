"""``W_O`` is TransformerLens's: ``[head, d_head, d_model]``, a head writes ``z_h @ W_O[h]``, and
the heads' writes add up to Hugging Face's own ``o_proj`` of the concatenated ``z``."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.heads._model import W_O, head_outputs


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_w_o_layout_and_head_outputs_match_o_proj(family: str) -> None:
    hm = tiny_hooked(family)
    W = W_O(hm, 1)
    assert tuple(W.shape) == (hm.n_heads, hm.d_head, hm.d_model)
    z = torch.randn(5, hm.n_heads, hm.d_head, generator=torch.Generator().manual_seed(0))
    per_head = head_outputs(hm, z, 1)  # [5, head, d_model]
    for h in range(hm.n_heads):
        assert torch.allclose(per_head[:, h], z[:, h] @ W[h], atol=1e-6)
    o = hm.adapter.o_proj_weight(1).detach()  # HF layout [d_model, head * d_head]
    reference = z.reshape(5, -1) @ o.T  # what o_proj computes, bias left out
    assert torch.allclose(per_head.sum(1), reference, atol=1e-5)
