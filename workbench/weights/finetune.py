"""Fine-tune a model's own weights with the same loop (the way to make a weight-space task
vector when no pair of fine-tunes is at hand): train on a demonstration set's zero-shot
queries, optionally only some tensor kinds, and save the result as a model folder whose tensors
carry the same names as the original's, so ``workbench weights diff`` can subtract them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from workbench.heads.function_vector import ICLTask
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.training.data import Examples, answer_loss, answer_metrics
from workbench.training.loop import LossCurve, TrainingSpec, train_job
from workbench.weights.checkpoint import TensorFilter, WeightsError


@dataclass(frozen=True)
class FinetuneResult:
    """A fine-tune: held-out metrics before and after, the loss curve, where it was saved."""

    metrics: dict[str, dict[str, float]]
    curve: LossCurve
    trained_tensors: tuple[str, ...]
    train: int
    held_out: int
    out: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "held_out_metrics": self.metrics,
            "trained_tensors": len(self.trained_tensors),
            "training_examples": self.train,
            "held_out_examples": self.held_out,
            "loss_curve": self.curve.to_dict(),
            "out": self.out,
            "settings": self.settings,
        }


def finetune_job(
    hm: HookedModel,
    task: ICLTask,
    *,
    spec: TrainingSpec | None = None,
    tensor_filter: TensorFilter | None = None,
    test_fraction: float = 0.3,
    out: str | os.PathLike | None = None,
) -> Job[FinetuneResult]:
    """Train ``hm``'s weights in place on ``task``'s training split (Adam, the shared loop);
    measure the held-out split before and after; with ``out``, save the model folder."""
    spec = spec or TrainingSpec(steps=20, lr=1e-4, batch_size=8)
    spec.check()
    flt = tensor_filter or TensorFilter()
    if out is not None and Path(out).exists():
        raise WeightsError(f"{out} exists; choose a new folder (nothing is replaced).")
    train, test = task.split(test_fraction, spec.seed)
    ex, test_ex = Examples.zero_shot(train), Examples.zero_shot(test)
    named = [(n, p) for n, p in hm.model.named_parameters() if flt.keeps(n)]
    if not named:
        raise WeightsError(f"The filter {flt.to_dict()} keeps none of the model's tensors.")
    yield Progress(0, None, "held-out metrics before")
    before = answer_metrics(hm, test_ex.prompts, test_ex.answers)
    flags = [(p, p.requires_grad) for p in hm.model.parameters()]
    keep = {id(p) for _, p in named}
    for p, _ in flags:
        p.requires_grad_(id(p) in keep)

    def loss_fn(idx: list[int]) -> torch.Tensor:
        return answer_loss(hm, [ex.prompts[i] for i in idx], [ex.answers[i] for i in idx])

    try:
        curve = yield from train_job([p for _, p in named], loss_fn, len(ex), spec, "fine-tuning")
    finally:
        for p, f in flags:
            p.requires_grad_(f)
    hm.model.eval()
    after = answer_metrics(hm, test_ex.prompts, test_ex.answers)
    # the split travels with the model folder into a delta's provenance, so that a coefficient
    # sweep holds out the same examples (workbench.weights.evaluate)
    split = {"task": task.name, "seed": spec.seed, "test_fraction": test_fraction,
             "held_out": [x for x, _ in test.pairs]}  # fmt: skip
    settings = {"task": task.name, "template": task.template, "test_fraction": test_fraction,
                "training": spec.to_dict(), "filter": flt.to_dict(), "split": split}  # fmt: skip
    if out is not None:
        yield Progress(0, None, "saving the fine-tuned model")
        save_model_folder(hm, out, {"finetune": settings, "source": hm.ref.to_dict()})
    return FinetuneResult(
        {"before": before, "after": after},
        curve,
        tuple(n for n, _ in named),
        len(train.pairs),
        len(test.pairs),
        str(out or ""),
        settings,
    )


def save_model_folder(hm: HookedModel, out: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``hm`` as a Hugging Face folder (config, one safetensors file, tokenizer): tensors
    under the names the loader's cache uses (a tied output layer once, as the embedding)."""
    import copy
    import json

    from safetensors.torch import save_file

    from workbench.models.loading import _untied_state_dict

    folder = Path(out)
    folder.mkdir(parents=True)
    cfg = copy.deepcopy(hm.model.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    cfg.save_pretrained(folder)
    state = {k: v.detach().cpu() for k, v in _untied_state_dict(hm.model).items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    hm.tokenizer.save_pretrained(folder)
    (folder / "workbench-finetune.json").write_text(json.dumps(record, indent=2, default=str))
    return folder
