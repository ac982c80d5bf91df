"""Activation patching (causal tracing) by layer × position: run a corrupted prompt, put back
one activation from the clean run (one site, one position), and read a metric of the target at
the last position (Meng et al. 2022; Heimersheim & Nanda 2024 on metrics).

Every patched variant is a row of one batch (chunks of ``max_rows``): row ``r`` is the corrupted
prompt with the clean activation written at its own (site, position) cells, so a
``layers × positions`` map costs ``layers × positions / max_rows`` forward passes.

Metrics, at the last position: ``logit_diff`` (logit of the target minus the foil's),
``logit``, ``logprob``, ``prob`` (of the target).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from workbench.analysis._readout import show_token, target_token, token_texts
from workbench.errors import PromptSetError
from workbench.jobs import Job, Progress, run
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention
from workbench.models.sites import site_name

PATCH_COMPONENTS = ("resid_pre", "attn_out", "mlp_out")
METRICS = ("logit_diff", "logit", "logprob", "prob")
COMPONENT_TITLES = {"resid_pre": "residual stream (block input)",
                    "attn_out": "attention output", "mlp_out": "MLP output"}  # fmt: skip


def component_site(component: str, layer: int) -> str:
    if component not in PATCH_COMPONENTS:
        raise ValueError(f"component must be one of {', '.join(PATCH_COMPONENTS)}")
    return site_name(component, layer)


@dataclass
class CellPatch(Intervention):
    """Write ``source`` (``[1 or batch, pos, ...]``, the clean run) where ``cells``
    (``[batch, pos]`` bool) is True; every other cell keeps the corrupted activation."""

    source: torch.Tensor = field(default=None)  # type: ignore[assignment]
    cells: torch.Tensor = field(default=None)  # type: ignore[assignment]

    def apply(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        src = self.source.to(x.device, x.dtype)
        cells = self.cells.to(x.device)
        m = cells.reshape(cells.shape + (1,) * (x.dim() - 2))
        return torch.where(m, src, x)


@dataclass(frozen=True)
class PatchPair:
    """A clean and a corrupted prompt of the same token length, tokenized, with the metric."""

    clean: str
    corrupted: str
    clean_ids: torch.Tensor  # [pos]
    corrupted_ids: torch.Tensor  # [pos]
    metric: str
    target_id: int
    foil_id: int | None
    target_token: str
    foil_token: str | None
    note: str


def patch_pair(
    hm: HookedModel,
    clean: str,
    corrupted: str,
    target: str,
    foil: str | None = None,
    metric: str = "logit_diff",
) -> PatchPair:
    """Tokenize and check a clean/corrupted pair: same length, a target (and a foil for
    ``logit_diff``)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    a = hm.encode([clean])["input_ids"][0]
    b = hm.encode([corrupted])["input_ids"][0]
    if a.shape != b.shape:
        ta, tb = token_texts(hm, a), token_texts(hm, b)
        raise PromptSetError(
            f"The clean prompt is {len(ta)} tokens {ta} and the corrupted one {len(tb)} tokens "
            f"{tb}. Patching pairs positions one to one, so both need the same number of tokens: "
            "change words for words of the same token count (e.g. one city for another)."
        )
    tid, ttok, note = target_token(hm, target)
    fid, ftok = None, None
    if metric == "logit_diff":
        if not foil:
            raise PromptSetError(
                "The logit difference needs a foil: the corrupted prompt's answer (e.g. ' Rome')."
                " Or choose the metric prob, logprob or logit."
            )
        fid, ftok, fnote = target_token(hm, foil)
        note = " ".join(n for n in (note, fnote) if n)
        if fid == tid:
            raise PromptSetError(f"The target and the foil are the same token {ttok!r}.")
    return PatchPair(clean, corrupted, a, b, metric, tid, fid, ttok, ftok, note)


def _metric(pair: PatchPair, last_logits: torch.Tensor) -> torch.Tensor:
    """``[rows]`` metric of ``[rows, vocab]`` logits at the last position."""
    lg = last_logits.float()
    if pair.metric == "logit_diff":
        assert pair.foil_id is not None
        return lg[:, pair.target_id] - lg[:, pair.foil_id]
    if pair.metric == "logit":
        return lg[:, pair.target_id]
    lp = torch.log_softmax(lg, -1)[:, pair.target_id]
    return lp if pair.metric == "logprob" else lp.exp()


