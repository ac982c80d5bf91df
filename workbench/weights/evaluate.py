"""θ_base + c·Δ over a range of coefficients, measured with the steering sweep's metrics on a
demonstration set (accuracy of the answer's first token and its log-probability, on the
training and the held-out split), so "+Δ helps, −Δ hurts" shows in one table.

The model is loaded once; for each coefficient the delta's tensors are set to θ₀ + c·Δ from a
copy of θ₀ kept for the tensors the delta touches (no drift from adding steps one on another),
Δ read from its file one tensor at a time (memory: the model and that copy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from workbench.heads.function_vector import ICLTask
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.training.data import Examples, answer_metrics
from workbench.weights.checkpoint import TensorFilter, WeightsError
from workbench.weights.delta import (
    _FLOAT_CODES,
    _check_delta_fits,
    _delta_checkpoint,
    _same_type,
)


@dataclass(frozen=True)
class CoefficientSweep:
    """``metrics[split][metric][i]`` at ``coefficients[i]`` (split: train, held_out)."""

    delta: dict[str, Any]
    coefficients: tuple[float, ...]
    metrics: dict[str, dict[str, list[float]]]
    task: str
    filter: dict[str, Any]
    n_train: int
    n_held_out: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """A plain-text table, one row per coefficient."""
        lines = [
            f"{'c':>6}  {'held-out acc':>12}  {'held-out logp':>13}  {'train acc':>9}  "
            f"{'train logp':>10}"
        ]
        h, t = self.metrics["held_out"], self.metrics["train"]
        for i, c in enumerate(self.coefficients):
            lines.append(
                f"{c:>6g}  {h['accuracy'][i]:>12.3f}  {h['target_logprob'][i]:>13.3f}  "
                f"{t['accuracy'][i]:>9.3f}  {t['target_logprob'][i]:>10.3f}"
            )
        return "\n".join(lines)


def coefficient_sweep_job(
    hm: HookedModel,
    delta: str,
    coefficients: Sequence[float],
    task: ICLTask,
    *,
    tensor_filter: TensorFilter | None = None,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> Job[CoefficientSweep]:
    """Metrics of ``hm`` + c·Δ for each coefficient; ``hm`` is given back unchanged."""
    coefficients = [float(c) for c in coefficients]
    if not coefficients or not all(math.isfinite(c) for c in coefficients):
        raise WeightsError(f"coefficients {coefficients}: give one or more finite numbers.")
    flt = tensor_filter or TensorFilter()
    cd, meta = _delta_checkpoint(delta)
    cfg = hm.model.config.to_dict()
    _same_type(meta, cfg, "the loaded model", delta)
    params = dict(hm.model.state_dict(keep_vars=True))
    _check_delta_fits({n: tuple(p.shape) for n, p in params.items()}, cd, "The loaded model")
    names, ptrs = [], set()
    for n in cd.tensors:  # a tied tensor once
        if (
            flt.keeps(n)
            and cd.tensors[n].dtype in _FLOAT_CODES
            and params[n].data_ptr() not in ptrs
        ):
            names.append(n)
            ptrs.add(params[n].data_ptr())
    if not names:
        raise WeightsError(f"The filter {flt.to_dict()} keeps none of the delta's tensors.")
    train, test = task.split(test_fraction, seed)
    splits = {"train": Examples.zero_shot(train), "held_out": Examples.zero_shot(test)}
    original = {n: params[n].detach().clone() for n in names}
    metrics: dict[str, dict[str, list[float]]] = {
        s: {"accuracy": [], "target_logprob": []} for s in splits
    }
    try:
        for i, c in enumerate(coefficients):
            yield Progress(i, len(coefficients), f"c = {c:g}")
            with torch.no_grad(), cd.reader() as rd:  # Δ read again, one tensor at a time
                for n in names:
                    p = params[n]
                    d = rd.get(n).to(p.device, torch.float32)
                    p.data.copy_((original[n].float() + c * d).to(p.dtype))
            for s, ex in splits.items():
                m = answer_metrics(hm, ex.prompts, ex.answers)
                for k in ("accuracy", "target_logprob"):
                    metrics[s][k].append(m[k])
    finally:
        with torch.no_grad():
            for n in names:
                params[n].data.copy_(original[n])
    yield Progress(len(coefficients), len(coefficients), "done")
    return CoefficientSweep(
        {"path": str(delta), "sha256": next(iter(cd.hashes.values())), "a": meta.get("a"),
         "b": meta.get("b")},
        tuple(coefficients),
        metrics,
        task.name,
        flt.to_dict(),
        len(train.pairs),
        len(test.pairs),
    )  # fmt: skip
