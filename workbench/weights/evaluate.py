"""θ_base + c·Δ over a range of coefficients, measured with the steering sweep's metrics on a
demonstration set (accuracy of the answer's first token and its log-probability, on the
training and the held-out split), so "+Δ helps, −Δ hurts" shows in one table.

The model is loaded once; for each coefficient the delta's tensors are set to θ₀ + c·Δ from a
copy of θ₀ kept for the tensors the delta touches (no drift from adding steps one on another),
Δ read from its file one tensor at a time (memory: the model and that copy).

Held-out means held out from the fine-tune: a delta made by ``workbench weights diff`` of a
``workbench train finetune`` folder carries that fine-tune's split (seed, fraction, held-out
inputs) in its provenance; the sweep uses it by default and refuses a different one on the
same task (it would score training examples as held-out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
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
    split: dict[str, Any] | None = None  # seed, test_fraction and where they came from

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
    test_fraction: float | None = None,
    seed: int | None = None,
) -> Job[CoefficientSweep]:
    """Metrics of ``hm`` + c·Δ for each coefficient; ``hm`` is given back unchanged.

    ``test_fraction`` and ``seed`` default to the fine-tune's split recorded in the delta
    (else 0.3 and 0); a different one on the fine-tune's task is refused.
    """
    coefficients = [float(c) for c in coefficients]
    if not coefficients or not all(math.isfinite(c) for c in coefficients):
        raise WeightsError(f"coefficients {coefficients}: give one or more finite numbers.")
    flt = tensor_filter or TensorFilter()
    cd, meta = _delta_checkpoint(delta)
    cfg = hm.model.config.to_dict()
    _same_type(meta, cfg, "the loaded model", delta)
    params = dict(hm.model.state_dict(keep_vars=True))
    _check_delta_fits({n: tuple(p.shape) for n, p in params.items()}, cd, "The loaded model")
    names: list[str] = []
    first: dict[int, str] = {}
    tied: list[tuple[str, str]] = []
    for n in cd.tensors:  # a tied tensor once
        if flt.keeps(n) and cd.tensors[n].dtype in _FLOAT_CODES:
            key = params[n].data_ptr()
            if key in first:
                tied.append((first[key], n))
            else:
                names.append(n)
                first[key] = n
    if not names:
        raise WeightsError(f"The filter {flt.to_dict()} keeps none of the delta's tensors.")
    if tied:  # both names of one tied tensor: refused when they differ, as apply_deltas does
        with cd.reader() as rd:
            for n1, n2 in tied:
                if not torch.equal(rd.get(n1), rd.get(n2)):
                    raise WeightsError(
                        f"{Path(delta).name} changes {n1} and {n2} differently, but this model "
                        "ties them (one tensor); use a delta of a model with the same tying."
                    )
    train, test, split = _split(task, meta, test_fraction, seed)
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
        split,
    )  # fmt: skip


def recorded_split(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The fine-tune split a delta's provenance carries (its ``a`` side first), or None."""
    for side in ("a", "b"):
        ft = (meta.get(side) or {}).get("finetune") or {}
        if isinstance(ft.get("split"), dict):
            return dict(ft["split"])
    return None


def _split(
    task: ICLTask, meta: dict[str, Any], test_fraction: float | None, seed: int | None
) -> tuple[ICLTask, ICLTask, dict[str, Any]]:
    """(train, held-out, what was used): the fine-tune's recorded split by default."""
    rec = recorded_split(meta)
    if rec is None or rec.get("task") != task.name:
        fraction = 0.3 if test_fraction is None else test_fraction
        s = 0 if seed is None else seed
        train, test = task.split(fraction, s)
        given = test_fraction is not None or seed is not None
        source = "given" if given else "default (the delta records no fine-tune split)"
        if rec is not None:
            source += f"; the delta's fine-tune was on another task ({rec.get('task')!r})"
        return train, test, {"seed": s, "test_fraction": fraction, "source": source}
    fraction, s = float(rec["test_fraction"]), int(rec["seed"])
    if (test_fraction is not None and test_fraction != fraction) or (
        seed is not None and seed != s
    ):
        raise WeightsError(
            f"This delta comes from a fine-tune on {task.name!r} with --seed {s} --test-fraction "
            f"{fraction:g}; a sweep with --seed {seed if seed is not None else s} --test-fraction "
            f"{test_fraction if test_fraction is not None else fraction:g} would score training "
            "examples as held-out. Leave --seed and --test-fraction out (the fine-tune's split is "
            "used) or give the same values."
        )
    held = set(rec.get("held_out") or [])
    if held:
        test_pairs = [p for p in task.pairs if p[0] in held]
        train_pairs = [p for p in task.pairs if p[0] not in held]
        if {p[0] for p in test_pairs} != held or not train_pairs:
            raise WeightsError(
                f"The task {task.name!r} is not the one the fine-tune held out from (its held-out "
                f"inputs {sorted(held)[:3]}... are not all in it); sweep on the same task file."
            )
        tmpl, sep = task.template, task.separator
        train = ICLTask(f"{task.name}:train", train_pairs, tmpl, sep)
        test = ICLTask(f"{task.name}:test", test_pairs, tmpl, sep)
    else:
        train, test = task.split(fraction, s)
    return train, test, {"seed": s, "test_fraction": fraction,
                         "source": "the fine-tune's split, recorded in the delta"}  # fmt: skip
