"""OV-circuit scores: successor (Gould et al. 2023) and copying.

For a head ``(L, h)`` and a token ``t`` the *effective OV logits* are

``logits(t) = (γ ⊙ center(OV_{L,h}(e(t)))) @ W_U``

* ``e(t)`` — the effective token embedding, ``E(t) + MLP0(norm(E(t)))`` with block 0's
  attention removed (:func:`workbench.heads._model.effective_embeddings`);
* ``OV_{L,h}(x) = norm_L(x) @ W_V[g(h)] @ W_O[h]`` (TransformerLens's layouts, a row
  vector ``x``) — block ``L``'s attention input norm, the
  value projection of the head's key/value group ``g(h) = h // (n_heads / n_kv_heads)`` (GQA),
  the head's slice of the output projection (:func:`workbench.heads._model.ov_outputs`);
* ``γ``, ``center`` — the final norm's weight and centring (LayerNorm only) with its scale
  left out: only the ranking among tokens is used, and it does not depend on the scale.

**Successor score**: over ordinal sequences (numbers, days, months, letters), the fraction of
tokens ``t_i`` (all but each sequence's last) whose top logit among the sequence's own tokens
is ``t_{i+1}``. **Copying score**: over a sample of tokens, the fraction whose top logit (or
top-``k``) among the sample is the token itself: the head's OV circuit raises the token it
attends to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from workbench.errors import PromptSetError
from workbench.heads._model import (
    effective_embeddings,
    final_norm_affine,
    ov_outputs,
    unembed_weight,
)
from workbench.heads.data import ordinal_sequences, token_pool
from workbench.heads.result import HeadScores
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.tokens import single_token_id


@torch.no_grad()
def ov_logits(
    hm: HookedModel, token_ids: torch.Tensor, candidate_ids: torch.Tensor, batch: int = 64
) -> torch.Tensor:
    """Effective OV logits ``[n_tokens, layer, head, n_candidates]`` (see the module docstring).

    Parameters
    ----------
    token_ids
        ``[n]`` tokens fed through every head's OV circuit.
    candidate_ids
        ``[c]`` tokens whose logits are read.
    """
    norm = final_norm_affine(hm)
    W_U, _ = unembed_weight(hm)
    U = W_U[candidate_ids.to(W_U.device)].float()  # [c, d_model]
    out = []
    for start in range(0, len(token_ids), batch):
        e = effective_embeddings(hm, token_ids[start : start + batch])
        o = ov_outputs(hm, e).float()  # [n, layer, head, d_model]
        if norm.center:
            o = o - o.mean(-1, keepdim=True)
        o = o * norm.weight.to(o.device)
        out.append((o @ U.T).cpu())
    return torch.cat(out)


def _ordinal_tokens(hm: HookedModel, sequences: Sequence[Sequence[str]]) -> list[list[int | None]]:
    return [[single_token_id(hm.tokenizer, w) for w in seq] for seq in sequences]


def successor_score_job(
    hm: HookedModel, sequences: Sequence[Sequence[str]] | None = None
) -> Job[HeadScores]:
    """Successor score of every head.

    Parameters
    ----------
    sequences
        Ordered word lists (default: the built-in ``ordinal`` set). Words are looked up as one
        token, with a leading space when the tokenizer has that form; a word that is not a
        single token drops out together with the transitions into and out of it.

    Returns
    -------
    HeadScores
        ``successor`` scores; ``extras`` lists the tokens used and each sequence's score of the
        best head.
    """
    sequences = [list(s) for s in (sequences or ordinal_sequences())]
    toks = _ordinal_tokens(hm, sequences)
    used = []
    for words, ids in zip(sequences, toks, strict=True):
        kept = [(w, i) for w, i in zip(words, ids, strict=True) if i is not None]
        pairs = [
            (ids[j], ids[j + 1])
            for j in range(len(ids) - 1)
            if ids[j] is not None and ids[j + 1] is not None
        ]
        if len(kept) >= 3 and pairs:
            used.append((words, kept, pairs))
    if not used:
        raise PromptSetError(
            "No ordinal sequence has three or more single-token items for this tokenizer."
        )
    L, H = hm.n_layers, hm.n_heads
    hits = torch.zeros(L, H)
    per_seq = {}
    n_total = 0
    yield Progress(0, len(used), "successor scores")
    for k, (words, kept, pairs) in enumerate(used):
        cand = torch.tensor([i for _, i in kept])
        src = torch.tensor([a for a, _ in pairs])
        succ = torch.tensor([b for _, b in pairs])
        logits = ov_logits(hm, src, cand)  # [n, L, H, c]
        pick = cand[logits.argmax(-1)]  # [n, L, H]
        ok = (pick == succ[:, None, None]).float()
        hits += ok.sum(0)
        n_total += len(pairs)
        per_seq[" ".join(words[:3]) + " ..."] = {"n": len(pairs), "score": ok.mean(0).tolist()}
        yield Progress(k + 1, len(used), f"{k + 1}/{len(used)} sequences")
    scores = hits / n_total
    settings = {
        "kind": "successor",
        "sequences": sequences,
        "effective_embedding": "E + MLP0(norm(E))",
    }
    extras = {
        "n_transitions": n_total,
        "tokens": [[w for w, _ in kept] for _, kept, _ in used],
        "per_sequence": per_seq,
    }
    return HeadScores("successor", scores, settings, hm.ref.to_dict(), extras)


def copying_score_job(
    hm: HookedModel,
    n_tokens: int = 200,
    seed: int = 0,
    top_k: int = 1,
    token_ids: Sequence[int] | None = None,
) -> Job[HeadScores]:
    """Copying score of every head: does the head's OV circuit raise the token it attends to?

    Parameters
    ----------
    n_tokens, seed
        A random sample of ordinary tokens (used both as inputs and as the candidates).
    top_k
        A token counts as copied when it is among the top ``k`` candidates of its own row.
    token_ids
        Use these tokens instead of a random sample.
    """
    if token_ids is None:
        pool = token_pool(hm.tokenizer)
        g = torch.Generator().manual_seed(seed)
        ids = pool[torch.randperm(len(pool), generator=g)[: min(n_tokens, len(pool))]]
    else:
        ids = torch.tensor(list(token_ids))
    if len(ids) < 2:
        raise PromptSetError("The copying score needs at least two tokens.")
    L, H = hm.n_layers, hm.n_heads
    hits = torch.zeros(L, H)
    chunk = 50
    yield Progress(0, len(ids), "copying scores")
    for start in range(0, len(ids), chunk):
        src = ids[start : start + chunk]
        logits = ov_logits(hm, src, ids)  # [n, L, H, c]
        own = logits[torch.arange(len(src)), :, :, start + torch.arange(len(src))]  # [n, L, H]
        rank = (logits > own[..., None]).sum(-1)  # how many candidates beat the token itself
        hits += (rank < top_k).float().sum(0)
        yield Progress(min(start + chunk, len(ids)), len(ids), "copying scores")
    scores = hits / len(ids)
    settings: dict[str, Any] = {
        "kind": "copying",
        "n_tokens": len(ids),
        "seed": seed,
        "top_k": top_k,
    }
    if token_ids is not None:
        settings["token_ids"] = [int(i) for i in ids]
    return HeadScores(
        "copying", scores, settings, hm.ref.to_dict(), {"chance": min(1.0, top_k / len(ids))}
    )