@torch.no_grad()
def clean_cache(hm: HookedModel, pair: PatchPair, sites: Sequence[str]) -> tuple[float, dict]:
    """The clean run's metric and its activations ``[1, pos, ...]`` at ``sites``."""
    cache: dict[str, torch.Tensor] = {}
    readers = {s: [_keep(cache, s)] for s in sites}
    ids = pair.clean_ids[None].to(hm.device)
    out = hm.forward(ids, torch.ones_like(ids), (), readers, use_cache=False)
    return float(_metric(pair, out.logits[:, -1])[0]), cache


def _keep(cache: dict, site: str) -> Any:
    def read(x: torch.Tensor) -> None:
        cache[site] = x.detach().clone()

    return read


def patched_metric_job(
    hm: HookedModel,
    pair: PatchPair,
    variants: Sequence[Mapping[str, Sequence[int]]],
    max_rows: int = 64,
) -> Job[tuple[torch.Tensor, float]]:
    """The metric of each patched variant, and of the clean run.

    Each variant maps sites to the positions patched there with the clean activation
    (``{}``: nothing patched, the corrupted run). Variants are rows of one batch.
    """
    sites = sorted({s for v in variants for s in v})
    for s in sites:
        hm.check_site(s)
    n_pos = len(pair.corrupted_ids)
    for v in variants:
        for s, ps in v.items():
            bad = [p for p in ps if not -n_pos <= p < n_pos]
            if bad:
                raise PromptSetError(f"{s}: positions {bad} are outside the {n_pos} tokens.")
    clean_m, cache = clean_cache(hm, pair, sites)
    n = len(variants)
    got = torch.empty(n)
    yield Progress(0, n, "patching")
    for start in range(0, n, max_rows):
        chunk = variants[start : start + max_rows]
        b = len(chunk)
        ivs: list[Intervention] = []
        for s in sites:
            cells = torch.zeros(b, n_pos, dtype=torch.bool)
            for r, v in enumerate(chunk):
                if s in v:
                    cells[r, list(v[s])] = True
            if cells.any():
                ivs.append(CellPatch(s, source=cache[s], cells=cells))
        ids = pair.corrupted_ids[None].expand(b, -1).to(hm.device)
        with torch.no_grad():
            out = hm.forward(ids, torch.ones_like(ids), ivs, use_cache=False)
        got[start : start + b] = _metric(pair, out.logits[:, -1]).cpu()
        done = start + b
        yield Progress(done, n, f"{done}/{n} patched runs")
    return got, clean_m


def patched_metric(
    hm: HookedModel,
    pair: PatchPair,
    variants: Sequence[Mapping[str, Sequence[int]]],
    max_rows: int = 64,
) -> tuple[torch.Tensor, float]:
    """:func:`patched_metric_job` run to completion."""
    return run(patched_metric_job(hm, pair, variants, max_rows))


NO_GAP_NOTE = (
    "The clean and corrupted prompts give the same metric, so there is no gap to restore and "
    "the restored fractions are undefined (null): give a corrupted prompt that changes the answer."
)


