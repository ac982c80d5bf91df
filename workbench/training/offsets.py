"""LoFiT-style head offsets (Yin et al. 2024): learn one offset vector per chosen head, added to
the head's output ``z`` (``blocks.L.attn.hook_z``, the input of the output projection) at every
position, with the model frozen.

1. Heads: a given set, or the ``k`` heads that matter most for the task by an importance score:
   ``gradient`` (the norm of the training loss's gradient at each head's offset, zero: one
   backward over the training split; the first-order effect an offset there would have) or
   ``attribution`` (the workbench's attribution patching on few-shot prompts with shuffled
   answers, the function vectors' indirect effect).
2. Offsets start at zero and are trained with :func:`~workbench.training.loop.train_job` on the
   zero-shot queries of a demonstration set's training split.
3. Held-out accuracy is reported against zero-shot, few-shot prompting and a function vector
   from the same heads, on the same split.

The result is a concept of kind ``head offsets``: at each layer's ``attn.hook_z`` a
``[n_heads, d_head]`` tensor (zero for the heads not chosen), which :class:`AddVector` adds
like any other concept's vector.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.concepts.concept import RECIPE_VERSION, Concept
from workbench.errors import WorkbenchError
from workbench.heads.function_vector import ICLTask
from workbench.heads.headset import HeadSet
from workbench.jobs import Job, Progress
from workbench.models.hooked import HookedModel
from workbench.models.interventions import AddVector, Intervention
from workbench.models.sites import head_z
from workbench.training.data import Examples, answer_loss, answer_metrics, few_shot_prompts
from workbench.training.loop import LossCurve, TrainingSpec, train_job

HEAD_SELECTIONS = ("gradient", "attribution")
CONCEPT_KIND = "head offsets"


@contextlib.contextmanager
def frozen(model: Any) -> Iterator[None]:
    """No gradient for the model's own parameters inside the block (restored on exit)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)


def offsets_interventions(
    heads: Sequence[tuple[int, int]], offsets: torch.Tensor, n_heads: int, positions: Any = "all"
) -> list[Intervention]:
    """One :class:`AddVector` per layer adding ``[n_heads, d_head]`` (``offsets`` [k, d_head]
    scattered into the chosen heads' rows, zero elsewhere); differentiable in ``offsets``."""
    out: list[Intervention] = []
    for L in sorted({L for L, _ in heads}):
        rows = [i for i, (LL, _) in enumerate(heads) if LL == L]
        full = torch.zeros(n_heads, offsets.shape[-1], dtype=offsets.dtype, device=offsets.device)
        idx = torch.tensor([heads[i][1] for i in rows], device=offsets.device)
        full = full.index_add(0, idx, offsets[rows])
        out.append(AddVector(head_z(L), positions=positions, vector=full))
    return out


def _loss_batches(ex: Examples, batch_size: int) -> Iterator[list[int]]:
    for s in range(0, len(ex), batch_size):
        yield list(range(s, min(s + batch_size, len(ex))))


def gradient_head_scores(hm: HookedModel, ex: Examples, batch_size: int = 8) -> torch.Tensor:
    """``[layer, head]``: the norm of the training loss's gradient at a zero offset of each head."""
    leaves = [
        torch.zeros(
            hm.n_heads, hm.d_head, device=hm.device, dtype=torch.float32, requires_grad=True
        )
        for _ in range(hm.n_layers)
    ]
    ivs: list[Intervention] = [AddVector(head_z(L), vector=leaves[L]) for L in range(hm.n_layers)]
    with frozen(hm.model), torch.enable_grad():
        for idx in _loss_batches(ex, batch_size):
            loss = answer_loss(hm, [ex.prompts[i] for i in idx], [ex.answers[i] for i in idx], ivs)
            (loss * len(idx) / len(ex)).backward()
    return torch.stack(
        [g.grad.norm(dim=-1) if g.grad is not None else torch.zeros(hm.n_heads) for g in leaves]
    ).cpu()


