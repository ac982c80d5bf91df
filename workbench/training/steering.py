"""A steering vector trained with a loss: one vector ``v`` at a site, optimised so that adding it
raises the log-probability of target continuations over a prompt set, with a KL penalty that
keeps the steered model's next-token distributions on neutral prompts close to the unsteered
model's:

``loss = CE(answers | prompts, +v) + β · KL(p_unsteered ‖ p_steered)`` (neutral prompts, every
real position).

The same loop, evaluation and storage as :mod:`workbench.training.offsets`: the examples are a
demonstration set's zero-shot queries (or any prompt/answer pairs), split into training and
held-out examples; the result is a concept at the site, method ``trained_vector``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.concepts.concept import RECIPE_VERSION, Concept
from workbench.errors import PromptSetError, WorkbenchError
from workbench.heads.function_vector import ICLTask
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.interventions import AddVector
from workbench.models.sites import RESID_KINDS, Site
from workbench.training.data import Examples, answer_loss, answer_metrics
from workbench.training.loop import LossCurve, TrainingSpec, train_job
from workbench.training.offsets import frozen


def neutral_prompts() -> list[str]:
    """The built-in ``open_prompts`` set: everyday openings the KL penalty keeps unchanged."""
    from workbench.concepts.prompt_sets import builtin_set

    return list(builtin_set("open_prompts").texts)


def _kl_to_base(
    hm: HookedModel, ids: torch.Tensor, mask: torch.Tensor, base_logp: torch.Tensor, ivs: list
) -> torch.Tensor:
    """Mean over real positions of KL(base ‖ steered) (nats)."""
    logp = torch.log_softmax(hm.forward(ids, mask, ivs, use_cache=False).logits.float(), -1)
    kl = (base_logp.exp() * (base_logp - logp)).sum(-1)  # [batch, pos]
    m = mask.to(kl.dtype)
    return (kl * m).sum() / m.sum()


@torch.no_grad()
def next_token_kl(hm: HookedModel, prompts: Sequence[str], ivs: list) -> float:
    """The sweep's ``kl``: KL(unsteered ‖ steered) of the next token after each prompt, mean."""
    enc = hm.encode(list(prompts))
    last = enc["attention_mask"].sum(-1) - 1
    rows = torch.arange(len(prompts))
    base = torch.log_softmax(
        hm.forward(enc["input_ids"], enc["attention_mask"]).logits[rows, last].float(), -1
    )
    steer = torch.log_softmax(
        hm.forward(enc["input_ids"], enc["attention_mask"], ivs).logits[rows, last].float(), -1
    )
    return float((base.exp() * (base - steer)).sum(-1).mean())


@dataclass(frozen=True)
class TrainedVectorResult:
    """A trained steering vector: the concept, the loss curve and held-out metrics
    (``unsteered`` and ``trained_vector``: accuracy, target log-prob, KL on neutral prompts)."""

    concept: Concept
    site: str
    metrics: dict[str, dict[str, float]]
    curve: LossCurve
    train: int
    held_out: int
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "concept": self.concept.name,
            "kind": "trained vector",
            "site": self.site,
            "norm": float(self.concept.vectors[self.site].norm()),
            "held_out_metrics": self.metrics,
            "training_examples": self.train,
            "held_out_examples": self.held_out,
            "loss_curve": self.curve.to_dict(),
            "settings": self.settings,
        }


