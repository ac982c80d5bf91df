"""Subspace activation patching along a direction, with the interpretability-illusion control
(Makelov, Lange & Nanda 2023, "Is this the subspace you are looking for?").

Patching only the component along a unit direction ``v`` at one site and position writes
``x_corrupted + ((x_clean − x_corrupted) · v) v``. Makelov et al. show that such a patch can
move the output through a direction the downstream layer *does not read* (a component in the
nullspace of its input weights that varies between the prompts) combined with one it reads but
that does not vary (a dormant one), so a large effect need not mean the model uses ``v``. The
control splits ``v`` into ``v_row`` (inside the row space of the weights that read the site)
and ``v_null`` (outside it) and patches along each separately, beside the clean, corrupted and
full-patch baselines.

Sites and their readers:

* ``mlp_post`` (the MLP's hidden activations, the input of its down projection at block ``L``):
  read only by the down projection ``W_out`` ``[d_model, d_mlp]``; its nullspace has dimension
  at least ``d_mlp − d_model``. This is the setting of the paper.
* ``resid_post`` (block ``L``'s output): the residual stream has no nullspace. Block ``L+1``'s
  attention and MLP and every later block read it, so no direction there goes unread; the job
  does not split ``v`` (``v_row = v``) and the result's note says so. After the last block the
  only reader is the unembedding after the final norm, ``W_U · diag(γ)`` (``γ = 1 + w`` for
  Gemma's RMSNorm, and LayerNorm's centring ``I − 11ᵀ/d`` after it, so the all-ones direction
  is never read), and the split is made against it.

Weights offloaded to the meta device (a device map with disk offload) are refused: the control
reads the weights directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from workbench.analysis._readout import show_token
from workbench.analysis.patching import PatchPair, _metric, patch_pair
from workbench.errors import PromptSetError, ShapeMismatchError, UnsupportedModelError
from workbench.jobs import Job, Progress, run
from workbench.models.hooked import HookedModel

SUBSPACE_SITES = ("resid_post", "mlp_post")
_DOWN = ("down_proj", "c_proj", "dense_4h_to_h", "fc2", "w2")
_UP = (("gate_proj", "up_proj"), ("c_fc",), ("dense_h_to_4h",), ("fc1",), ("w1", "w3"))
ROWS = ("corrupted", "full patch", "along v", "along v_row", "along v_null")


def _linear_weight(mod: Any) -> torch.Tensor:
    """A projection's weight as ``[out, in]`` (GPT-2's Conv1D stores ``[in, out]``)."""
    w = mod.weight.detach().double().cpu()
    return w if isinstance(mod, torch.nn.Linear) else w.t()


def _child(mlp: Any, names: tuple[str, ...]) -> Any:
    for n in names:
        if hasattr(mlp, n):
            return getattr(mlp, n)
    return None


def down_projection(hm: HookedModel, layer: int) -> Any:
    mod = _child(hm.adapter.mlp(layer), _DOWN)
    if mod is None:
        raise UnsupportedModelError(
            f"No MLP down projection found in block {layer} (looked for {', '.join(_DOWN)})."
        )
    return mod


def _refuse_meta(*tensors: torch.Tensor) -> None:
    if any(t.device.type == "meta" for t in tensors):
        raise UnsupportedModelError(
            "The weights that read this site are offloaded (device 'meta', a device map with "
            "disk offload); the illusion control reads them directly: load the model without "
            "disk offload for subspace patching."
        )


def _norm_matrix(hm: HookedModel, norm: Any) -> torch.Tensor:
    """``[d, d]``: the linear part of a norm with its scale frozen, ``diag(γ)`` after the
    centring ``I − 11ᵀ/d`` for LayerNorm; ``γ`` is ``1 + w`` for Gemma's RMSNorm."""
    from workbench.heads._model import norm_affine

    _refuse_meta(*(p for p in norm.parameters()))
    aff = norm_affine(hm, norm, "the illusion control")
    d = hm.d_model
    M = torch.diag(aff.weight.double())
    if aff.center:
        M = M @ (
            torch.eye(d, dtype=torch.float64) - torch.full((d, d), 1.0 / d, dtype=torch.float64)
        )
    return M


