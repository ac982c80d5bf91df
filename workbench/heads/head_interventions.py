"""Head interventions: act on chosen heads during generation, or measure a metric over a task
as the intervention's value changes.

Actions (:data:`workbench.heads.actions.ACTIONS`): zero or mean ablation of the heads' outputs
z, scaling z by a factor, adding an offset to z (along each head's mean output, or a seeded
random direction), and ZeroTuning (scaling the heads' attention to the first token).

* :func:`head_intervention_generate_job`: baseline and intervened continuations of one prompt
  from one batch (the window's "Act on selected heads" and ``workbench heads intervene``).
* :func:`head_intervention_curve_job`: accuracy and answer log-prob over a demonstration task
  for each value (e.g. accuracy against the ZeroTuning factor, as the paper plots it); every
  value and prompt is a row of one batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.errors import WorkbenchError
from workbench.heads.actions import ACTIONS, VALUE_NAMES, intervention_label, intervention_sites
from workbench.heads.data import TaskPrompts
from workbench.heads.headset import (
    ablation_interventions,
    offset_interventions,
    zero_tuning_interventions,
)
from workbench.jobs import Job, Progress
from workbench.models.generation import Comparison, SamplingSettings, steered_generate_job
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention, ScaleHeads
from workbench.models.sites import head_z

Head = tuple[int, int]


@dataclass(frozen=True)
class HeadInterventionSpec:
    """What to do to which heads: ``action`` (a key of ACTIONS), ``heads`` as ``(layer,
    head)``, ``value`` (the factor or coefficient of actions that take one) and the ``seed`` of
    random offsets."""

    action: str
    heads: tuple[Head, ...]
    value: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "heads", tuple((int(L), int(h)) for L, h in self.heads))

    @property
    def takes_value(self) -> bool:
        return self.action in VALUE_NAMES

    def check(self, hm: HookedModel) -> None:
        """Refuse what cannot run on ``hm``, naming the valid choices."""
        if self.action not in ACTIONS:
            raise WorkbenchError(
                f"unknown head intervention {self.action!r}: use one of {', '.join(ACTIONS)}."
            )
        if not self.heads:
            raise WorkbenchError("choose at least one head, e.g. L18H6.")
        bad = [
            f"L{L}H{h}" for L, h in self.heads if not (0 <= L < hm.n_layers and 0 <= h < hm.n_heads)
        ]
        if bad:
            raise WorkbenchError(
                f"{', '.join(bad)} not in {hm.ref.name}: it has layers 0-{hm.n_layers - 1} and "
                f"heads 0-{hm.n_heads - 1}."
            )
        if self.takes_value and (self.value is None or not math.isfinite(self.value)):
            raise WorkbenchError(
                f"{ACTIONS[self.action][0]} needs a finite {VALUE_NAMES[self.action]}; "
                f"got {self.value}."
            )

    @property
    def label(self) -> str:
        return intervention_label(self.action, list(self.heads))

    @property
    def sites(self) -> list[str]:
        return intervention_sites(self.action, list(self.heads))

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "heads": [list(h) for h in self.heads],
            "value": self.value if self.takes_value else None,
            "seed": self.seed,
        }


def _mean_z(hm: HookedModel, prompts: Sequence[str]) -> dict[int, torch.Tensor]:
    """``layer -> [head, d_head]`` mean z over every token of ``prompts``."""
    from workbench.heads.ablation import reference_pass

    enc = hm.encode(list(prompts))
    last = enc["attention_mask"].sum(-1) - 1
    return reference_pass(hm, enc["input_ids"], enc["attention_mask"], last, z="mean").z


def head_interventions(
    hm: HookedModel,
    spec: HeadInterventionSpec,
    mean_prompts: Sequence[str] = (),
    value: float | None = None,
) -> list[Intervention]:
    """The interventions of ``spec`` (with ``value`` instead of ``spec.value`` when given).

    ``mean_prompts``: the text whose tokens give the heads' mean outputs (mean ablation, mean
    offsets).
    """
    spec.check(hm)
    heads = list(spec.heads)
    chosen = spec.value if value is None else value
    v = float(chosen) if spec.takes_value and chosen is not None else 0.0
    a = spec.action
    if a in ("ablate_mean", "offset_mean") and not mean_prompts:
        raise WorkbenchError(f"{ACTIONS[a][0]} needs prompts whose tokens give the heads' means.")
    if a == "ablate_zero":
        return ablation_interventions(heads, "zero")
    if a == "ablate_mean":
        return ablation_interventions(heads, "mean", means=_mean_z(hm, mean_prompts))
    if a == "scale":
        by_layer: dict[int, list[int]] = {}
        for L, h in heads:
            by_layer.setdefault(L, []).append(h)
        return [ScaleHeads(head_z(L), heads=hs, factor=v) for L, hs in by_layer.items()]
    if a == "zero_tuning":
        return zero_tuning_interventions(heads, v)
    if a == "offset_mean":
        means = _mean_z(hm, mean_prompts)
        offs = {
            (L, h): means[L][h].float() / means[L][h].float().norm().clamp_min(1e-12)
            for L, h in heads
        }
        return offset_interventions(heads, offs, coefficient=v)
    # offset_random
    g = torch.Generator().manual_seed(spec.seed)
    offs = {}
    for L, h in heads:
        r = torch.randn(hm.d_head, generator=g)
        offs[(L, h)] = r / r.norm()
    return offset_interventions(heads, offs, coefficient=v)


def head_intervention_generate_job(
    hm: HookedModel, prompt: str, spec: HeadInterventionSpec, settings: SamplingSettings
) -> Job[Comparison]:
    """Baseline vs intervened continuations of ``prompt`` (streamed: payloads are
    ``[baseline_piece, intervened_piece]``); means come from the prompt's own tokens."""
    spec.check(hm)
    yield Progress(0, None, "preparing the interventions")
    ivs = head_interventions(hm, spec, [prompt])
    result = yield from steered_generate_job(hm, prompt, ivs, settings)
    return result


