"""One small training loop, reused by every learned intervention (LoFiT head offsets, trained
steering vectors) and by the fine-tune that makes a weight-space task vector.

The loop knows nothing of models: it takes the tensors to train, a loss of a batch of example
indices, and a :class:`TrainingSpec`. Each step is a :class:`~workbench.jobs.Progress` whose
``payload`` is ``{"step", "loss"}`` (the window draws the live loss curve from it) and a point
where the job can be cancelled. Runs are deterministic: the example order comes from
``random.Random(seed)``, torch's generator is seeded, and nothing random happens after that.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from workbench.errors import WorkbenchError
from workbench.jobs import Job, Progress


class TrainingError(WorkbenchError):
    """Settings a run cannot use, or a loss that went to NaN."""


@dataclass(frozen=True)
class TrainingSpec:
    """How to train: steps, learning rate, examples per step, seed (stored with the result)."""

    steps: int = 40
    lr: float = 1e-2
    batch_size: int = 8
    seed: int = 0
    weight_decay: float = 0.0

    def check(self) -> None:
        if self.steps < 1:
            raise TrainingError(f"steps {self.steps}: train at least one step.")
        if self.batch_size < 1:
            raise TrainingError(f"batch size {self.batch_size}: use at least 1.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise TrainingError(f"learning rate {self.lr}: give a positive number (e.g. 0.01).")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise TrainingError(f"weight decay {self.weight_decay}: give 0 or a positive number.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LossCurve:
    """The loss at every step (the mean over that step's batch) and the steps' batches."""

    losses: tuple[float, ...]
    spec: TrainingSpec
    extra: dict[str, tuple[float, ...]] = field(default_factory=dict)  # e.g. a KL term

    def to_dict(self) -> dict[str, Any]:
        return {
            "losses": list(self.losses),
            "spec": self.spec.to_dict(),
            **{k: list(v) for k, v in self.extra.items()},
        }

    def run_tensors(self) -> dict[str, torch.Tensor]:
        """What a stored training run keeps as tensors: the loss at every step."""
        return {"loss": torch.tensor(self.losses, dtype=torch.float32)}


def batches(n_examples: int, spec: TrainingSpec) -> list[list[int]]:
    """The example indices of every step: shuffled epochs from ``random.Random(seed)``."""
    if n_examples < 1:
        raise TrainingError("There are no training examples.")
    rng = random.Random(spec.seed)
    order: list[int] = []
    out = []
    for _ in range(spec.steps):
        if len(order) < spec.batch_size:
            epoch = list(range(n_examples))
            rng.shuffle(epoch)
            order += epoch
            while len(order) < spec.batch_size:  # a batch larger than the set repeats it
                more = list(range(n_examples))
                rng.shuffle(more)
                order += more
        out.append(order[: spec.batch_size])
        order = order[spec.batch_size :]
    return out


def train_job(
    params: Sequence[torch.Tensor],
    loss_fn: Callable[[list[int]], torch.Tensor | tuple[torch.Tensor, dict[str, float]]],
    n_examples: int,
    spec: TrainingSpec,
    what: str = "training",
) -> Job[LossCurve]:
    """Adam on ``params`` for ``spec.steps`` steps of ``loss_fn(batch indices)``.

    ``loss_fn`` may return ``(loss, {"name": value})``; those values are kept per step in
    :attr:`LossCurve.extra`. A non-finite loss stops the run with :class:`TrainingError`.
    """
    spec.check()
    params = list(params)
    if not params or not all(p.requires_grad for p in params):
        raise TrainingError("internal: nothing to train (every parameter must require grad)")
    torch.manual_seed(spec.seed)
    opt = torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    losses: list[float] = []
    extra: dict[str, list[float]] = {}
    plan = batches(n_examples, spec)
    yield Progress(0, spec.steps, what, payload={"step": 0, "loss": None})
    for step, idx in enumerate(plan, 1):
        opt.zero_grad(set_to_none=True)
        with torch.enable_grad():
            got = loss_fn(idx)
            loss, parts = got if isinstance(got, tuple) else (got, {})
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"The loss became {value} at step {step}; lower the learning rate "
                    f"(now {spec.lr:g})."
                )
            loss.backward()
        opt.step()
        losses.append(value)
        for k, v in parts.items():
            extra.setdefault(k, []).append(float(v))
        yield Progress(
            step,
            spec.steps,
            f"step {step}/{spec.steps}: loss {value:.4f}",
            payload={"step": step, "loss": value, **parts},
        )
    return LossCurve(tuple(losses), spec, {k: tuple(v) for k, v in extra.items()})