def reader_weights(hm: HookedModel, site: str, layer: int) -> tuple[torch.Tensor, str]:
    """The matrix ``[n_read, d_site]`` whose rows read the site, and what it is.

    ``mlp_post``: the down projection. ``resid_post`` after the last block: the unembedding
    after the final norm. ``resid_post`` before it: the next block's MLP input after its norm,
    which is only one of the stream's readers (:func:`subspace_patching_job` does not split
    there: the next attention and every later block read the stream too).
    """
    if site == "mlp_post":
        mod = down_projection(hm, layer)
        _refuse_meta(mod.weight)
        W_out = _linear_weight(mod)  # [d_model, d_mlp]
        return W_out, f"block {layer}'s MLP down projection W_out"
    if layer == hm.n_layers - 1:
        u = hm.adapter.unembed().weight
        _refuse_meta(u)
        W = u.detach().double().cpu()
        return W @ _norm_matrix(hm, hm.adapter.final_norm()), "the unembedding after the final norm"
    ln = hm.adapter.ln_mlp(layer + 1)
    if ln is None:
        raise UnsupportedModelError(
            f"{hm.adapter.family} has no separate MLP input norm (parallel attention and MLP); "
            "use the site mlp_post."
        )
    mlp = hm.adapter.mlp(layer + 1)
    mods = next((ms for ms in _UP if all(hasattr(mlp, n) for n in ms)), None)
    if mods is None:
        raise UnsupportedModelError(f"No MLP input projection found in block {layer + 1}.")
    _refuse_meta(*(getattr(mlp, n).weight for n in mods))
    W = torch.cat([_linear_weight(getattr(mlp, n)) for n in mods])  # [n_read, d_model]
    return W @ _norm_matrix(hm, ln), f"block {layer + 1}'s MLP input weights after its norm"