def select_heads_job(
    hm: HookedModel, train: ICLTask, k: int, how: str = "gradient", seed: int = 0
) -> Job[HeadSet]:
    """The ``k`` most important heads for ``train`` (see the module docstring)."""
    if how not in HEAD_SELECTIONS:
        raise WorkbenchError(f"head selection {how!r}: choose {', '.join(HEAD_SELECTIONS)}.")
    total = hm.n_layers * hm.n_heads
    if not 1 <= k <= total:
        raise WorkbenchError(f"k {k}: choose 1 to {total} heads ({hm.ref.name} has {total}).")
    yield Progress(0, 1, f"head importance ({how})")
    if how == "gradient":
        scores = gradient_head_scores(hm, Examples.zero_shot(train))
    else:
        from workbench.heads.attribution import attribution_scores_job
        from workbench.heads.function_vector import icl_prompts

        prompts = icl_prompts(train, 16, min(5, len(train.pairs) - 1), seed)
        res = yield from attribution_scores_job(
            hm, prompts, metric="prob", positions="last", source="mean", normalize=False
        )
        scores = res.scores.float()
    flat = scores.flatten()
    top = torch.argsort(flat, descending=True, stable=True)[:k].tolist()
    heads = [(i // hm.n_heads, i % hm.n_heads) for i in top]
    yield Progress(1, 1, "heads chosen")
    return HeadSet(
        f"{train.name}: top {k} heads ({how})",
        hm.ref.name,
        heads,
        f"{how} top-{k}",
        [float(flat[i]) for i in top],
    )


@dataclass(frozen=True)
class HeadOffsetsResult:
    """Trained head offsets: the concept, the heads, the loss curve and held-out metrics.

    ``metrics[name]`` holds ``accuracy`` and ``target_logprob`` on the held-out queries for
    ``zero_shot``, ``few_shot``, ``function_vector`` (same heads) and ``head_offsets``.
    """

    concept: Concept
    heads: tuple[tuple[int, int], ...]
    selection: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    curve: LossCurve
    train: int
    held_out: int
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "concept": self.concept.name,
            "kind": CONCEPT_KIND,
            "heads": [f"L{L}H{h}" for L, h in self.heads],
            "selection": self.selection,
            "held_out_metrics": self.metrics,
            "training_examples": self.train,
            "held_out_examples": self.held_out,
            "loss_curve": self.curve.to_dict(),
            "settings": self.settings,
        }


def train_head_offsets_job(
    hm: HookedModel,
    task: ICLTask,
    *,
    heads: HeadSet | Sequence[tuple[int, int]] | None = None,
    k: int = 8,
    select: str = "gradient",
    spec: TrainingSpec | None = None,
    test_fraction: float = 0.3,
    n_shots: int = 5,
    name: str = "",
    compare: bool = True,
) -> Job[HeadOffsetsResult]:
    """Learn LoFiT offsets for ``task`` (see the module docstring) and measure them.

    ``heads`` given: those; else the top ``k`` by ``select``. ``compare``: also measure
    few-shot prompting and a function vector from the same heads on the held-out split.
    """
    spec = spec or TrainingSpec(steps=40, lr=1e-2, batch_size=8)
    spec.check()
    train, test = task.split(test_fraction, spec.seed)
    if heads is None:
        hs = yield from select_heads_job(hm, train, k, select, spec.seed)
        selection = {"how": select, "k": k, "scores": hs.scores}
    else:
        hs = heads if isinstance(heads, HeadSet) else HeadSet("given", hm.ref.name, list(heads))
        bad = [(L, h) for L, h in hs.heads if not (0 <= L < hm.n_layers and 0 <= h < hm.n_heads)]
        if bad:
            raise WorkbenchError(
                f"heads {', '.join(f'L{L}H{h}' for L, h in bad)} do not exist: {hm.ref.name} has "
                f"layers 0-{hm.n_layers - 1} and heads 0-{hm.n_heads - 1}."
            )
        selection = {"how": "given"}
    head_list = list(dict.fromkeys(hs.heads))
    ex = Examples.zero_shot(train)
    offsets = torch.zeros(len(head_list), hm.d_head, device=hm.device, requires_grad=True)

    def loss_fn(idx: list[int]) -> torch.Tensor:
        ivs = offsets_interventions(head_list, offsets, hm.n_heads)
        return answer_loss(hm, [ex.prompts[i] for i in idx], [ex.answers[i] for i in idx], ivs)

    with frozen(hm.model):
        curve = yield from train_job([offsets], loss_fn, len(ex), spec, "training head offsets")
    learned = offsets.detach().float().cpu()
    yield Progress(0, 4, "held-out metrics")
    test_ex = Examples.zero_shot(test)
    metrics = {"zero_shot": answer_metrics(hm, test_ex.prompts, test_ex.answers)}
    ivs = offsets_interventions(head_list, learned.to(hm.device, hm.dtype), hm.n_heads)
    metrics["head_offsets"] = answer_metrics(hm, test_ex.prompts, test_ex.answers, ivs)
    yield Progress(1, 4, "few-shot prompting")
    if compare:
        shots = min(n_shots, len(train.pairs))
        fp, fa = few_shot_prompts(train, test, shots, spec.seed)
        metrics["few_shot"] = {**answer_metrics(hm, fp, fa, batch_size=8), "shots": shots}
        yield Progress(2, 4, "function vector from the same heads")
        from workbench.heads.function_vector import function_vector_concept_job

        fv = yield from function_vector_concept_job(
            hm, head_list, task, n_shots=min(5, len(train.pairs) - 1), measure=False,
            seed=spec.seed, test_fraction=test_fraction,
        )  # fmt: skip
        fv_ivs = fv.function_vector.interventions(fv.coefficient)
        metrics["function_vector"] = {
            **answer_metrics(hm, test_ex.prompts, test_ex.answers, fv_ivs),
            "layer": fv.layer,
        }
    yield Progress(4, 4, "done")
    vectors: dict[str, torch.Tensor] = {}
    for iv in offsets_interventions(head_list, learned, hm.n_heads):
        assert isinstance(iv, AddVector)
        vectors[iv.site] = iv.vector.detach().clone()
    settings = {"task": task.name, "template": task.template, "test_fraction": test_fraction,
                "training": spec.to_dict(), "n_shots": n_shots}  # fmt: skip
    recipe = {
        "method": "head_offsets",
        "kind": CONCEPT_KIND,
        "version": RECIPE_VERSION,
        "heads": [list(h) for h in head_list],
        "selection": selection,
        "position": "all",
        "coefficient": 1.0,
        "loss_curve": list(curve.losses),
        "held_out": {"words": [x for x, _ in test.pairs], **{k_: v for k_, v in metrics.items()}},
        **settings,
    }
    desc = (
        f"LoFiT head offsets for {task.name} at {len(head_list)} heads "
        f"({', '.join(f'L{L}H{h}' for L, h in head_list[:6])}{' …' if len(head_list) > 6 else ''}), "
        f"added to attn.hook_z at every position."
    )
    concept = Concept(name or f"offsets:{task.name}", vectors, hm.ref, recipe, description=desc)
    return HeadOffsetsResult(
        concept,
        tuple(head_list),
        selection,
        metrics,
        curve,
        len(train.pairs),
        len(test.pairs),
        settings,
    )
