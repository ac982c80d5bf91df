"""Per-head ablation (zero, mean) and activation patching (clean → corrupted), batched.

A sweep runs many *variants* at once: the prompts are repeated once per variant and a single
hook on ``blocks.L.attn.hook_z`` changes a different head in each slice of rows
(:class:`HeadVariants`). The variants never compute what they share with the unchanged run,
and nothing the metric does not read; all of it is exact:

* blocks run one at a time, and the variants of block ``L``'s heads join the batch at block
  ``L`` from the residual stream cached on the unchanged run (the blocks before ``L`` would
  compute the same thing for every variant), so the batch grows like a staircase;
* the final block's MLP runs on the last position only, and only the last token's logits
  are computed (the metric reads nothing else).

``max_rows`` bounds the rows (variants × prompts) of one staircase. By default it is set from
the prompt length: about 1,024 token positions on a CPU, where matrix products are fastest
while a block's activations stay in cache (measured on the embedded model: 148 GFLOP/s at 768
positions, 104 at 12,960, 2 threads), and 32,768 on a GPU. ``max_rows`` equal to the number
of prompts gives one head at a time (same numbers, slower; the benchmark compares them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.errors import PromptSetError, SiteError
from workbench.heads._model import (
    BlockInputs,
    block_output_type,
    blockwise_job,
    call_block,
    last_position_logits,
    mlp_at_last_position,
    read_block_inputs,
    start_at_block,
)
from workbench.heads.data import TaskPrompts
from workbench.heads.metrics import EncodedTask, Metric, encode_task
from workbench.heads.result import HeadScores
from workbench.jobs import Job, Progress, run
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention, _where
from workbench.models.sites import head_z, resid_pre

Head = tuple[int, int]


@dataclass
class HeadVariants(Intervention):
    """At one ``hook_z`` site, set head ``h`` in rows ``[start, stop)`` to a value, per slice.

    ``values`` is ``[n | 1, pos | 1, head, d_head]`` (row ``i`` of a slice takes row ``i`` of
    ``values``) or None for zeros; ``where`` (``[n, pos]`` bool) limits the positions.
    """

    slices: list[tuple[int, int, int]] = field(default_factory=list)
    values: torch.Tensor | None = None
    where: torch.Tensor | None = None

    def apply(
        self, x: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:  # [b, pos, head, d]
        new = x.clone()
        for r0, r1, h in self.slices:
            cur = new[r0:r1, :, h]
            if self.values is None:
                val = torch.zeros_like(cur)
            else:
                val = self.values[:, :, h].to(x.device, x.dtype)[:, : cur.shape[1]].expand_as(cur)
            if self.where is not None:
                val = torch.where(self.where[:, : cur.shape[1], None].to(x.device), val, cur)
            new[r0:r1, :, h] = val
        return _where(mask, new, x)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "variants": [[a, b, h] for a, b, h in self.slices]}


def _zero(layer: int) -> None:
    return None


@dataclass
class Reference:
    """One unchanged forward: last-token logits, residual stream per block, head z, and what
    each block received besides its hidden states (to run blocks again one at a time)."""

    logits: torch.Tensor  # [n, vocab]
    resid: dict[int, torch.Tensor]  # layer -> [n, pos, d_model]
    z: dict[int, torch.Tensor]  # layer -> [n, pos, head, d_head] (or reduced, see reference_pass)
    blocks: dict[int, BlockInputs] = field(default_factory=dict)


@torch.no_grad()
def reference_pass(
    hm: HookedModel, ids: torch.Tensor, mask: torch.Tensor, last: torch.Tensor, z: str = "none"
) -> Reference:
    """Run once unchanged; keep ``resid_pre`` of every block and ``z`` as asked.

    ``z``: ``none``, ``full`` (``[n, pos, head, d_head]``), ``last`` (``[n, head, d_head]``,
    each prompt's last token) or ``mean`` (``[head, d_head]`` over every real token).
    """
    resid: dict[int, torch.Tensor] = {}
    zs: dict[int, torch.Tensor] = {}
    rows = torch.arange(ids.shape[0])
    m = mask.bool()

    def keep_resid(L: int) -> Callable[[torch.Tensor], None]:
        return lambda x: resid.__setitem__(L, x.detach().clone())

    def keep_z(L: int) -> Callable[[torch.Tensor], None]:
        def read(x: torch.Tensor) -> None:
            x = x.detach()
            if z == "full":
                zs[L] = x.clone()
            elif z == "last":
                zs[L] = x[rows, last].clone()
            else:
                zs[L] = x[m.to(x.device)].float().mean(0).to(x.dtype)

        return read

    readers: dict[str, list] = {resid_pre(L): [keep_resid(L)] for L in range(hm.n_layers)}
    if z != "none":
        for L in range(hm.n_layers):
            readers[head_z(L)] = [keep_z(L)]
    blocks: dict[int, BlockInputs] = {}
    handles = read_block_inputs(hm, blocks)
    try:
        with last_position_logits(hm, last):
            out = hm.forward(ids, mask, (), readers, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return Reference(out.logits[:, 0].float(), resid, zs, blocks)


# Token positions in one staircase when max_rows is not given (see the module docstring).
TOKEN_BUDGET = {"cpu": 1024}
TOKEN_BUDGET_ACCELERATOR = 32768


def heads_per_staircase(hm: HookedModel, n: int, T: int, max_rows: int | None) -> int:
    """Variants in one staircase of :func:`sweep_job` for ``n`` prompts of ``T`` tokens."""
    if max_rows is None:
        budget = TOKEN_BUDGET.get(hm.device.type, TOKEN_BUDGET_ACCELERATOR)
        max_rows = max(n, budget // max(1, T))
    return max(1, max_rows // n)


def sweep_job(
    hm: HookedModel,
    ids: torch.Tensor,
    mask: torch.Tensor,
    last: torch.Tensor,
    metric: Metric,
    heads: Sequence[Head],
    ref: Reference,
    values: Callable[[int], torch.Tensor | None] = _zero,
    where: torch.Tensor | None = None,
    max_rows: int | None = None,
    label: str = "heads",
    share: tuple[int, int] | None = None,
) -> Job[torch.Tensor]:
    """Mean metric of each variant ``heads[i]`` (that head's z replaced), ``[len(heads)]``.

    Parameters
    ----------
    ids, mask, last
        The run the variants change (``[n, pos]``, ``[n]``).
    ref
        Its :func:`reference_pass` (residual stream and block inputs).
    values
        ``layer -> [n | 1, pos | 1, head, d_head]`` replacement (None: zero).
    where
        ``[n, pos]`` positions to replace (None: every position).
    max_rows
        Rows (variants × prompts) in one staircase; None: about ``TOKEN_BUDGET`` positions.
    share
        ``(k, m)``: compute only staircases ``k, k + m, k + 2m, …`` (the others stay NaN), one
        worker's part of a sweep split over ``m`` workers (:mod:`workbench.cluster`). The
        staircases are those of the whole sweep, so each head's number is the one a single
        process computes.
    """
    n, T = ids.shape
    bad = [(L, h) for L, h in heads if not (0 <= L < hm.n_layers and 0 <= h < hm.n_heads)]
    if bad:  # a negative index would score another head under this one's label
        shown = ", ".join(f"L{L}H{h}" for L, h in bad[:5])
        raise SiteError(
            f"{shown}: this model has layers 0..{hm.n_layers - 1} and heads 0..{hm.n_heads - 1}."
        )
    per = heads_per_staircase(hm, n, T, max_rows)
    order = sorted(range(len(heads)), key=lambda i: heads[i])
    out = torch.full((len(heads),), float("nan"))
    out_type = block_output_type(hm, ids)
    pidx = torch.arange(n)
    n_layers = hm.n_layers
    starts = list(range(0, len(order), per))
    if share is not None:
        starts = starts[share[0] :: share[1]]
    total = sum(n_layers - heads[i][0] for c in starts for i in order[c : c + per])
    done = 0
    yield Progress(0, total, label)
    for c in starts:
        chunk = order[c : c + per]
        # Rows j*n..(j+1)*n belong to chunk[j]; heads are sorted by layer, so the rows of a
        # block's heads are appended when the staircase reaches that block.
        joins: dict[int, list[tuple[int, int, int]]] = {}
        for j, i in enumerate(chunk):
            L, h = heads[i]
            joins.setdefault(L, []).append((j * n, (j + 1) * n, h))
        ivs = {
            L: HeadVariants(head_z(L), slices=s, values=values(L), where=where)
            for L, s in joins.items()
        }
        h_rows: torch.Tensor | None = None
        k = 0
        for L in range(min(joins), n_layers):
            if L in joins:
                new = ref.resid[L].repeat(len(joins[L]), 1, 1)
                h_rows = new if h_rows is None else torch.cat([h_rows, new])
                k += len(joins[L])
            assert h_rows is not None
            with (
                torch.no_grad(),
                hm.prompt_context(mask.repeat(k, 1)),
                hm.hooks([ivs[L]] if L in ivs else []),
                mlp_at_last_position(hm, L, last.repeat(k))
                if n_layers - 1 == L
                else contextlib.nullcontext(),
            ):
                h_rows = call_block(hm, L, h_rows, ref.blocks[L], n)
            done += k
            yield Progress(
                done, total, f"{label}: block {L + 1}/{n_layers}, {c + k}/{len(order)} heads"
            )
        # The model's own tail (final norm, unembedding, soft-capping) on the last block's output.
        with (
            torch.no_grad(),
            start_at_block(hm, n_layers, h_rows, out_type),
            last_position_logits(hm, last.repeat(k)),
        ):
            logits = hm.forward(ids, mask, use_cache=False).logits[:, 0]
        vals = metric.per_row(logits, pidx.repeat(k)).reshape(k, n).mean(1).cpu()
        for j, i in enumerate(chunk):
            out[i] = vals[j]
    return out


def _all_heads(hm: HookedModel) -> list[Head]:
    return [(L, h) for L in range(hm.n_layers) for h in range(hm.n_heads)]


def _matrix(hm: HookedModel, heads: Sequence[Head], vals: torch.Tensor) -> torch.Tensor:
    m = torch.full((hm.n_layers, hm.n_heads), float("nan"))
    for (L, h), v in zip(heads, vals, strict=True):
        m[L, h] = v
    return m


def ablation_scores_job(
    hm: HookedModel,
    task: TaskPrompts,
    mode: str = "zero",
    metric: str | None = None,
    heads: Sequence[Head] | None = None,
    max_rows: int | None = None,
    mean_prompts: Sequence[str] | None = None,
    share: tuple[int, int] | None = None,
    cluster: Any = None,
) -> Job[HeadScores]:
    """Ablation score of each head: ``metric(clean) − metric(head ablated)``.

    Parameters
    ----------
    task
        Prompts and targets (foils for ``logit_diff``).
    mode
        ``zero`` (z set to 0) or ``mean`` (z set to its mean over every real token of
        ``mean_prompts``, default the task's prompts).
    metric
        See :mod:`workbench.heads.metrics` (default ``logit_diff`` with foils, else ``logit``).
    heads
        ``(layer, head)`` pairs to score (default all; the others are NaN).
    max_rows
        Rows per forward pass.
    share
        ``(k, m)``: only part ``k`` of ``m`` of the heads (see :func:`sweep_job`); the others
        are NaN.
    cluster
        A cluster address (``local:2``, ``ray://host:10001``, ``auto``) or an open
        :class:`workbench.cluster.Cluster`: the sweep is split over its workers
        (:mod:`workbench.cluster`), with the same result.
    """
    if mode not in ("zero", "mean"):
        raise ValueError(f"unknown ablation mode {mode!r}: use zero or mean")
    if cluster is not None:
        from workbench.heads.distributed import cluster_scores_job

        kw = dict(mode=mode, metric=metric, heads=heads, max_rows=max_rows)
        return (yield from cluster_scores_job(hm, cluster, "ablation", task, kw, mean_prompts))
    et = encode_task(hm, task, metric)
    heads = list(heads) if heads is not None else _all_heads(hm)
    # setup passes run block by block in a helper thread: a cancel reaches them (see blockwise_job)
    ref = yield from blockwise_job(
        hm, lambda: reference_pass(hm, et.ids, et.mask, et.last), "reference run"
    )
    base = float(et.metric.mean(ref.logits))
    values: Callable[[int], torch.Tensor | None] = _zero
    if mode == "mean":
        src = (
            hm.encode(list(mean_prompts))
            if mean_prompts
            else {"input_ids": et.ids, "attention_mask": et.mask}
        )
        mref = yield from blockwise_job(
            hm,
            lambda: reference_pass(
                hm,
                src["input_ids"],
                src["attention_mask"],
                src["attention_mask"].sum(-1) - 1,
                z="mean",
            ),
            "mean activations",
        )
        values = lambda L: mref.z[L][None, None]  # noqa: E731
    vals = yield from sweep_job(
        hm,
        et.ids,
        et.mask,
        et.last,
        et.metric,
        heads,
        ref,
        values,
        None,
        max_rows,
        "ablations",
        share,
    )
    scores = _matrix(hm, heads, base - vals)
    settings: dict[str, Any] = {
        "kind": "ablation",
        "mode": mode,
        "metric": et.metric.kind,
        "task": task.to_dict(),
        "max_rows": max_rows,
    }
    if mean_prompts:
        settings["mean_prompts"] = list(mean_prompts)
    extras = {"baseline_metric": base, "ablated_metric": _matrix(hm, heads, vals).tolist()}
    return HeadScores("ablation", scores, settings, hm.ref.to_dict(), extras)


def patching_setup(
    hm: HookedModel, task: TaskPrompts, metric: str | None, positions: str, source: str
) -> tuple[EncodedTask, Reference, Reference, Callable[[int], torch.Tensor], torch.Tensor | None]:
    """Tokenise, run clean and corrupted once, and build the patch values and positions."""
    return run(patching_setup_job(hm, task, metric, positions, source))


def patching_setup_job(
    hm: HookedModel, task: TaskPrompts, metric: str | None, positions: str, source: str
) -> Job[
    tuple[EncodedTask, Reference, Reference, Callable[[int], torch.Tensor], torch.Tensor | None]
]:
    """:func:`patching_setup` as a job: cancellable during both setup runs."""
    if task.corrupted is None:
        raise PromptSetError("Patching needs a corrupted prompt for every clean prompt.")
    if positions not in ("all", "last") or source not in ("paired", "mean"):
        raise ValueError("positions must be all or last; source paired or mean")
    et = encode_task(hm, task, metric)
    if positions == "all" and source == "paired" and not et.same_lengths():
        raise PromptSetError(
            "Clean and corrupted prompts must have the same number of tokens to patch every "
            "position; make them match or patch the last position only (positions='last')."
        )
    z = (
        {"all": "full", "last": "last"}[positions]
        if source == "paired"
        else ("mean" if positions == "all" else "last")
    )
    clean = yield from blockwise_job(
        hm, lambda: reference_pass(hm, et.ids, et.mask, et.last, z=z), "clean run"
    )
    c_ids, c_mask, c_last = et.corrupted()
    corr = yield from blockwise_job(
        hm, lambda: reference_pass(hm, c_ids, c_mask, c_last), "corrupted run"
    )
    if positions == "all":
        values = (
            (lambda L: clean.z[L]) if source == "paired" else (lambda L: clean.z[L][None, None])
        )
        where = None
    else:
        values = (
            (lambda L: clean.z[L][:, None])
            if source == "paired"
            else (lambda L: clean.z[L].float().mean(0)[None, None])
        )
        where = torch.zeros_like(c_mask, dtype=torch.bool)
        where[torch.arange(et.n), c_last] = True
    return et, clean, corr, values, where


def patching_scores_job(
    hm: HookedModel,
    task: TaskPrompts,
    metric: str | None = None,
    positions: str = "all",
    source: str = "paired",
    normalize: bool = True,
    heads: Sequence[Head] | None = None,
    max_rows: int | None = None,
    share: tuple[int, int] | None = None,
    cluster: Any = None,
) -> Job[HeadScores]:
    """Activation patching per head: the clean run's z patched into the corrupted run.

    Score ``(metric(patched) − metric(corrupted)) / (metric(clean) − metric(corrupted))``
    (``normalize=False``: the numerator alone).

    Parameters
    ----------
    task
        Clean ``prompts``, ``corrupted`` prompts, ``targets`` (and ``foils``).
    positions
        ``all`` (every position; clean and corrupted must have equal token counts) or ``last``.
    source
        ``paired`` (each corrupted prompt gets its own clean prompt's z) or ``mean`` (the mean
        over clean prompts, as in Todd et al.'s function-vector heads).
    share, cluster
        As in :func:`ablation_scores_job`.
    """
    if cluster is not None:
        from workbench.heads.distributed import cluster_scores_job

        kw = dict(
            metric=metric, positions=positions, source=source, normalize=normalize, heads=heads,
            max_rows=max_rows,
        )  # fmt: skip
        return (yield from cluster_scores_job(hm, cluster, "patching", task, kw))
    et, clean, corr, values, where = yield from patching_setup_job(
        hm, task, metric, positions, source
    )
    m_clean = float(et.metric.mean(clean.logits))
    m_corr = float(et.metric.mean(corr.logits))
    heads = list(heads) if heads is not None else _all_heads(hm)
    c_ids, c_mask, c_last = et.corrupted()
    vals = yield from sweep_job(
        hm,
        c_ids,
        c_mask,
        c_last,
        et.metric,
        heads,
        corr,
        values,
        where,
        max_rows,
        "patches",
        share,
    )
    raw = vals - m_corr
    denom = m_clean - m_corr
    scores = _matrix(hm, heads, raw / denom if normalize else raw)
    settings = {
        "kind": "patching", "metric": et.metric.kind, "positions": positions, "source": source,
        "normalize": normalize, "task": task.to_dict(), "max_rows": max_rows,
    }  # fmt: skip
    extras = {
        "clean_metric": m_clean,
        "corrupted_metric": m_corr,
        "patched_metric": _matrix(hm, heads, vals).tolist(),
    }
    return HeadScores("patching", scores, settings, hm.ref.to_dict(), extras)