def row_space_split(
    W: torch.Tensor, v: torch.Tensor, rtol: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(v_row, v_null, rank)``: ``v`` split along the row space of ``W`` and its complement."""
    _, s, Vh = torch.linalg.svd(W.double(), full_matrices=False)
    rank = int((s > rtol * s.max()).sum())
    V = Vh[:rank]  # [rank, d]
    v = v.double()
    v_row = V.T @ (V @ v)
    return v_row, v - v_row, rank


@contextlib.contextmanager
def _mlp_post_hook(
    hm: HookedModel, layer: int, read: dict | None, write: torch.Tensor | None
) -> Iterator[None]:
    def pre(module: Any, args: tuple) -> Any:
        x = args[0]
        if read is not None:
            read["x"] = x.detach().clone()
        if write is not None:
            return (write.to(x.device, x.dtype), *args[1:])
        return None

    h = down_projection(hm, layer).register_forward_pre_hook(pre)
    try:
        yield
    finally:
        h.remove()


@torch.no_grad()
def _run(
    hm: HookedModel, ids: torch.Tensor, site: str, layer: int, write: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at the last position ``[rows, vocab]`` and the site's activation ``[rows, pos, d]``."""
    from workbench.models.interventions import Patch

    got: dict[str, torch.Tensor] = {}
    ids = ids.to(hm.device)
    mask = torch.ones_like(ids)
    if site == "mlp_post":
        with _mlp_post_hook(hm, layer, got, write):
            out = hm.forward(ids, mask, use_cache=False)
    else:
        name = f"blocks.{layer}.hook_resid_post"
        ivs = [Patch(name, source=write)] if write is not None else []
        readers = {name: [lambda x: got.setdefault("x", x.detach().clone())]}
        out = hm.forward(ids, mask, ivs, readers, use_cache=False)
    return out.logits[:, -1].float(), got["x"].double().cpu()


@dataclass(frozen=True)
class SubspacePatching:
    """Metrics of the corrupted run with one site × position patched from the clean run: whole,
    along ``v``, along its row-space part ``v_row`` and its nullspace part ``v_null``.

    ``metrics`` follows :data:`ROWS`; ``clean_metric`` is the clean run. ``row_fraction`` is
    ``|v_row|² / |v|²``; ``reader_rank`` the rank of the reading weights (of ``reader_dim``).
    """

    clean_prompt: str
    corrupted_prompt: str
    site: str
    layer: int
    position: int
    token: str
    metric: str
    target_token: str
    foil_token: str | None
    clean_metric: float
    metrics: dict[str, float]
    row_fraction: float
    reader: str
    reader_rank: int
    reader_dim: int
    direction_source: str
    projections: dict[str, float]  # (x_clean − x_corrupted) · unit direction, per direction
    note: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    kind: str = "subspace_patching"

    def normalized(self) -> dict[str, float]:
        gap = self.clean_metric - self.metrics["corrupted"]
        return {k: (v - self.metrics["corrupted"]) / gap if abs(gap) > 1e-9 else float("nan")
                for k, v in self.metrics.items()}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["normalized"] = self.normalized()
        d["settings"] = {"clean": self.clean_prompt, "corrupted": self.corrupted_prompt,
                         "site": self.site, "layer": self.layer, "position": self.position,
                         "metric": self.metric, "direction": self.direction_source}  # fmt: skip
        return d

    def figure_spec(self, run_id: int | None = None) -> dict[str, Any]:
        """Bars: clean, corrupted, full patch, along v, v_row, v_null (the baselines beside the
        subspace effects, never one number alone)."""
        labels = ["clean", *ROWS]
        values = [self.clean_metric, *(self.metrics[r] for r in ROWS)]
        return {
            "kind": "bar",
            "figure": "subspace_patching",
            "title": (
                f"Subspace patching at {self.site}, position {self.position} "
                f"({show_token(self.token)})\n{self.model.get('name', '')}: "
                f"|v_row|²/|v|² = {self.row_fraction:.3f}, reader rank {self.reader_rank}"
                f"/{self.reader_dim}"
            ),  # fmt: skip
            "xlabel": "",
            "ylabel": self.metric,
            "labels": labels,
            "values": [round(float(v), 6) for v in values],
            # baselines grey, the full patch dark, the subspace patches coloured
            "colors": ["#8c8c8c", "#8c8c8c", "#333333", "#4c72b0", "#55a868", "#c44e52"],
            "run_id": run_id,
        }


def subspace_patching_job(
    hm: HookedModel,
    clean: str,
    corrupted: str,
    target: str,
    foil: str | None = None,
    layer: int = 0,
    site: str = "resid_post",
    direction: torch.Tensor | None = None,
    direction_pair: tuple[str, str] | None = None,
    position: int | None = None,
    metric: str = "logit_diff",
    direction_name: str = "",
) -> Job[SubspacePatching]:
    """Patch the clean run's activation into the corrupted run at (``site``, ``layer``,
    ``position``), whole and along a direction split by the reader's row space.

    Parameters
    ----------
    direction
        A vector of the site's width (a concept's vector at ``blocks.L.hook_resid_post``).
    direction_pair
        Or two other prompts of the same token count: the direction is their activation
        difference at ``position`` (a direction found on other data, as a probe or DAS would
        find one). Default when neither is given: this pair's own difference (``v_row`` then
        carries the whole effect and ``v_null`` none, by construction).
    position
        Default: the first position where the two prompts' tokens differ.
    direction_name
        What ``direction`` is (a concept's name), for the record; default "the given vector".
    """
    if site not in SUBSPACE_SITES:
        raise ValueError(f"site must be one of {', '.join(SUBSPACE_SITES)}")
    if not 0 <= layer < hm.n_layers:
        raise PromptSetError(f"layer {layer}: this model has blocks 0..{hm.n_layers - 1}.")
    pair: PatchPair = patch_pair(hm, clean, corrupted, target, foil, metric)
    n = len(pair.clean_ids)
    if position is None:
        diff = (pair.clean_ids != pair.corrupted_ids).nonzero()
        position = int(diff[0]) if len(diff) else n - 1
    if not -n <= position < n:
        raise PromptSetError(f"position {position} is outside the {n} tokens.")
    position %= n
    yield Progress(0, 4, "clean and corrupted runs")
    lg_clean, a_clean = _run(hm, pair.clean_ids[None], site, layer)
    lg_corr, a_corr = _run(hm, pair.corrupted_ids[None], site, layer)
    d = (a_clean - a_corr)[0, position]  # [d_site]
    source = "this pair's clean − corrupted difference"
    if direction is not None:
        v = direction.detach().double().cpu().reshape(-1)
        source = f"the concept {direction_name!r}" if direction_name else "the given vector"
    elif direction_pair is not None:
        other = patch_pair(hm, direction_pair[0], direction_pair[1], target, foil, metric)
        if len(other.clean_ids) != n:
            raise PromptSetError(
                "The direction's prompt pair needs as many tokens as the patched pair."
            )
        _, b1 = _run(hm, other.clean_ids[None], site, layer)
        _, b2 = _run(hm, other.corrupted_ids[None], site, layer)
        v = (b1 - b2)[0, position]
        source = f"difference of {direction_pair[0]!r} − {direction_pair[1]!r}"
    else:
        v = d.clone()
    if v.shape[-1] != d.shape[-1]:
        raise ShapeMismatchError(
            f"The direction has {v.shape[-1]} entries; {site} has {d.shape[-1]}."
        )
    if float(v.norm()) == 0:
        raise PromptSetError(
            "The direction is zero: give a non-zero vector or another prompt pair."
        )
    yield Progress(2, 4, "row space of the reader")
    stream = site == "resid_post" and layer < hm.n_layers - 1
    if stream:  # every later layer reads the residual stream: no nullspace to split off
        v = v.double()
        v_row, v_null, rank, reader_dim = v.clone(), torch.zeros_like(v), hm.d_model, hm.d_model
        reader = (
            f"the residual stream after block {layer}: block {layer + 1}'s attention and MLP "
            "and every later block read it"
        )
    else:
        W, reader = reader_weights(hm, site, layer)
        v_row, v_null, rank = row_space_split(W, v)
        reader_dim = int(W.shape[1])
    units = {"along v": v / v.norm()}
    units["along v_row"] = (
        v_row / v_row.norm()
        if float(v_row.norm()) > 1e-12 * float(v.norm())
        else torch.zeros_like(v)
    )
    units["along v_null"] = (
        v_null / v_null.norm()
        if float(v_null.norm()) > 1e-9 * float(v.norm())
        else torch.zeros_like(v)
    )
    full = a_corr[0].clone()
    full[position] = a_clean[0, position]  # the whole activation, at this position only
    rows = [a_corr[0], full]
    proj = {}
    for k in ("along v", "along v_row", "along v_null"):
        u = units[k]
        proj[k] = float(d @ u)
        x = a_corr[0].clone()
        x[position] = x[position] + proj[k] * u
        rows.append(x)
    src = torch.stack(rows)  # [5, pos, d_site]
    ids = pair.corrupted_ids[None].expand(len(rows), -1)
    yield Progress(3, 4, "patched runs")
    lg, _ = _run(hm, ids, site, layer, write=src.to(hm.dtype))
    m = _metric(pair, lg).tolist()
    note = pair.note
    if stream:
        note = (note + " " if note else "") + (
            f"The residual stream has no nullspace: block {layer + 1}'s attention and MLP and "
            "every later block read it, so v is not split and the illusion control (v_row, "
            "v_null) is empty here. Use the site mlp_post (or the last block's resid_post, read "
            "only by the unembedding) for the control."
        )
    elif float(v_null.norm()) <= 1e-9 * float(v.norm()):
        note = (note + " " if note else "") + (
            f"The reader has full rank {rank} on this site's {reader_dim} dimensions: v has no "
            "component outside its row space, so the illusion control is empty here."
        )
    return SubspacePatching(
        clean_prompt=clean, corrupted_prompt=corrupted,
        site=f"blocks.{layer}.mlp.hook_post" if site == "mlp_post" else f"blocks.{layer}.hook_resid_post",
        layer=layer, position=position, token=hm.tokenizer.decode([int(pair.clean_ids[position])]),
        metric=metric, target_token=pair.target_token, foil_token=pair.foil_token,
        clean_metric=float(_metric(pair, lg_clean)[0]), metrics=dict(zip(ROWS, m, strict=True)),
        row_fraction=float(v_row.norm() ** 2 / v.norm() ** 2), reader=reader, reader_rank=rank,
        reader_dim=reader_dim, direction_source=source, projections=proj, note=note,
        model=hm.ref.to_dict(),
    )  # fmt: skip


def subspace_patching(hm: HookedModel, clean: str, corrupted: str, target: str,
                      foil: str | None = None, **kw: Any) -> SubspacePatching:  # fmt: skip
    """:func:`subspace_patching_job` run to completion."""
    return run(subspace_patching_job(hm, clean, corrupted, target, foil, **kw))
