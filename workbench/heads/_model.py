"""Model plumbing shared by the head scores: weights per head, the final norm as an affine
map, effective embeddings, OV outputs, and two forward-pass shortcuts (start at a block, keep
only the last position's logits). Everything goes through the adapter and the hook sites, so
it works for every family the engine supports.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from workbench.errors import UnsupportedModelError
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.interventions import AblateHeads, Intervention
from workbench.models.sites import head_z, resid_post, resid_pre


def W_O(hm: HookedModel, layer: int) -> torch.Tensor:  # TransformerLens's name and layout
    """Block ``layer``'s output projection split by head, as TransformerLens's
    ``W_O[layer]``: ``[head, d_head, d_model]``, so that a head writes ``z_h @ W_O[h]``.

    (Hugging Face's ``o_proj.weight`` is ``[d_model, head * d_head]``, its transpose.)
    """
    W = hm.adapter.o_proj_weight(layer).detach()  # [d_model, head * d_head]
    return W.reshape(hm.d_model, hm.n_heads, hm.d_head).permute(1, 2, 0)


def head_outputs(hm: HookedModel, z: torch.Tensor, layer: int) -> torch.Tensor:
    """Each head's contribution to the residual stream, ``z_h @ W_O[h]`` (no o_proj bias).

    ``z``: ``[..., head, d_head]`` → ``[..., head, d_model]``.
    """
    W = W_O(hm, layer).to(z.dtype)  # [head, d_head, d_model]
    return torch.einsum("...hd,hdm->...hm", z, W)


def check_additive_heads(hm: HookedModel, what: str) -> None:
    """Refuse families whose attention output is normalised before it joins the residual."""
    if not hm.adapter.spec.resid_mid_is_sum and not hm.adapter.parallel:
        raise UnsupportedModelError(
            f"{what} needs each head's output to be added to the residual stream as it is; "
            f"{hm.adapter.family} normalises the attention output first. Use ablation or "
            "patching scores instead."
        )


@dataclass(frozen=True)
class NormAffine:
    """The final norm as ``weight * center(x) / s(x) + bias`` with ``s`` the RMS (+ eps)."""

    center: bool
    weight: torch.Tensor  # [d_model]
    bias: torch.Tensor  # [d_model]
    eps: float

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """``s(x)`` for residual vectors ``x`` ``[..., d_model]`` → ``[..., 1]``."""
        if self.center:
            x = x - x.mean(-1, keepdim=True)
        return (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()

    def linear(self, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """A component ``c``'s share of the normalised output, with the scale ``s`` frozen."""
        if self.center:
            c = c - c.mean(-1, keepdim=True)
        return c * self.weight / s


def final_norm_affine(hm: HookedModel) -> NormAffine:
    """Read the final norm as an affine map by probing it (LayerNorm, RMSNorm, Gemma's 1 + w).

    Raises
    ------
    UnsupportedModelError
        When no known form reproduces the module's output.
    """
    return norm_affine(hm, hm.adapter.final_norm(), "direct logit attribution")


def norm_affine(hm: HookedModel, norm: Any, what: str) -> NormAffine:
    """Read any of the model's norms (final, attention or MLP input) as an affine map by
    probing it: LayerNorm (centred), RMSNorm, and Gemma's RMSNorm that multiplies by ``1 + w``.

    Raises
    ------
    UnsupportedModelError
        When no known form reproduces the module's output (``what`` names the analysis).
    """
    d = hm.d_model
    eps = float(getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", 1e-6) or 1e-6)
    w = getattr(norm, "weight", None)
    w = torch.ones(d) if w is None else w.detach().float().cpu()
    b = getattr(norm, "bias", None)
    b = torch.zeros(d) if b is None else b.detach().float().cpu()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, d, generator=g) * 3 + 0.5
    with torch.no_grad():
        ref = norm(x.to(hm.device, hm.dtype)).float().cpu()
    for center in (False, True):
        for weight in (w, 1.0 + w):
            cand = NormAffine(center, weight, b, eps)
            got = cand.linear(x, cand.scale(x)) + b
            if torch.allclose(got, ref, atol=1e-3 * max(1.0, float(ref.abs().max())), rtol=1e-3):
                return cand
    raise UnsupportedModelError(
        f"A norm of {hm.adapter.family} ({type(norm).__name__}) is neither LayerNorm nor "
        f"RMSNorm; {what} cannot linearise it."
    )


def unembed_weight(hm: HookedModel) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``W_U`` ``[vocab, d_model]`` and its bias (or None), detached."""
    u = hm.adapter.unembed()
    bias = getattr(u, "bias", None)
    return u.weight.detach(), None if bias is None else bias.detach()


def _single_tokens(hm: HookedModel, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    ids = ids.reshape(-1, 1).to(hm.device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@torch.no_grad()
def effective_embeddings(hm: HookedModel, ids: torch.Tensor) -> torch.Tensor:
    """Effective token embeddings ``[n, d_model]`` (Gould et al.'s MLP0-extended embedding).

    Each token is run alone (a sequence of length one) with every head of block 0 zero-ablated,
    and ``blocks.0.hook_resid_post`` is read: ``E(t) + MLP0(norm(E(t)))`` where ``E(t)`` is the
    embedding as block 0 receives it (with Gemma's scaling; with GPT-2's position-0 embedding)
    and ``norm`` is the norm in front of block 0's MLP. Biases of block 0's attention output
    projection, if any, are included since they do not depend on the heads.
    """
    enc = _single_tokens(hm, ids)
    out: dict[str, torch.Tensor] = {}
    site = resid_post(0)
    ablate = AblateHeads(head_z(0), heads=list(range(hm.n_heads)))
    hm.forward(
        enc["input_ids"],
        enc["attention_mask"],
        [ablate],
        {site: [lambda x: out.setdefault("e", x[:, 0].clone())]},
        use_cache=False,
    )
    return out["e"]


@torch.no_grad()
def ov_outputs(hm: HookedModel, x: torch.Tensor, layers: list[int] | None = None) -> torch.Tensor:
    """Every head's OV output for residual inputs ``x`` ``[n, d_model]``: ``[n, layer, head, d_model]``.

    The input replaces ``blocks.L.hook_resid_pre`` of a length-one sequence, so each head
    attends only to it and its ``hook_z`` is the value vector of ``norm_L(x)`` (with GQA, the
    value of the head's key/value group); ``z_h @ W_O[h]`` is the head's output.
    """
    from workbench.models.interventions import Patch

    layers = list(range(hm.n_layers)) if layers is None else list(layers)
    n = x.shape[0]
    enc = _single_tokens(hm, torch.zeros(n, dtype=torch.long))
    src = x.to(hm.device, hm.dtype).reshape(n, 1, -1)
    ivs: list[Intervention] = [Patch(resid_pre(L), source=src) for L in layers]
    zs: dict[int, torch.Tensor] = {}
    readers = {head_z(L): [_keep(zs, L)] for L in layers}
    hm.forward(enc["input_ids"], enc["attention_mask"], ivs, readers, use_cache=False)
    return torch.stack([head_outputs(hm, zs[L][:, 0], L) for L in layers], 1)


def _keep(store: dict, key: Any):
    def read(t: torch.Tensor) -> None:
        store[key] = t.detach().clone()

    return read


# ----------------------------------------------------------- forward shortcuts
@contextlib.contextmanager
def start_at_block(
    hm: HookedModel, layer: int, resid: torch.Tensor | None, out_type: Any = torch.Tensor
) -> Iterator[None]:
    """Skip blocks ``0..layer-1``: block ``layer`` receives ``resid`` ``[batch, pos, d_model]``.

    Blocks before ``layer`` return ``resid`` without computing anything (their hooks do not
    run). Only for sweeps whose interventions all act at or after ``layer``.
    """
    if layer <= 0:
        yield
        return
    blocks = [hm.adapter.block(i) for i in range(layer)]

    def skip(*args: Any, **kwargs: Any) -> Any:
        return (resid,) if out_type is tuple else resid

    try:
        for b in blocks:
            b.forward = skip
        yield
    finally:
        for b in blocks:
            with contextlib.suppress(AttributeError):
                del b.forward


@contextlib.contextmanager
def last_position_logits(hm: HookedModel, last: torch.Tensor) -> Iterator[None]:
    """Unembed only each row's position ``last[row]``: logits come out ``[batch, 1, vocab]``."""

    def pre(module: Any, args: tuple) -> tuple:
        h = args[0]
        rows = torch.arange(h.shape[0], device=h.device)
        return (h[rows, last.to(h.device)].unsqueeze(1), *args[1:])

    handle = hm.adapter.unembed().register_forward_pre_hook(pre)
    try:
        yield
    finally:
        handle.remove()


def block_output_type(hm: HookedModel, ids: torch.Tensor) -> Any:
    """Whether this family's blocks return a tensor or a tuple (older transformers)."""
    seen: dict[str, Any] = {}

    def look(module: Any, args: Any, output: Any) -> None:  # must return None: keep the output
        seen["t"] = type(output)

    h = hm.adapter.block(0).register_forward_hook(look)
    try:
        with torch.no_grad():
            hm.model(input_ids=ids[:1, :1].to(hm.device), use_cache=False)
    finally:
        h.remove()
    return tuple if seen.get("t") is tuple else torch.Tensor


# ------------------------------------------------------------ block-by-block runs
BlockInputs = tuple[tuple, dict[str, Any]]  # what a block received besides its hidden states


def read_block_inputs(hm: HookedModel, store: dict[int, BlockInputs]) -> list[Any]:
    """Hooks that keep, per block, the arguments the model passes besides the hidden states
    (attention mask, rotary embeddings, positions): enough to call the block again later.
    Returns the hook handles; the caller removes them."""

    def keep(L: int):
        def pre(module: Any, args: tuple, kwargs: dict) -> None:
            rest = {k: v for k, v in kwargs.items() if k != "hidden_states"}
            store[L] = (tuple(args[1:]) if args else (), rest)

        return pre

    return [
        hm.adapter.block(L).register_forward_pre_hook(keep(L), with_kwargs=True)
        for L in range(hm.n_layers)
    ]


def repeat_batch(x: Any, n: int, k: int) -> Any:
    """``x`` with every per-prompt tensor (first dim ``n``, two dims or more) repeated ``k``
    times along the batch, as ``Tensor.repeat`` does: row ``j * n + i`` is prompt ``i``.
    Tensors shared by the batch (first dim 1) broadcast and are left alone."""
    if k == 1:
        return x
    if isinstance(x, torch.Tensor):
        if x.dim() >= 2 and x.shape[0] == n:
            return x.repeat(k, *([1] * (x.dim() - 1)))
        return x
    if isinstance(x, tuple):
        return tuple(repeat_batch(v, n, k) for v in x)
    if isinstance(x, list):
        return [repeat_batch(v, n, k) for v in x]
    if isinstance(x, dict):
        return {key: repeat_batch(v, n, k) for key, v in x.items()}
    return x


def call_block(
    hm: HookedModel, layer: int, h: torch.Tensor, inputs: BlockInputs, n: int
) -> torch.Tensor:
    """Run block ``layer`` on ``h`` ``[k * n, pos, d_model]`` (``k`` copies of ``n`` prompts)
    with the inputs the model gave it for the ``n`` prompts; hooks registered on it run."""
    k = h.shape[0] // n
    args, kwargs = inputs
    out = hm.adapter.block(layer)(h, *repeat_batch(args, n, k), **repeat_batch(kwargs, n, k))
    return out[0] if isinstance(out, tuple) else out


@contextlib.contextmanager
def mlp_at_last_position(hm: HookedModel, layer: int, last: torch.Tensor) -> Iterator[None]:
    """Block ``layer``'s MLP sees only position ``last[row]`` of each row.

    Its output ``[batch, 1, d_model]`` broadcasts over positions when the block adds it to the
    residual stream, so the block's output is exact at ``last`` and meaningless elsewhere:
    only for the final block, when nothing but the last position is read.
    """

    def pre(module: Any, args: tuple) -> tuple:
        x = args[0]
        rows = torch.arange(x.shape[0], device=x.device)
        return (x[rows, last.to(x.device)].unsqueeze(1), *args[1:])

    handle = hm.adapter.mlp(layer).register_forward_pre_hook(pre)
    try:
        yield
    finally:
        handle.remove()


T = TypeVar("T")


class _Stopped(Exception):
    """Raised inside a forward pass by :func:`blockwise_job` once its job was closed."""


def blockwise_job(
    hm: HookedModel, fn: Callable[[], T], label: str, every_s: float = 0.25
) -> Job[T]:
    """Run ``fn()`` (one or more forward passes of ``hm``) so that it can be cancelled.

    A forward pass of a whole batch through every block takes seconds on a CPU and has no
    ``yield`` inside. Here it runs in a helper thread, with a hook at the start of each block
    that reports the block and stops the pass (by raising) once this job is closed; the job
    yields a :class:`Progress` after every block and at least every ``every_s`` seconds, so a
    cancel request reaches the pass within one block.
    """
    n = hm.n_layers
    reports: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    stop = threading.Event()
    out: dict[str, Any] = {}

    def at_block(L: int):
        def pre(module: Any, args: Any) -> None:
            if stop.is_set():
                raise _Stopped
            reports.put(L)

        return pre

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the job's thread, which raises it
            out["error"] = e
        finally:
            reports.put(None)

    handles = [hm.adapter.block(L).register_forward_pre_hook(at_block(L)) for L in range(n)]
    worker = threading.Thread(target=target, name=f"workbench {label}", daemon=True)
    try:
        worker.start()
        done = 0
        while True:
            try:
                L = reports.get(timeout=every_s)
            except queue.Empty:
                yield Progress(done, n, label)  # a long block: still a point to cancel at
                continue
            if L is None:
                break
            done = L + 1
            yield Progress(done, n, f"{label}: block {done}/{n}")
    finally:
        stop.set()
        worker.join()
        for h in handles:
            h.remove()
    if "error" in out:
        raise out["error"]
    return out["value"]
