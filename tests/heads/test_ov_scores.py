"""Successor and copying scores: OV logits by hand, and heads with planted OV circuits."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.heads.ov_scores import copying_score_job, ov_logits, successor_score_job
from workbench.jobs import run
from workbench.models.tokens import single_token_id

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def _ids(hm, words):
    return torch.tensor([single_token_id(hm.tokenizer, w) for w in words])


@torch.no_grad()
def _hand_llama(hm, ids, cand):
    m = hm.model.model
    E = m.embed_tokens.weight[ids]
    e = E + m.layers[0].mlp(m.layers[0].post_attention_layernorm(E))  # attention 0 left out
    dh, H, kv = hm.d_head, hm.n_heads, hm.adapter.n_kv_heads
    U = hm.model.lm_head.weight[cand]
    out = torch.zeros(len(ids), hm.n_layers, H, len(cand))
    for L, layer in enumerate(m.layers):
        v = layer.self_attn.v_proj(layer.input_layernorm(e))  # [n, kv * dh]
        for h in range(H):
            g = h // (H // kv)  # GQA: the head's key/value group
            o = (
                v[:, g * dh : (g + 1) * dh]
                @ layer.self_attn.o_proj.weight[:, h * dh : (h + 1) * dh].T
            )
            out[:, L, h] = (o * m.norm.weight) @ U.T
    return out


@torch.no_grad()
def _hand_gpt2(hm, ids, cand):
    tr = hm.model.transformer
    d, dh, H = hm.d_model, hm.d_head, hm.n_heads
    E = tr.wte.weight[ids] + tr.wpe.weight[0]
    b0 = tr.h[0].attn.c_proj.bias
    e = E + b0 + tr.h[0].mlp(tr.h[0].ln_2(E + b0))
    U = hm.model.lm_head.weight[cand]
    out = torch.zeros(len(ids), hm.n_layers, H, len(cand))
    for L, blk in enumerate(tr.h):
        v = (blk.ln_1(e) @ blk.attn.c_attn.weight + blk.attn.c_attn.bias)[:, 2 * d :]
        for h in range(H):
            o = v[:, h * dh : (h + 1) * dh] @ blk.attn.c_proj.weight[h * dh : (h + 1) * dh]
            o = o - o.mean(-1, keepdim=True)  # LayerNorm centres; its scale is left out
            out[:, L, h] = (o * tr.ln_f.weight) @ U.T
    return out


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_ov_logits_equal_hand_computation(family):
    hm = tiny_hooked(family)
    ids = _ids(hm, DAYS)
    cand = _ids(hm, DAYS + ["one", "two"])
    want = (_hand_llama if family == "llama" else _hand_gpt2)(hm, ids, cand)
    torch.testing.assert_close(ov_logits(hm, ids, cand), want, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def _plant(hm, layer, head, words, target_of):
    """Set the head's W_V (its KV group) and W_O so that OV(e(t_j)) scores target_of(j) top."""
    m = hm.model.model
    ids = _ids(hm, words)
    E = m.embed_tokens.weight[ids]
    e = E + m.layers[0].mlp(m.layers[0].post_attention_layernorm(E))
    attn = m.layers[layer].self_attn
    X = m.layers[layer].input_layernorm(e)  # [n, d_model]
    n, dh = len(ids), hm.d_head
    g = head // (hm.n_heads // hm.adapter.n_kv_heads)
    A = torch.zeros(dh, hm.d_model)
    A[:n] = torch.linalg.pinv(X.T)  # A @ x_j = one-hot j
    attn.v_proj.weight[g * dh : (g + 1) * dh] = A
    U = hm.model.lm_head.weight[ids]  # candidates = the words
    Y = torch.zeros(hm.d_model, dh)
    for j in range(n):
        t = target_of(j)
        if t is not None:
            Y[:, j] = torch.linalg.pinv(U) @ (torch.eye(n)[t] * 10) / m.norm.weight
    attn.o_proj.weight[:, head * dh : (head + 1) * dh] = Y
    return ids


def test_planted_successor_head():
    hm = tiny_hooked("llama", seed=3)
    _plant(hm, 1, 0, DAYS, lambda j: j + 1 if j + 1 < len(DAYS) else None)
    s = run(successor_score_job(hm, [DAYS]))
    assert s.scores[1, 0] == 1.0
    assert s.extras["n_transitions"] == 4
    flat = s.scores.flatten().tolist()
    assert max(flat[:4] + flat[5:]) < 1.0
    assert s.top(1)[0][:2] == (1, 0)


def test_successor_drops_words_that_are_not_one_token():
    hm = tiny_hooked("llama")
    s = run(successor_score_job(hm, [["one", "two", "zebra-ish", "four", "five"], ["xx", "yy"]]))
    assert s.extras["tokens"] == [["one", "two", "four", "five"]]
    assert s.extras["n_transitions"] == 2  # one->two, four->five


def test_planted_copying_head():
    hm = tiny_hooked("llama", seed=4)
    ids = _plant(hm, 2, 3, DAYS, lambda j: j)
    s = run(copying_score_job(hm, token_ids=ids.tolist()))
    assert s.scores[2, 3] == 1.0
    assert s.top(1)[0][:2] == (2, 3)
    assert float(s.scores.flatten().sort().values[-2]) < 1.0


def test_copying_score_top_k_is_monotone():
    hm = tiny_hooked("llama")
    a = run(copying_score_job(hm, n_tokens=40, top_k=1))
    b = run(copying_score_job(hm, n_tokens=40, top_k=5))
    assert (b.scores >= a.scores).all() and b.extras["chance"] == pytest.approx(5 / 40)


@pytest.mark.parametrize("family", ["qwen2", "gemma", "gpt_neox", "phi"])
def test_ov_scores_run_on_other_families(family):
    hm = tiny_hooked(family)
    s = run(successor_score_job(hm))
    assert s.scores.shape == (hm.n_layers, hm.n_heads)
    assert ((s.scores >= 0) & (s.scores <= 1)).all()
