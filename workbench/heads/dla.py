"""Direct logit attribution (DLA) of every head (and every MLP) to a target token.

At each prompt's last token the final residual stream is a sum of parts: the embedding, each
head's output ``z_h @ W_O[h]``, each attention bias, each MLP's output. With the final norm's
scale ``s`` frozen at its value on the actual residual (the usual linearisation), the logit of
a direction ``u = W_U[target] − W_U[foil]`` splits exactly into

``DLA(part) = (γ ⊙ center(part) / s) · u``

plus the final norm's bias term; summed over all parts this is the model's own logit
difference (before any logit soft-capping). Scores are means over the prompts; the MLP,
embedding and bias terms are in ``extras`` so the decomposition can be checked.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from workbench.heads._model import (
    NormAffine,
    check_additive_heads,
    final_norm_affine,
    head_outputs,
    unembed_weight,
)
from workbench.heads.data import TaskPrompts
from workbench.heads.metrics import encode_task
from workbench.heads.result import HeadScores
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.sites import attn_out, head_z, mlp_out, resid_post, resid_pre


def dla_job(hm: HookedModel, task: TaskPrompts, batch_size: int = 16) -> Job[HeadScores]:
    """Direct logit attribution of each head to ``target`` (− ``foil`` when given).

    Parameters
    ----------
    task
        Prompts with one target (and optionally one foil) each.
    batch_size
        Prompts per forward pass.

    Returns
    -------
    HeadScores
        ``dla`` scores ``[layer, head]``; ``extras``: ``mlp`` ``[layer]``, ``embed``,
        ``attn_bias`` ``[layer]``, ``norm_bias``, ``unembed_bias``, ``total`` (mean logit
        difference of the model) and ``residual`` (total minus the sum of the parts).
    """
    check_additive_heads(hm, "Direct logit attribution per head")
    et = encode_task(hm, task, "logit_diff" if task.foils is not None else "logit")
    norm = final_norm_affine(hm)
    W_U, b_U = unembed_weight(hm)
    L, H = hm.n_layers, hm.n_heads
    acc = {"heads": torch.zeros(L, H, dtype=torch.float64), "mlp": torch.zeros(L, dtype=torch.float64),
           "attn_bias": torch.zeros(L, dtype=torch.float64), "embed": torch.zeros((), dtype=torch.float64),
           "norm_bias": torch.zeros((), dtype=torch.float64), "unembed_bias": torch.zeros((), dtype=torch.float64),
           "total": torch.zeros((), dtype=torch.float64)}  # fmt: skip
    n = et.n
    sites = [head_z(layer) for layer in range(L)]
    sites += [attn_out(layer) for layer in range(L)]
    sites += [mlp_out(layer) for layer in range(L)]
    sites += [resid_pre(0), resid_post(L - 1)]
    yield Progress(0, n, "direct logit attribution")
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        ids, mask, last = et.ids[sl], et.mask[sl], et.last[sl]
        rows = torch.arange(ids.shape[0])
        got: dict[str, torch.Tensor] = {}
        readers = {s: [_last_token(got, s, rows, last)] for s in sites}
        with torch.no_grad():
            out = hm.forward(ids, mask, (), readers, use_cache=False)
            logits = out.logits[rows, last]
        t = et.metric.target_ids[sl]
        u = W_U[t].detach().double()  # [b, d_model]
        if et.metric.foil_ids is not None:
            u = u - W_U[et.metric.foil_ids[sl]].detach().double()
        resid = got[resid_post(L - 1)]
        s = norm.scale(resid.float()).double()  # [b, 1]
        aff = NormAffine(norm.center, norm.weight.double(), norm.bias.double(), norm.eps)
        dla = _direct(aff, s, u)

        for layer in range(L):
            heads = head_outputs(hm, got[head_z(layer)], layer).double()  # [b, head, d_model]
            acc["heads"][layer] += dla(heads).sum(0)
            bias = got[attn_out(layer)] - heads.sum(1)
            acc["attn_bias"][layer] += dla(bias).sum(0)
            acc["mlp"][layer] += dla(got[mlp_out(layer)]).sum(0)
        acc["embed"] += dla(got[resid_pre(0)]).sum()
        acc["norm_bias"] += (aff.bias * u).sum()
        if b_U is not None:
            bu = b_U[t].detach().double()
            if et.metric.foil_ids is not None:
                bu = bu - b_U[et.metric.foil_ids[sl]].detach().double()
            acc["unembed_bias"] += bu.sum()
        acc["total"] += (
            et.metric.per_row(logits, torch.arange(start, start + ids.shape[0])).double().sum()
        )
        done = min(start + batch_size, n)
        yield Progress(done, n, f"{done}/{n} prompts")
    mean = {k: v / n for k, v in acc.items()}
    parts = (
        mean["heads"].sum()
        + mean["mlp"].sum()
        + mean["attn_bias"].sum()
        + mean["embed"]
        + mean["norm_bias"]
        + mean["unembed_bias"]
    )
    extras = {k: (v.tolist() if v.dim() else float(v)) for k, v in mean.items() if k != "heads"}
    extras["residual"] = float(mean["total"] - parts)
    settings = {
        "kind": "dla",
        "task": task.to_dict(),
        "direction": "target - foil" if task.foils else "target",
    }
    return HeadScores("dla", mean["heads"].float(), settings, hm.ref.to_dict(), extras)


def _last_token(got: dict, site: str, rows: torch.Tensor, last: torch.Tensor) -> Callable:
    def read(x: torch.Tensor) -> None:
        got[site] = x.detach()[rows, last].double()

    return read


def _direct(aff: NormAffine, s: torch.Tensor, u: torch.Tensor) -> Callable:
    """``part [b, ..., d_model] -> [b, ...]``: its share of the logit direction ``u``."""

    def dla(part: torch.Tensor) -> torch.Tensor:
        extra = (1,) * (part.dim() - 2)
        scaled = aff.linear(part, s.reshape(-1, *extra, 1))
        return (scaled * u.reshape(u.shape[0], *extra, -1)).sum(-1)

    return dla
