"""Noise-prediction-level composition (composable diffusion): ``ε = ε_u + g·Σ wᵢ(ε(cᵢ) − ε_u)``.

It runs inside the pipeline's own loop (its scheduler, SDXL's micro-conditioning, SD3's
timestep handling, offload hooks): while :class:`ComposedGuidance` is active, every
classifier-free-guidance call of the denoiser, a batch ``[uncond (B), cond (B)]``, is widened to
``[uncond, c₁, …, c_N]`` (one forward pass, ``(N+1)·B`` rows) by a forward pre-hook, and a forward
hook folds the result back into ``[ε_u, ε̃]`` with ``ε̃ = Σ wᵢ·εᵢ + (1 − Σ wᵢ)·ε_u``. The pipeline's
``ε_u + g·(ε̃ − ε_u)`` is then exactly the composition above. With one term of weight 1, ε̃ is
bit-for-bit ``ε₁`` (``1·x = x``, ``0·y = 0``), so the result equals the plain pipeline's.
Weights are per image (``[B, N]``), so a coefficient sweep shares one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    import torch

    from workbench.diffusion.embeddings import Conditioning

# denoiser keyword -> which part of a concept's conditioning replaces the cond half
_SEQ_KEYS = {"encoder_hidden_states"}
_POOLED_KEYS = {"pooled_projections", "text_embeds"}


class ComposedGuidance:
    """Context manager that composes the denoiser's predictions over N conditionings."""

    def __init__(self, denoiser: Any, conds: Sequence[Conditioning], weights: torch.Tensor):
        if weights.ndim != 2 or weights.shape[1] != len(conds):
            raise WorkbenchError(
                f"weights must be [images, terms] = [*, {len(conds)}], got {tuple(weights.shape)}"
            )
        self.denoiser = denoiser
        self.conds = list(conds)
        self.weights = weights  # [B, N]
        self.batch = int(weights.shape[0])
        self.calls = 0
        self._handles: list[Any] = []

    # ------------------------------------------------------------------ batch widening
    def _widen(self, x: Any, key: str) -> Any:
        import torch

        if isinstance(x, dict):
            return {k: self._widen(v, k) for k, v in x.items()}
        b = self.batch
        if not torch.is_tensor(x) or x.ndim == 0 or x.shape[0] != 2 * b:
            return x
        uncond, cond = x[:b], x[b:]
        if key in _SEQ_KEYS:
            parts = [c.hidden.to(x).expand(b, -1, -1) for c in self.conds]
        elif key in _POOLED_KEYS:
            parts = [c.pooled.to(x).expand(b, -1) for c in self.conds]  # type: ignore[union-attr]
        else:
            parts = [cond] * len(self.conds)
        return torch.cat([uncond, *parts])

    def _pre_hook(self, module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        sample = args[0] if args else kwargs.get("sample", kwargs.get("hidden_states"))
        if sample is None or sample.shape[0] != 2 * self.batch:
            raise WorkbenchError(
                "noise-level composition expected a classifier-free-guidance batch of "
                f"{2 * self.batch}, got {None if sample is None else sample.shape[0]}; use "
                "guidance > 1."
            )
        self.calls += 1
        new_args = tuple(self._widen(a, "sample" if i == 0 else "") for i, a in enumerate(args))
        new_kwargs = {k: self._widen(v, k) for k, v in kwargs.items()}
        return new_args, new_kwargs

    def _post_hook(self, module: Any, args: tuple, output: Any) -> Any:
        import torch

        pred = output[0] if isinstance(output, tuple) else output.sample
        b, n = self.batch, len(self.conds)
        uncond = pred[:b]
        w = self.weights.to(device=pred.device, dtype=pred.dtype)
        shape = (b,) + (1,) * (pred.ndim - 1)
        acc = pred[b : 2 * b] * w[:, 0].view(shape)
        for i in range(1, n):
            acc = acc + pred[(i + 1) * b : (i + 2) * b] * w[:, i].view(shape)
        acc = acc + uncond * (1 - w.sum(dim=1)).view(shape)
        folded = torch.cat([uncond, acc])
        if isinstance(output, tuple):
            return (folded, *output[1:])
        output.sample = folded
        return output

    def __enter__(self) -> ComposedGuidance:
        self._handles = [
            self.denoiser.register_forward_pre_hook(self._pre_hook, with_kwargs=True),
            self.denoiser.register_forward_hook(self._post_hook),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
