"""Concept neurons (Cones, Liu et al. 2023): the cross-attention key/value neurons that carry a
concept, found by gradient attribution and checked by switching them off.

**Neurons.** The output channels of the projections that turn the prompt's tokens into keys and
values: ``attn2.to_k`` / ``attn2.to_v`` of every UNet transformer block (SD 1.x/2.x, SDXL), and
``attn.add_k_proj`` / ``attn.add_v_proj`` of SD3's joint-attention blocks (the text stream's keys
and values). A neuron is ``(module name, channel)``, written ``module:channel``.

**Concept measure.** The pipeline samples the concept prompt with the base prompt as its
negative prompt (seed, steps and guidance given), and the denoiser's inputs are recorded at
every step: one classifier-free-guidance batch ``[base, concept]`` on the sampling trajectory of
the concept's own image. The measure is the mean over those steps of
``‖ε(x_t, concept) − ε(x_t, base)‖²`` (per element): how far the concept prompt moves the
prediction away from the base prompt's, i.e. the concept's guidance direction. A neuron that
carries the concept makes it larger; switching it off should shrink it.

**Scores.** Each neuron's output is multiplied by a gate g = 1, and one backward pass per
recorded step gives ``∂M/∂g_j = Σ (∂M/∂a_j)·a_j`` (gradient × activation, summed over tokens,
batch and steps). Switching neuron j off (g_j = 0) changes M by about ``−∂M/∂g_j``, so the score
is the measure's predicted drop; the largest scores are the concept neurons.

**Checks** (each with the exact measure, no gradient):

- *exact*: the true drop of the top ``exact_check`` neurons and as many random ones, each
  switched off alone; the Pearson correlation with the scores says how far the gradient's
  linear estimate can be trusted here;
- *ablation*: the top ``top_k`` switched off together against ``random_sets`` random sets of
  the same size from the same pool. ``beats_random`` is True when the top set lowers the
  measure more than every random set.

Switching a set off or scaling it (:class:`NeuronEdit`) is the fourth level of the diffusion
arithmetic: ``ImageSpec(level="neurons", neurons=edit)`` renders the prompt with the neurons
scaled, beside the plain prompt from the same seed. Scale 1 and an empty set are exact
identities (``x·1 = x``; no hook at all).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from workbench.errors import ShapeMismatchError, WorkbenchError
from workbench.jobs import Job, Progress

if TYPE_CHECKING:
    import torch

    from workbench.diffusion.loading import DiffusionModel

RUN_KIND = "concept_neurons"
FORMAT_VERSION = 1
# module-name endings of the projections of the prompt's tokens into keys and values
_UNET_KV = {"attn2.to_k": "k", "attn2.to_v": "v"}
_JOINT_KV = {"attn.add_k_proj": "k", "attn.add_v_proj": "v"}

Neuron = tuple[str, int]  # (module name in the denoiser, output channel)


def neuron_text(n: Neuron) -> str:
    return f"{n[0]}:{n[1]}"


def parse_neuron(text: str) -> Neuron:
    module, sep, channel = str(text).rpartition(":")
    if not sep or not module or not channel.strip().isdigit():
        raise WorkbenchError(
            f"{text!r} is not a neuron; write MODULE:CHANNEL, e.g. "
            "'down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k:3'"
        )
    return module, int(channel)


# ------------------------------------------------------------------------------------ the pool
def kv_modules(
    dm: DiffusionModel, projections: Sequence[str] = ("k", "v")
) -> list[tuple[str, int]]:
    """``[(module name, output channels)]`` of the cross-attention key/value projections."""
    if dm.family == "flux":
        raise WorkbenchError(
            "Concept neurons need the base and the concept prompt side by side in one "
            "classifier-free-guidance batch; Flux is guidance-distilled and has none. Use an "
            "SD 1.x/2.x, SDXL or SD3 pipeline."
        )
    bad = set(projections) - {"k", "v"}
    if bad or not projections:
        raise WorkbenchError(f"projections {sorted(bad)}: choose k, v or both")
    endings = _UNET_KV if hasattr(dm.pipe, "unet") and dm.pipe.unet is not None else _JOINT_KV
    out = []
    for name, module in dm.denoiser.named_modules():
        for ending, proj in endings.items():
            if name.endswith(ending) and proj in projections:
                out.append((name, int(module.out_features)))
    if not out:
        raise WorkbenchError(
            f"{dm.ref.name} has no cross-attention key/value projections "
            f"({', '.join(endings)}) in its {type(dm.denoiser).__name__}."
        )
    return out


def kv_neurons(dm: DiffusionModel, projections: Sequence[str] = ("k", "v")) -> list[Neuron]:
    return [(m, c) for m, n in kv_modules(dm, projections) for c in range(n)]


# ----------------------------------------------------------------------------------- the edit
@dataclass(frozen=True)
class NeuronEdit:
    """A set of key/value neurons whose outputs are multiplied by ``scale`` (0: switched off)."""

    neurons: tuple[Neuron, ...]
    scale: float = 0.0
    label: str = ""  # e.g. "top 10 for 'a dog'"
    run_id: int | None = None  # the project run that scored them, if any

    def __post_init__(self) -> None:
        object.__setattr__(self, "neurons", tuple((str(m), int(c)) for m, c in self.neurons))
        if isinstance(self.scale, bool) or not math.isfinite(float(self.scale)):
            raise WorkbenchError(f"neuron scale {self.scale!r}: use a finite number")
        object.__setattr__(self, "scale", float(self.scale))
        if any(c < 0 for _, c in self.neurons):
            raise WorkbenchError("a neuron's channel is 0 or more")

    def with_scale(self, scale: float) -> NeuronEdit:
        return replace(self, scale=scale)

    def describe(self) -> str:
        what = self.label or f"{len(self.neurons)} neurons"
        verb = "off" if self.scale == 0 else f"× {self.scale:g}"
        return f"{what}: {len(self.neurons)} key/value neurons {verb}"

    def key(self) -> tuple[Any, ...]:
        return (self.scale, self.neurons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "scale": self.scale,
            "count": len(self.neurons),
            "neurons": [neuron_text(n) for n in self.neurons],
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NeuronEdit:
        return cls(
            tuple(parse_neuron(t) for t in d.get("neurons", [])),
            float(d.get("scale", 0.0)),
            str(d.get("label", "")),
            d.get("run_id"),
        )

    def check(self, dm: DiffusionModel) -> None:
        """Refuse neurons the loaded denoiser does not have (another model's scores)."""
        sizes: dict[str, int] = {}
        for m, c in self.neurons:
            if m not in sizes:
                try:
                    sizes[m] = int(dm.denoiser.get_submodule(m).out_features)
                except (AttributeError, ValueError):  # no such module, or not a Linear
                    raise ShapeMismatchError(
                        f"{dm.ref.name}'s denoiser has no projection {m!r}; these neurons were "
                        "scored on another model. Score them again on the loaded one."
                    ) from None
            if c >= sizes[m]:
                raise ShapeMismatchError(
                    f"{m} has {sizes[m]} channels; neuron {c} does not exist. Score the "
                    "neurons again on the loaded model."
                )

    @contextmanager
    def applied(self, dm: DiffusionModel) -> Iterator[None]:
        """While active, the neurons' outputs are multiplied by ``scale``."""
        if not self.neurons:
            yield
            return
        self.check(dm)
        by_module: dict[str, list[int]] = {}
        for m, c in self.neurons:
            by_module.setdefault(m, []).append(c)
        with _gated(dm, {m: _mask(dm, m, cs, self.scale) for m, cs in by_module.items()}):
            yield


def _mask(dm: DiffusionModel, module: str, channels: Sequence[int], value: float) -> torch.Tensor:
    import torch

    n = int(dm.denoiser.get_submodule(module).out_features)
    m = torch.ones(n)
    m[list(channels)] = value
    return m


@contextmanager
def _gated(dm: DiffusionModel, gates: dict[str, torch.Tensor]) -> Iterator[None]:
    """Multiply each named module's output channels by its gate (``[out_features]``)."""

    def make(gate: torch.Tensor) -> Any:
        def hook(_m: Any, _args: Any, out: torch.Tensor) -> torch.Tensor:
            return out * gate.to(device=out.device, dtype=out.dtype)

        return hook

    handles = [
        dm.denoiser.get_submodule(name).register_forward_hook(make(g)) for name, g in gates.items()
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


# ------------------------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class ConesSpec:
    """What :func:`cones_job` scores; stored with the run so that it can be run again."""

    concept: str
    base: str = ""
    steps: int = 10
    guidance: float = 7.5
    seed: int = 0
    width: int | None = None
    height: int | None = None
    projections: tuple[str, ...] = ("k", "v")
    top_k: int = 10
    random_sets: int = 8
    exact_check: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "projections", tuple(self.projections))
        if not self.concept.strip():
            raise WorkbenchError("the concept prompt is empty: write what the neurons carry")
        if self.concept.strip() == self.base.strip():
            raise WorkbenchError(
                "the concept and base prompts are the same, so the concept measure is 0; give "
                "a base prompt without the concept (or leave it empty)"
            )
        if int(self.steps) < 1 or int(self.top_k) < 1 or int(self.random_sets) < 1:
            raise WorkbenchError("steps, top_k and random_sets must be 1 or more")
        if int(self.exact_check) < 0 or int(self.seed) < 0:
            raise WorkbenchError("exact_check and seed must be 0 or more")
        if not math.isfinite(float(self.guidance)) or float(self.guidance) <= 1:
            raise WorkbenchError(
                f"guidance {self.guidance}: the concept measure compares the two halves of a "
                "classifier-free-guidance batch, so guidance must be above 1"
            )
        for side in ("width", "height"):
            v = getattr(self, side)
            if v is not None and (int(v) < 8 or int(v) % 8):
                raise WorkbenchError(f"{side} {v}: must be divisible by 8")

    def to_dict(self) -> dict[str, Any]:
        return {
            "concept": self.concept, "base": self.base, "steps": self.steps,
            "guidance": self.guidance, "seed": self.seed, "width": self.width,
            "height": self.height, "projections": list(self.projections), "top_k": self.top_k,
            "random_sets": self.random_sets, "exact_check": self.exact_check,
        }  # fmt: skip


@dataclass(frozen=True)
class AblationCheck:
    k: int
    measure: float  # nothing switched off
    measure_top: float  # the top k switched off
    measure_random: tuple[float, ...]  # each random set of k switched off

    @property
    def drop_top(self) -> float:
        """Fraction of the measure the top set removes."""
        return 1.0 - self.measure_top / self.measure if self.measure else 0.0

    @property
    def drop_random(self) -> tuple[float, ...]:
        return tuple(1.0 - m / self.measure if self.measure else 0.0 for m in self.measure_random)

    @property
    def beats_random(self) -> bool:
        return all(self.measure_top < m for m in self.measure_random)

    def to_dict(self) -> dict[str, Any]:
        d = self.drop_random
        return {
            "k": self.k, "measure": self.measure, "measure_top": self.measure_top,
            "measure_random": list(self.measure_random), "drop_top": self.drop_top,
            "drop_random": list(d), "drop_random_mean": sum(d) / len(d),
            "drop_random_max": max(d), "beats_random": self.beats_random,
        }  # fmt: skip


@dataclass(frozen=True)
class ExactCheck:
    neurons: tuple[Neuron, ...]
    predicted: tuple[float, ...]  # the gradient's predicted drop (the score)
    exact: tuple[float, ...]  # the measured drop, each neuron off alone

    @property
    def pearson(self) -> float:
        import numpy as np

        if len(self.exact) < 3 or np.std(self.exact) == 0 or np.std(self.predicted) == 0:
            return float("nan")
        return float(np.corrcoef(self.predicted, self.exact)[0, 1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "neurons": [neuron_text(n) for n in self.neurons],
            "predicted": list(self.predicted),
            "exact": list(self.exact),
            "pearson": self.pearson,
        }


@dataclass(frozen=True)
class ConeScores:
    """Every key/value neuron's score for one concept, ranked, with the two checks."""

    spec: ConesSpec
    neurons: tuple[Neuron, ...]  # the pool, in the denoiser's module order
    scores: tuple[float, ...]  # predicted drop of the measure when each is switched off
    measure: float
    ablation: AblationCheck
    exact: ExactCheck
    model: dict[str, Any] = field(default_factory=dict)  # the pipeline's ModelRef

    @property
    def concept(self) -> str:
        return self.spec.concept

    def ranking(self) -> list[int]:
        """Pool indices, highest score first."""
        return sorted(range(len(self.scores)), key=lambda i: -self.scores[i])

    def top(self, k: int | None = None) -> list[Neuron]:
        k = self.spec.top_k if k is None else k
        return [self.neurons[i] for i in self.ranking()[:k]]

    def edit(
        self, k: int | None = None, scale: float = 0.0, run_id: int | None = None
    ) -> NeuronEdit:
        """The top ``k`` as a :class:`NeuronEdit` (scale 0: switched off)."""
        k = self.spec.top_k if k is None else k
        label = f"top {k} for {self.concept!r}"
        return NeuronEdit(tuple(self.top(k)), scale, label, run_id)

    def name(self) -> str:
        base = f" vs {self.spec.base!r}" if self.spec.base else ""
        return f"concept neurons: {self.concept!r}{base}"

    def summary(self) -> str:
        a = self.ablation
        d = a.drop_random
        return (
            f"{len(self.neurons)} neurons scored; top {a.k} off removes {a.drop_top:.0%} of the "
            f"concept measure, random sets of {a.k} {sum(d) / len(d):.0%} on average "
            f"(at most {max(d):.0%}); exact vs gradient r = {self.exact.pearson:.2f}"
        )

    def settings(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "model": self.model}

    def modules(self) -> list[tuple[str, int]]:
        """``[(module, channels)]`` of the pool, in order (the pool is their channels)."""
        out: list[tuple[str, int]] = []
        for m, _ in self.neurons:
            if out and out[-1][0] == m:
                out[-1] = (m, out[-1][1] + 1)
            else:
                out.append((m, 1))
        return out

    def to_dict(self, top: int = 50, full: bool = False) -> dict[str, Any]:
        """JSON: the top ``top`` neurons, the checks, and the pool's modules. ``full`` adds
        every score in pool order (what :func:`edit_from_result` needs to rank them all)."""
        order = self.ranking()
        extra: dict[str, Any] = {"scores": list(self.scores)} if full else {}
        return {
            "format": "concept-workbench/concept-neurons",
            "version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "model": self.model,
            "pool": len(self.neurons),
            "measure": self.measure,
            "top": [
                {"neuron": neuron_text(self.neurons[i]), "score": self.scores[i], "rank": r + 1}
                for r, i in enumerate(order[:top])
            ],
            "ablation": self.ablation.to_dict(),
            "exact": self.exact.to_dict(),
            "summary": self.summary(),
            "modules": [list(m) for m in self.modules()],
            **extra,
        }

    def tensors(self) -> dict[str, Any]:
        import torch

        return {"scores": torch.tensor(self.scores, dtype=torch.float32)}

    def figure_spec(self, n: int = 30) -> dict[str, Any]:
        """A line figure (:func:`workbench.figures.render`): the top ``n`` scores by rank, and
        the exact drop of those the exact check measured."""
        order = self.ranking()[:n]
        exact = dict(zip(self.exact.neurons, self.exact.exact, strict=True))
        a = self.ablation
        d = a.drop_random
        return {
            "kind": "line",
            "figure": "concept_neurons",
            "title": (
                f"Concept neurons for {self.concept!r}: top {a.k} off −{a.drop_top:.0%}, "
                f"random {a.k} −{sum(d) / len(d):.0%}"
            ),
            "xlabel": "rank",
            "ylabel": "drop of the concept measure",
            "x": list(range(1, len(order) + 1)),
            "series": {
                "gradient × activation (predicted)": [self.scores[i] for i in order],
                "switched off alone (exact)": [
                    exact.get(self.neurons[i], float("nan")) for i in order
                ],
            },
        }


def edit_from_result(
    result: dict[str, Any],
    scores: Sequence[float] | None = None,
    k: int | None = None,
    scale: float = 0.0,
    run_id: int | None = None,
) -> NeuronEdit:
    """The top ``k`` neurons of a stored scoring (a run's result, or ``--out`` JSON) as a
    :class:`NeuronEdit`. ``scores``: every score in pool order (the run's ``scores`` tensor);
    default the result's own ``scores`` (full JSON) or, failing that, its ``top`` list."""
    if result.get("format") != "concept-workbench/concept-neurons":
        raise WorkbenchError("this is not a concept-neuron scoring (workbench diffusion cones)")
    if int(result.get("version", 0)) > FORMAT_VERSION:
        raise WorkbenchError(
            f"concept-neuron scoring version {result['version']}; this workbench reads up to "
            f"{FORMAT_VERSION}. Update the workbench."
        )
    spec = result.get("spec", {})
    k = int(spec.get("top_k", 10)) if k is None else int(k)
    if k < 1:
        raise WorkbenchError(f"k {k}: choose at least one neuron")
    scores = scores if scores is not None else result.get("scores")
    if scores is not None:
        pool = [(str(m), c) for m, n in result.get("modules", []) for c in range(int(n))]
        if len(pool) != len(scores):
            raise WorkbenchError(
                f"{len(scores)} scores for {len(pool)} neurons: the stored scoring is damaged"
            )
        order = sorted(range(len(pool)), key=lambda i: -float(scores[i]))
        picked = [pool[i] for i in order[:k]]
    else:
        top = result.get("top", [])
        if k > len(top):
            raise WorkbenchError(
                f"k {k}: this file lists the top {len(top)} only; write it with --out (all "
                "scores) or choose fewer"
            )
        picked = [parse_neuron(t["neuron"]) for t in top[:k]]
    label = f"top {k} for {spec.get('concept', '?')!r}"
    return NeuronEdit(tuple(picked), scale, label, run_id)


def _clone(x: Any) -> Any:
    import torch

    if torch.is_tensor(x):
        return x.detach().clone()
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_clone(v) for v in x)
    return x


def _prediction(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out.sample


def record_denoiser_calls(
    dm: DiffusionModel, spec: ConesSpec, grand_total: int | None = None
) -> Job[list[tuple[tuple, dict]]]:
    """Sample the concept prompt against the base prompt and keep the denoiser's input of every
    step (a ``[base, concept]`` batch); yields one Progress per step (of ``grand_total``)."""
    import torch

    from workbench.diffusion._stepper import pipeline_job

    calls: list[tuple[tuple, dict]] = []

    def pre_hook(_m: Any, args: tuple, kwargs: dict) -> None:
        sample = args[0] if args else kwargs.get("sample", kwargs.get("hidden_states"))
        if sample is None or sample.shape[0] != 2:
            raise WorkbenchError(
                "expected a classifier-free-guidance batch of 2 (base, concept); got "
                f"{None if sample is None else sample.shape[0]}"
            )
        calls.append((_clone(args), _clone(kwargs)))

    call = {
        "prompt": spec.concept,
        "negative_prompt": spec.base,
        "num_inference_steps": spec.steps,
        "guidance_scale": spec.guidance,
        "height": spec.height,
        "width": spec.width,
        "generator": torch.Generator("cpu").manual_seed(int(spec.seed)),
        "output_type": "latent",
    }
    handle = dm.denoiser.register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        yield from pipeline_job(
            dm.pipe, call, lambda i, n: None, spec.steps, grand_total=grand_total,
            label="sampling",
        )  # fmt: skip
    finally:
        handle.remove()
    return calls


@contextmanager
def _frozen(module: Any) -> Iterator[None]:
    """No gradients for the weights (only the gates need them)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def concept_measure(dm: DiffusionModel, calls: list[tuple[tuple, dict]]) -> float:
    """Mean over the recorded steps of ``‖ε(concept) − ε(base)‖²`` per element (no gradient)."""
    import torch

    total = 0.0
    with torch.no_grad():
        for args, kwargs in calls:
            base, concept = _prediction(dm.denoiser(*args, **kwargs)).float().chunk(2)
            total += float(((concept - base) ** 2).mean())
    return total / len(calls)


def _measure_with_off(
    dm: DiffusionModel, calls: list[tuple[tuple, dict]], off: Sequence[Neuron]
) -> float:
    with NeuronEdit(tuple(off), 0.0).applied(dm):
        return concept_measure(dm, calls)


def cones_job(dm: DiffusionModel, spec: ConesSpec) -> Job[ConeScores]:
    """Score every cross-attention key/value neuron of ``dm`` for ``spec.concept`` (see the
    module's docstring), then run the exact and the ablation checks."""
    import random

    import torch

    modules = kv_modules(dm, spec.projections)
    pool = [(m, c) for m, n in modules for c in range(n)]
    if spec.top_k >= len(pool):
        raise WorkbenchError(
            f"top_k {spec.top_k}: the model has {len(pool)} key/value neurons; choose fewer, so "
            "that a random set of the same size can differ from the top set"
        )
    n_exact = min(spec.exact_check, len(pool) // 2)
    # sampling, gradients (one per step), the unablated measure, the sets, the exact checks
    total = 2 * spec.steps + 1 + spec.random_sets + 2 * n_exact
    calls = yield from record_denoiser_calls(dm, spec, total)
    n_calls = len(calls)
    total += n_calls - spec.steps  # second-order samplers call the denoiser more often
    done = n_calls

    # --- gradient × activation through a gate on every projection's output
    dev = dm.execution_device
    gates = {m: torch.ones(n, device=dev, requires_grad=True) for m, n in modules}
    with _frozen(dm.denoiser), _gated(dm, gates), torch.enable_grad():
        for i, (args, kwargs) in enumerate(calls):
            base, concept = _prediction(dm.denoiser(*args, **kwargs)).float().chunk(2)
            (((concept - base) ** 2).mean() / n_calls).backward()
            done += 1
            yield Progress(done, total, f"gradients: step {i + 1}/{n_calls}")
    grads = {m: (g.grad if g.grad is not None else torch.zeros_like(g)) for m, g in gates.items()}
    scores = tuple(float(grads[m][c]) for m, c in pool)
    order = sorted(range(len(pool)), key=lambda i: -scores[i])

    # --- ablation: the top k off against random sets of k
    rng = random.Random(spec.seed)
    base_measure = concept_measure(dm, calls)
    if not base_measure > 0:
        raise WorkbenchError(
            f"the concept measure is {base_measure}: the concept and base prompts give the same "
            "prediction, so there is nothing to remove. Use prompts that differ."
        )
    top = [pool[i] for i in order[: spec.top_k]]
    measure_top = _measure_with_off(dm, calls, top)
    done += 1
    yield Progress(done, total, "ablation: the top set")
    measure_random = []
    for r in range(spec.random_sets):
        picked = rng.sample(range(len(pool)), spec.top_k)
        measure_random.append(_measure_with_off(dm, calls, [pool[i] for i in picked]))
        done += 1
        yield Progress(done, total, f"ablation: random set {r + 1}/{spec.random_sets}")
    ablation = AblationCheck(spec.top_k, base_measure, measure_top, tuple(measure_random))

    # --- exact single-neuron drops: the top ones and as many random others
    rest = order[n_exact:]
    checked = order[:n_exact] + rng.sample(rest, min(n_exact, len(rest)))
    exact = []
    for j, i in enumerate(checked):
        exact.append(base_measure - _measure_with_off(dm, calls, [pool[i]]))
        done += 1
        yield Progress(done, total, f"exact check: neuron {j + 1}/{len(checked)}")
    exact_check = ExactCheck(
        tuple(pool[i] for i in checked), tuple(scores[i] for i in checked), tuple(exact)
    )
    return ConeScores(
        spec, tuple(pool), scores, base_measure, ablation, exact_check, dm.ref.to_dict()
    )