def train_steering_vector_job(
    hm: HookedModel,
    task: ICLTask | Examples,
    *,
    layer: int | None = None,
    site_kind: str = "resid_post",
    positions: str = "all",
    kl_weight: float = 1.0,
    neutral: Sequence[str] | None = None,
    spec: TrainingSpec | None = None,
    test_fraction: float = 0.3,
    name: str = "",
) -> Job[TrainedVectorResult]:
    """Train one vector at ``blocks.{layer}.hook_{site_kind}`` (see the module docstring).

    ``task``: a demonstration task (its zero-shot queries and answers) or prompt/answer
    :class:`Examples`; ``neutral``: prompts for the KL penalty (default: the built-in
    ``open_prompts``), split like the examples so the held-out KL is on unseen prompts.
    """
    spec = spec or TrainingSpec(steps=40, lr=5e-2, batch_size=8)
    spec.check()
    layer = hm.n_layers // 3 if layer is None else int(layer)
    if not 0 <= layer < hm.n_layers:
        raise WorkbenchError(f"layer {layer}: {hm.ref.name} has layers 0-{hm.n_layers - 1}.")
    if site_kind not in RESID_KINDS:
        raise WorkbenchError(f"site kind {site_kind!r}: choose {', '.join(RESID_KINDS)}.")
    if not kl_weight >= 0:
        raise WorkbenchError(f"KL weight {kl_weight}: give 0 or a positive number.")
    site = Site(layer, site_kind).name
    hm.check_site(site)
    if isinstance(task, ICLTask):
        train_t, test_t = task.split(test_fraction, spec.seed)
        ex, test_ex, task_name = Examples.zero_shot(train_t), Examples.zero_shot(test_t), task.name
    else:
        n_test = max(1, round(len(task) * test_fraction))
        if n_test >= len(task):
            raise PromptSetError("Too few examples to hold some out; give at least two.")
        import random

        order = list(range(len(task)))
        random.Random(spec.seed).shuffle(order)

        def pick(ii: list[int]) -> Examples:
            return Examples(tuple(task.prompts[i] for i in ii), tuple(task.answers[i] for i in ii))

        ex, test_ex, task_name = (
            pick(sorted(order[n_test:])),
            pick(sorted(order[:n_test])),
            "examples",
        )
    neutral = list(neutral if neutral is not None else neutral_prompts())
    if len(neutral) < 2:
        raise PromptSetError("The KL penalty needs at least two neutral prompts.")
    n_hold = max(1, round(len(neutral) * test_fraction))
    neutral_train, neutral_test = neutral[n_hold:], neutral[:n_hold]
    enc = hm.encode(neutral_train)
    with torch.no_grad():
        base_logp = torch.log_softmax(
            hm.forward(enc["input_ids"], enc["attention_mask"], use_cache=False).logits.float(), -1
        )
    v = torch.zeros(hm.d_model, device=hm.device, requires_grad=True)

    def loss_fn(idx: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        ivs = [AddVector(site, positions=positions, vector=v)]
        ce = answer_loss(hm, [ex.prompts[i] for i in idx], [ex.answers[i] for i in idx], ivs)
        if kl_weight == 0:
            return ce, {"ce": float(ce.detach())}
        kl = _kl_to_base(hm, enc["input_ids"], enc["attention_mask"], base_logp, ivs)
        return ce + kl_weight * kl, {"ce": float(ce.detach()), "kl": float(kl.detach())}

    with frozen(hm.model):
        curve = yield from train_job([v], loss_fn, len(ex), spec, "training a steering vector")
    learned = v.detach().float().cpu()
    yield Progress(0, 2, "held-out metrics")
    ivs = [AddVector(site, positions=positions, vector=learned)]
    metrics = {
        "unsteered": {**answer_metrics(hm, test_ex.prompts, test_ex.answers), "kl": 0.0},
        "trained_vector": {
            **answer_metrics(hm, test_ex.prompts, test_ex.answers, ivs),
            "kl": next_token_kl(hm, neutral_test, ivs),
        },
    }
    yield Progress(2, 2, "done")
    settings = {"task": task_name, "site": site, "positions": positions, "kl_weight": kl_weight,
                "test_fraction": test_fraction, "training": spec.to_dict(),
                "neutral_prompts": len(neutral)}  # fmt: skip
    recipe = {
        "method": "trained_vector",
        "kind": "trained vector",
        "version": RECIPE_VERSION,
        "site": site,
        "position": positions,
        "coefficient": 1.0,
        "loss_curve": list(curve.losses),
        "kl_curve": list(curve.extra.get("kl", ())),
        "held_out": {"prompts": list(test_ex.prompts), **metrics},
        "prompts": {"name": task_name, "texts": list(ex.prompts), "answers": list(ex.answers)},
        **settings,
    }
    desc = (
        f"Steering vector trained on {task_name} at {site} (KL weight {kl_weight:g}, "
        f"{spec.steps} steps)."
    )
    concept = Concept(
        name or f"trained:{task_name}", {site: learned}, hm.ref, recipe, description=desc
    )
    return TrainedVectorResult(concept, site, metrics, curve, len(ex), len(test_ex), settings)