@dataclass(frozen=True)
class PatchingResult:
    """A layers × positions map of the metric after patching one cell from clean to corrupted.

    ``values[layer][pos]``; ``clean_metric`` and ``corrupted_metric`` are the baselines
    (nothing patched: corrupted; everything: clean). ``normalized`` is
    ``(value − corrupted) / (clean − corrupted)``: 1 restores the clean run, 0 does nothing.
    """

    clean_prompt: str
    corrupted_prompt: str
    clean_tokens: list[str]
    corrupted_tokens: list[str]
    component: str
    sites: list[str]
    metric: str
    target: str
    foil: str | None
    target_token: str
    foil_token: str | None
    values: list[list[float]]
    clean_metric: float
    corrupted_metric: float
    note: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    kind: str = "activation_patching"

    @property
    def normalized(self) -> list[list[float]]:
        gap = self.clean_metric - self.corrupted_metric
        if abs(gap) < 1e-9:
            return [[float("nan")] * len(row) for row in self.values]
        return [[(v - self.corrupted_metric) / gap for v in row] for row in self.values]

    def best(self, n: int = 5) -> list[dict[str, Any]]:
        """The ``n`` cells that restore the most of the clean metric."""
        cells = [(v, L, p) for L, row in enumerate(self.values) for p, v in enumerate(row)]
        sign = 1.0 if self.clean_metric >= self.corrupted_metric else -1.0
        cells.sort(key=lambda c: -sign * c[0])
        norm = self.normalized
        return [{"layer": L, "position": p, "token": self.clean_tokens[p], "value": v,
                 "normalized": norm[L][p]} for v, L, p in cells[:n]]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["normalized"] = self.normalized
        d["settings"] = {"clean": self.clean_prompt, "corrupted": self.corrupted_prompt,
                         "component": self.component, "metric": self.metric,
                         "target": self.target, "foil": self.foil}  # fmt: skip
        return d

    def figure_spec(self, run_id: int | None = None, normalized: bool = True) -> dict[str, Any]:
        vals = self.normalized if normalized else self.values
        cols = []
        for i, (a, b) in enumerate(zip(self.clean_tokens, self.corrupted_tokens, strict=True)):
            cols.append(f"{i}:{show_token(a, 10)}" + ("" if a == b else f"/{show_token(b, 10)}"))
        what = {"logit_diff": f"logit({self.target_token!r}) − logit({self.foil_token!r})",
                "logit": f"logit({self.target_token!r})", "prob": f"P({self.target_token!r})",
                "logprob": f"log P({self.target_token!r})"}[self.metric]  # fmt: skip
        label = f"restored fraction of {what}" if normalized else what
        return {
            "kind": "heatmap",
            "figure": "activation_patching",
            "title": (
                f"Patching {COMPONENT_TITLES[self.component]} clean→corrupted — "
                f"{self.model.get('name', '')}\nclean {self.clean_metric:.3f}, corrupted "
                f"{self.corrupted_metric:.3f} ({what})"
            ),
            "xlabel": "position (clean/corrupted token)",
            "ylabel": "layer",
            "rows": [str(i) for i in range(len(self.values))],
            "cols": cols,
            "values": [[None if v != v else round(float(v), 6) for v in row] for row in vals],
            "cell_width": 1.0,
            "cell_height": 0.28,
            "cmap": "RdBu_r",
            "center": 0.0,
            "value_label": label,
            "run_id": run_id,
        }


def activation_patching_job(
    hm: HookedModel,
    clean: str,
    corrupted: str,
    target: str,
    foil: str | None = None,
    component: str = "resid_pre",
    metric: str = "logit_diff",
    max_rows: int = 64,
) -> Job[PatchingResult]:
    """Patch ``component`` from the clean run into the corrupted one at every layer × position.

    Parameters
    ----------
    clean, corrupted
        Two prompts with the same number of tokens.
    target, foil
        The clean answer and (for ``logit_diff``) the corrupted one, scored by first token.
    component
        ``resid_pre`` (the residual stream entering each block), ``attn_out`` or ``mlp_out``.
    metric
        ``logit_diff``, ``logit``, ``logprob`` or ``prob``, at the last position.
    max_rows
        Patched variants per forward pass.
    """
    pair = patch_pair(hm, clean, corrupted, target, foil, metric)
    L, n_pos = hm.n_layers, len(pair.clean_ids)
    sites = [component_site(component, layer) for layer in range(L)]
    variants: list[dict[str, list[int]]] = [{}]  # row 0: nothing patched
    variants += [{sites[layer]: [p]} for layer in range(L) for p in range(n_pos)]
    got, clean_m = yield from patched_metric_job(hm, pair, variants, max_rows)
    values = got[1:].reshape(L, n_pos).tolist()
    note = pair.note
    if abs(clean_m - float(got[0])) < 1e-9:
        note = " ".join(n for n in (note, NO_GAP_NOTE) if n)
    return PatchingResult(
        clean_prompt=clean,
        corrupted_prompt=corrupted,
        clean_tokens=token_texts(hm, pair.clean_ids),
        corrupted_tokens=token_texts(hm, pair.corrupted_ids),
        component=component,
        sites=sites,
        metric=metric,
        target=target,
        foil=foil,
        target_token=pair.target_token,
        foil_token=pair.foil_token,
        values=values,
        clean_metric=clean_m,
        corrupted_metric=float(got[0]),
        note=note,
        model=hm.ref.to_dict(),
    )


def activation_patching(hm: HookedModel, clean: str, corrupted: str, target: str,
                        foil: str | None = None, **kw: Any) -> PatchingResult:  # fmt: skip
    """:func:`activation_patching_job` run to completion."""
    return run(activation_patching_job(hm, clean, corrupted, target, foil, **kw))