def head_intervention_provenance(
    model_ref: Any, spec: HeadInterventionSpec, settings: SamplingSettings, **extra: Any
) -> dict[str, Any]:
    """The provenance stored with a generation made with ``spec`` (the window and the CLI
    store the same record; ``concept``, ``sites`` and ``coefficient`` are what the
    Generations dock shows of every generation)."""
    from workbench import __version__
    from workbench.concepts.provenance import TextGenerationProvenance

    return TextGenerationProvenance(
        model=model_ref.to_dict(),
        sites=tuple(spec.sites),
        sampling=settings.to_dict(),
        seed=settings.seed,
        app_version=__version__,
        coefficient=spec.value if spec.takes_value else None,
        concept={"name": spec.label, "kind": "head_action"},
        extra={
            "heads": [list(h) for h in spec.heads],
            "action": spec.action,
            "action_title": ACTIONS[spec.action][0],
            "value": spec.value if spec.takes_value else None,
            **extra,
        },
    ).to_dict()


# --------------------------------------------------------------- metric curves
@dataclass
class HeadInterventionCurve:
    """Accuracy (top next token is the answer's first token) and mean log-prob of the answer's
    first token, unintervened and for each value."""

    spec: HeadInterventionSpec
    task: str
    n_prompts: int
    values: list[float | None]
    accuracy: list[float]
    answer_logprob: list[float]
    baseline_accuracy: float
    baseline_logprob: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intervention": self.spec.to_dict(),
            "label": self.spec.label,
            "task": self.task,
            "n_prompts": self.n_prompts,
            "values": self.values,
            "accuracy": self.accuracy,
            "answer_logprob": self.answer_logprob,
            "baseline_accuracy": self.baseline_accuracy,
            "baseline_logprob": self.baseline_logprob,
            "settings": self.settings,
        }


def head_intervention_curve_job(
    hm: HookedModel,
    spec: HeadInterventionSpec,
    prompts: TaskPrompts,
    values: Sequence[float] = (),
    max_rows: int | None = None,
) -> Job[HeadInterventionCurve]:
    """Accuracy and answer log-prob over ``prompts`` (with ``targets``) for each value of the
    intervention (``values``; one evaluation at ``spec.value`` when empty, or for actions
    without a value). Every value × prompt is a row of one batch (``max_rows`` per forward)."""
    spec.check(hm)
    vals: list[float | None] = (
        [float(v) for v in values] if (values and spec.takes_value) else [spec.value]
    )
    if any(v is not None and not math.isfinite(v) for v in vals):
        raise WorkbenchError(f"values must be finite numbers; got {list(values)}.")
    texts = list(prompts.prompts)
    if not texts or len(prompts.targets) != len(texts):
        raise WorkbenchError("the task needs prompts, each with its answer.")
    answers = torch.tensor(prompts.target_ids(hm.tokenizer))
    P = len(texts)
    means_from = texts if spec.action in ("ablate_mean", "offset_mean") else ()
    yield Progress(0, len(vals) + 1, "preparing the interventions")
    per_value = [head_interventions(hm, spec, means_from, v) for v in vals]
    # rows: the unintervened prompts, then each value's copy of them
    rows: list[tuple[int | None, int]] = [(None, p) for p in range(P)]
    rows += [(k, p) for k in range(len(vals)) for p in range(P)]
    step = max_rows or (256 if hm.device.type != "cpu" else 32)
    hits = torch.zeros(len(vals) + 1)
    logp_sum = torch.zeros(len(vals) + 1)
    for a in range(0, len(rows), step):
        chunk = rows[a : a + step]
        enc = hm.encode([texts[p] for _, p in chunk])
        last = enc["attention_mask"].sum(-1) - 1
        ivs: list[Intervention] = []
        for k, group in enumerate(per_value):
            rs = [i for i, (kk, _) in enumerate(chunk) if kk == k]  # rows of value k
            if rs:
                ivs += [_with_rows(iv, rs) for iv in group]
        with torch.no_grad():
            logits = hm.forward(enc["input_ids"], enc["attention_mask"], ivs, use_cache=False)
        lp = torch.log_softmax(logits.logits[torch.arange(len(chunk)), last].float(), -1).cpu()
        for i, (which, p) in enumerate(chunk):
            slot = 0 if which is None else which + 1
            hits[slot] += float(lp[i].argmax() == answers[p])
            logp_sum[slot] += float(lp[i, answers[p]])
        yield Progress(min(len(vals) + 1, (a + len(chunk)) / P), len(vals) + 1, "evaluating")
    acc = (hits / P).tolist()
    mean_lp = (logp_sum / P).tolist()
    return HeadInterventionCurve(
        spec,
        prompts.name,
        P,
        vals,
        acc[1:],
        mean_lp[1:],
        acc[0],
        mean_lp[0],
        {"max_rows": step},
    )


def _with_rows(iv: Intervention, rows: list[int]) -> Intervention:
    from dataclasses import replace

    return replace(iv, rows=rows)
