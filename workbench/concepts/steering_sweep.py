"""The layer × coefficient steering sweep: every variant of a concept, on a prompt set, at once.

A sweep steers each prompt of a set with ``coefficient * vector`` at ``blocks.{layer}.hook_{kind}``
for every layer × coefficient, and measures each cell:

``kl``
    KL(steered ‖ unsteered) of the next-token distribution after the prompt, in nats, averaged
    over prompts: how much the steering changes the model. (Read off the first step of the
    generation, so it costs nothing extra.)
``target_logprob``
    Mean log-probability of the target words' first tokens as the next token after the prompt,
    with steering (only with ``targets``).
``accuracy``
    Fraction of prompts whose steered continuation starts with the expected answer (only with
    ``answers``, e.g. the held-out queries of a demonstration set).
``base_perplexity_of_steered``
    Perplexity of the steered continuation under the *unsteered* model: fluency. Large values
    mean the steering broke the text. One more forward per row (``fluency=False`` skips it).

All variants and prompts are rows of one batch (chunked to fit memory); the baseline runs once.
Row ``(variant, prompt)`` is steered by its own :class:`AddVector` restricted to that row, so a
cell's greedy tokens are those of one steered generation of that variant on that prompt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from workbench.concepts.concept import Concept
from workbench.concepts.sweep_metrics import METRICS as METRICS
from workbench.errors import PromptSetError, WorkbenchError
from workbench.jobs import Job, Progress, run
from workbench.models.generation import SamplingSettings, generate_job
from workbench.models.hooked import HookedModel
from workbench.models.interventions import AddVector
from workbench.models.sites import RESID_KINDS, site_name
from workbench.models.token_weights import check_weighting, token_weights_from_dict
from workbench.models.tokens import answer_matches as answer_matches  # the engine's one rule
from workbench.models.tokens import target_token_ids as target_token_ids

RESULT_VERSION = 2
SITE_KINDS = RESID_KINDS
SWEEP_POSITIONS = ("all", "prompt", "last_prompt")


@dataclass(frozen=True)
class SteeringSweepSpec:
    """What to sweep: the grid, the prompts and how to generate. Stored with the result."""

    layers: tuple[int, ...]
    coefficients: tuple[float, ...]
    prompts: tuple[str, ...]
    site_kind: str = "resid_post"
    targets: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()  # expected continuation per prompt (accuracy), or none
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    positions: str = "all"
    max_rows: int | None = None  # rows per batch (default: 64 on a CPU, 256 on a GPU)
    fluency: bool = True  # base perplexity of the steered text: one more forward per row
    # One vector added at every swept layer (e.g. a function vector, stored at the one layer it
    # was made for); None: each layer's own vector.
    vector_site: str | None = None
    # Per-token weights of the added vector (workbench.models.token_weights); None: plain.
    # {"mode": "given", "values": [...], "rest": 1} or {"mode": "projection", "center",
    # "scale", "invert", "probe": NAME, "directions": {site: [...]}}: the probe direction at
    # each steered site is "directions"[site], else the steered concept's own vector.
    weighting: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(x) for x in self.layers))
        object.__setattr__(self, "coefficients", tuple(float(c) for c in self.coefficients))
        object.__setattr__(self, "prompts", tuple(self.prompts))
        object.__setattr__(self, "targets", tuple(t.strip() for t in self.targets if t.strip()))
        object.__setattr__(self, "answers", tuple(self.answers))

    def check(self, hm: HookedModel, concept: Concept) -> None:
        """Refuse a sweep that cannot run, before anything is computed."""
        if not self.layers or not self.coefficients:
            raise WorkbenchError(
                "Give at least one layer and one coefficient (e.g. layers 2, 4 and "
                "coefficients -4, 0, 4)."
            )
        if not self.prompts:
            raise PromptSetError("The sweep needs at least one prompt.")
        if self.answers and len(self.answers) != len(self.prompts):
            raise PromptSetError(
                f"{len(self.answers)} answers for {len(self.prompts)} prompts: give one "
                "expected answer per prompt, or none."
            )
        if self.site_kind not in SITE_KINDS:
            raise WorkbenchError(
                f"unknown site kind {self.site_kind!r}: use one of {', '.join(SITE_KINDS)}."
            )
        bad = [c for c in self.coefficients if not math.isfinite(c)]
        if bad:
            raise WorkbenchError(f"coefficients must be finite numbers; got {bad}.")
        out = [L for L in self.layers if not 0 <= L < hm.n_layers]
        if out:
            raise WorkbenchError(
                f"layer(s) {out} out of range: {hm.ref.name} has layers 0-{hm.n_layers - 1}."
            )
        if self.vector_site is not None:
            if self.vector_site not in concept.vectors:
                raise WorkbenchError(
                    f"{concept.name!r} has no vector at {self.vector_site}; it has "
                    f"{', '.join(concept.sites[:6])}{' …' if len(concept.sites) > 6 else ''}."
                )
        else:
            missing = [
                L for L in self.layers if site_name(self.site_kind, L) not in concept.vectors
            ]
            if missing:
                one = f" (e.g. {concept.sites[0]})" if len(concept.sites) == 1 else ""
                raise WorkbenchError(
                    f"{concept.name!r} has no vector at {self.site_kind} of layer(s) {missing}; "
                    f"it has {len(concept.sites)} site(s){one}. Sweep its layers, or add one of "
                    "its vectors at every layer (vector_site=SITE; --vector-site SITE)."
                )
        for L in self.layers:
            site = self.source_site(L)
            v = concept.vectors[site]
            if v.dim() == 2:  # per-head offsets at attn.hook_z (a LoFiT-style concept)
                raise WorkbenchError(
                    f"{concept.name!r} holds one offset per head at {site}, not one "
                    "residual-stream vector: the steering sweep adds residual vectors. Steer with "
                    "it in Preview or `workbench models generate --concept`, and compare it on "
                    "the Training page (`workbench train offsets`)."
                )
            if v.dim() != 1 or v.shape[0] != hm.d_model:
                raise WorkbenchError(
                    f"{concept.name!r} has shape {tuple(v.shape)} at {site}, but {hm.ref.name} "
                    f"has d_model {hm.d_model}: it was made on another model."
                )
            if not bool(torch.isfinite(v).all()):
                raise WorkbenchError(
                    f"{concept.name!r} has non-finite values (NaN or infinity) at {site}: it "
                    "cannot steer."
                )
        if self.settings.max_new_tokens < 1:
            raise WorkbenchError("The sweep needs at least one new token per cell.")
        if self.positions not in SWEEP_POSITIONS:
            raise WorkbenchError(
                f"positions {self.positions!r}: a sweep adds its vector at "
                f"{', '.join(SWEEP_POSITIONS)} (its KL and target log-prob read the next token "
                "after the prompt, which 'generated' positions would not have touched yet)."
            )
        context = hm.context_length
        if context is not None:
            longest = max(
                len(hm.encode([p], chat=self.settings.chat)["input_ids"][0]) for p in self.prompts
            )
            if longest + self.settings.max_new_tokens > context:
                raise WorkbenchError(
                    f"the longest prompt ({longest} tokens) plus {self.settings.max_new_tokens} "
                    f"new tokens is longer than the {context} tokens {hm.ref.name}'s context "
                    "holds; use fewer new tokens or shorter prompts."
                )
        if self.max_rows is not None and self.max_rows < 1:
            raise WorkbenchError("max_rows must be a positive number of rows.")
        target_token_ids(hm.tokenizer, self.targets)  # each target word must have a token
        check_weighting(self.weighting)
        if (self.weighting or {}).get("mode") == "projection":
            for L in self.layers:
                d = self.probe_direction(concept, L)
                if d.dim() != 1 or d.shape[0] != hm.d_model:
                    raise WorkbenchError(
                        f"the probe direction for layer {L} has shape {tuple(d.shape)}; it must "
                        f"be one vector of {hm.d_model} values (this model's width)."
                    )

    def probe_direction(self, concept: Concept, layer: int) -> torch.Tensor:
        """The direction whose projection weights the tokens at ``layer`` (projection mode)."""
        given = (self.weighting or {}).get("directions") or {}
        site = site_name(self.site_kind, layer)
        if given:
            if site not in given:
                raise WorkbenchError(
                    f"the probe {self.weighting.get('probe', '')!r} has no vector at {site}; "  # type: ignore[union-attr]
                    "sweep the layers it has."
                )
            return torch.tensor(given[site], dtype=torch.float32)
        return concept.vector(self.source_site(layer))

    def source_site(self, layer: int) -> str:
        """Where the vector added at ``layer`` is read from."""
        return self.vector_site or site_name(self.site_kind, layer)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["settings"] = self.settings.to_dict()
        for k in ("layers", "coefficients", "prompts", "targets", "answers"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SteeringSweepSpec:
        d = dict(d)
        d["settings"] = SamplingSettings(**d.get("settings", {}))
        return cls(**d)


@dataclass
class SteeringSweepResult:
    """A finished sweep. ``texts[i][j][p]`` is prompt ``p`` steered at layer ``layers[i]`` with
    ``coefficients[j]``; ``metrics[name][i][j]`` averages over prompts (NaN where undefined)."""

    spec: SteeringSweepSpec
    concept: dict[str, Any]  # {"id", "name"}
    baselines: list[str]  # per prompt
    texts: list[list[list[str]]]
    metrics: dict[str, list[list[float]]]
    baseline_metrics: dict[str, float]  # the unsteered run's accuracy and fluency
    token_ids: list[list[list[list[int]]]] = field(default_factory=list)  # [i][j][p] new tokens
    # [i][j]: whether the cell was computed; None when every cell was (a finished sweep). A
    # sweep stopped part-way keeps its finished cells (see :class:`PartialSweep`).
    computed: list[list[bool]] | None = None

    @property
    def partial(self) -> bool:
        return self.computed is not None and not all(all(row) for row in self.computed)

    def cells_done(self) -> int:
        if self.computed is None:
            return len(self.layers) * len(self.coefficients)
        return sum(sum(row) for row in self.computed)

    def is_computed(self, i: int, j: int) -> bool:
        return self.computed is None or self.computed[i][j]

    @property
    def layers(self) -> list[int]:
        return list(self.spec.layers)

    @property
    def coefficients(self) -> list[float]:
        return list(self.spec.coefficients)

    @property
    def prompts(self) -> list[str]:
        return list(self.spec.prompts)

    @property
    def site_kind(self) -> str:
        return self.spec.site_kind

    def best(self, metric: str, maximize: bool = True) -> tuple[int, float, float] | None:
        """``(layer, coefficient, value)`` of the best cell by ``metric`` (None if all NaN)."""
        best: tuple[int, float, float] | None = None
        for i, L in enumerate(self.layers):
            for j, c in enumerate(self.coefficients):
                v = self.metrics[metric][i][j]
                if v != v:
                    continue
                if best is None or (v > best[2] if maximize else v < best[2]):
                    best = (L, c, v)
        return best

    def to_dict(self) -> dict[str, Any]:
        """The stored form (a project run's ``result``; also ``--json``)."""
        return {
            "version": RESULT_VERSION,
            "prompts": self.prompts,
            "baselines": list(self.baselines),
            "layers": self.layers,
            "coefficients": self.coefficients,
            "site_kind": self.site_kind,
            "texts": self.texts,
            "metrics": {k: [[_json(v) for v in row] for row in g] for k, g in self.metrics.items()},
            "baseline_metrics": {k: _json(v) for k, v in self.baseline_metrics.items()},
            "targets": list(self.spec.targets),
            "answers": list(self.spec.answers),
            "concept": dict(self.concept),
            "spec": self.spec.to_dict(),
            "partial": self.partial,
            "computed": self.computed,
        }

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], settings: dict[str, Any] | None = None
    ) -> SteeringSweepResult:
        """Read a stored sweep, including those saved before version 2 (one prompt, texts
        ``[layer][coef]``, fluency stored as ``perplexity``)."""
        settings = settings or {}

        def grid(g: list[list[Any]]) -> list[list[float]]:
            return [[math.nan if v is None else float(v) for v in row] for row in g]

        if d.get("version", 1) >= 2:
            spec = SteeringSweepSpec.from_dict(d["spec"])
            return cls(
                spec,
                dict(d.get("concept") or {}),
                list(d["baselines"]),
                d["texts"],
                {k: grid(g) for k, g in d["metrics"].items()},
                {k: math.nan if v is None else float(v) for k, v in d["baseline_metrics"].items()},
                computed=d.get("computed"),
            )
        sampling = settings.get("sampling") or {}
        spec = SteeringSweepSpec(
            layers=tuple(d["layers"]),
            coefficients=tuple(d["coefficients"]),
            prompts=(d["prompt"],),
            site_kind=settings.get("site_kind", "resid_post"),
            targets=tuple(d.get("targets", [])),
            settings=SamplingSettings(**sampling),
        )
        metrics = {
            ("base_perplexity_of_steered" if k == "perplexity" else k): grid(g)
            for k, g in d["metrics"].items()
        }
        return cls(
            spec,
            dict(settings.get("concept") or {}),
            [d["baseline"]],
            [[[t] for t in row] for row in d["texts"]],
            metrics,
            {},
        )

    def save_to_project(self, project: Any, model_ref: Any, concept: Concept) -> int:
        """Store the sweep as a ``sweep`` run and every steered cell as a text generation whose
        provenance names the run; return the run id."""
        from workbench.concepts.provenance import text_generation_provenance

        settings = {
            "concept": {"id": concept.id, "name": concept.name},
            "site_kind": self.site_kind,
            "model": model_ref.to_dict(),
            "sampling": self.spec.settings.to_dict(),
            "n_prompts": len(self.prompts),
        }
        name = f"{concept.name} sweep"
        if self.partial:
            n = len(self.layers) * len(self.coefficients)
            settings["partial"] = {"cells_done": self.cells_done(), "cells": n}
            name += f" (partial: {self.cells_done()} of {n} cells)"
        rid = int(project.add_run("sweep", name, settings, self.to_dict()))
        records = []
        for i, layer in enumerate(self.layers):
            site = site_name(self.site_kind, layer)
            for j, coef in enumerate(self.coefficients):
                if not self.is_computed(i, j):
                    continue
                extra: dict[str, Any] = {"sweep_run": rid}
                if self.spec.vector_site:
                    extra["vector_from"] = self.spec.vector_site
                if self.spec.positions != "all":
                    extra["positions"] = self.spec.positions
                if self.spec.weighting:
                    w = self.spec.weighting
                    extra["token_weights"] = {k: v for k, v in w.items() if k != "directions"}
                prov = text_generation_provenance(
                    model_ref, concept, [site], coef, self.spec.settings, extra
                )
                records += [
                    {
                        "medium": "text",
                        "prompt": prompt,
                        "baseline": self.baselines[p],
                        "steered": self.texts[i][j][p],
                        "provenance": prov,
                    }
                    for p, prompt in enumerate(self.prompts)
                ]
        project.add_generations(records)  # one transaction for all the cells
        return rid


def prompts_from_set(
    ps: Any,
    template: str | None = None,
    inputs: Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """``(prompts, answers)`` to sweep over from a prompt set: a demonstration set gives its
    zero-shot queries (in ``template``, default its own) with their expected outputs; any other
    kind gives its texts and no answers. ``inputs`` keeps only those demonstrations (e.g. the
    words a function vector held out)."""
    if ps.kind == "demonstrations":
        from workbench.concepts.prompt_sets import check_template

        used = check_template(template or ps.template, f"prompt set {ps.name!r}")
        head = used.split("{output}")[0]
        pairs = list(zip(ps.inputs, ps.outputs, strict=True))
        if inputs is not None:
            wanted = set(inputs)
            pairs = [(x, y) for x, y in pairs if x in wanted]
            if not pairs:
                raise PromptSetError(
                    f"none of the {len(wanted)} requested inputs is in the set {ps.name!r}."
                )
        prompts = [head.format(input=x).rstrip() for x, _ in pairs]
        answers = [y for _, y in pairs]
    elif inputs is not None or template is not None:
        raise PromptSetError(
            f"{ps.name!r} is a {ps.kind} set: a template or held-out inputs need a "
            "demonstrations set."
        )
    else:
        prompts, answers = ps.all_texts(), []
    return prompts, answers


@dataclass(frozen=True)
class SweepPrompts:
    """What a sweep over a prompt set runs on: prompts, expected answers (demonstration sets),
    where the vector is added, and a sentence saying so."""

    prompts: list[str]
    answers: list[str]
    positions: str = "all"
    note: str = ""


def sweep_prompts_for(concept: Concept, ps: Any) -> SweepPrompts:
    """The prompts to sweep ``concept`` over from set ``ps``, the way the concept is measured.

    A function vector on a demonstration set is swept as its held-out accuracy was measured:
    queries in the template it was built with, the vector at the last prompt token, and, when
    ``ps`` is the set it was made from, only the words it held out. Anything else: the set's
    own prompts (:func:`prompts_from_set`), the vector at every position.
    """
    recipe = concept.recipe if isinstance(concept.recipe, dict) else {}
    if ps.kind != "demonstrations" or recipe.get("method") != "function_vector":
        prompts, answers = prompts_from_set(ps)
        what = "queries" if answers else "prompts"
        return SweepPrompts(prompts, answers, "all", f"{len(prompts)} {what} of {ps.name}")
    made: dict[str, Any] = recipe["prompts"] if isinstance(recipe.get("prompts"), dict) else {}
    template = made.get("template") or None
    held = (recipe.get("held_out") or {}).get("words")
    same_set = made.get("name") == ps.name
    inputs = held if (held and same_set) else None
    prompts, answers = prompts_from_set(ps, template=template, inputs=inputs)
    which = (
        f"{len(prompts)} held-out queries of {ps.name}"
        if inputs
        else f"{len(prompts)} queries of {ps.name}"
        + (" (some were used to build it)" if same_set else "")
    )
    return SweepPrompts(
        prompts, answers, "last_prompt", f"{which}, in its template, at the last prompt token"
    )


def default_vector_site(concept: Concept, site_kind: str, layers: Sequence[int]) -> str | None:
    """The site whose vector to add at every swept layer when the concept has just one site and
    the sweep goes past it (a function vector, say); None when each layer has its own."""
    swept = [site_name(site_kind, L) for L in layers]
    if len(concept.sites) == 1 and any(s not in concept.vectors for s in swept):
        return concept.sites[0]
    return None


def _json(v: float) -> float | None:
    return None if v != v or v in (math.inf, -math.inf) else float(v)


def _default_rows(hm: HookedModel) -> int:
    return 256 if hm.device.type != "cpu" else 64


# ------------------------------------------------------------------- the job
BASE = -1  # the variant of an unsteered baseline row


@dataclass(frozen=True)
class SweepPlan:
    """How a sweep is cut into batches: ``rows`` are ``(variant, prompt)`` pairs, the unsteered
    baseline of each prompt first (variant ``BASE``), then every variant × prompt (variant
    ``v`` is layer ``v // C``, coefficient ``v % C``); ``chunks[c]`` lists the rows of batch
    ``c`` (``max_rows`` each, so the baseline shares the first batch)."""

    chunks: list[list[tuple[int, int]]]
    names: list[str]  # the metrics measured
    target_ids: list[int]
    steps_per_chunk: int  # progress steps of one batch: max_new_tokens + 1


def sweep_plan(hm: HookedModel, concept: Concept, spec: SteeringSweepSpec) -> SweepPlan:
    """Check ``spec`` and cut the sweep into batches (:class:`SweepPlan`)."""
    spec.check(hm, concept)
    L, C, P = len(spec.layers), len(spec.coefficients), len(spec.prompts)
    max_rows = spec.max_rows or _default_rows(hm)
    rows = [(BASE, p) for p in range(P)] + [(v, p) for v in range(L * C) for p in range(P)]
    chunks = [rows[i : i + max_rows] for i in range(0, len(rows), max_rows)]
    target_ids = target_token_ids(hm.tokenizer, spec.targets)
    names = ["kl"]
    if spec.fluency:
        names.append("base_perplexity_of_steered")
    if target_ids:
        names.append("target_logprob")
    if spec.answers:
        names.append("accuracy")
    return SweepPlan(chunks, names, target_ids, spec.settings.max_new_tokens + 1)


@dataclass
class ChunkOutput:
    """What one batch of a sweep produced, before any metric that needs the baseline: each
    row's text, new tokens, next-token log-probs after the prompt and (with fluency) the
    unsteered model's mean NLL of its continuation."""

    texts: list[str]
    token_ids: list[list[int]]
    logp: torch.Tensor  # [rows, vocab] float32
    nll: list[float]


def sweep_chunk_job(
    hm: HookedModel,
    concept: Concept,
    spec: SteeringSweepSpec,
    chunk: list[tuple[int, int]],
) -> Job[ChunkOutput]:
    """Generate one batch of a sweep (rows of :attr:`SweepPlan.chunks`); progress counts the
    ``max_new_tokens + 1`` generation steps."""
    s = spec.settings
    C = len(spec.coefficients)
    vectors = [concept.vector(spec.source_site(layer)) for layer in spec.layers]
    projection = (spec.weighting or {}).get("mode") == "projection"
    weights = [
        token_weights_from_dict(
            spec.weighting, spec.probe_direction(concept, layer) if projection else None
        )
        for layer in spec.layers
    ]
    by_variant: dict[int, list[int]] = {}
    for row, (v, _) in enumerate(chunk):
        if v != BASE:
            by_variant.setdefault(v, []).append(row)
    ivs = [
        AddVector(
            site_name(spec.site_kind, spec.layers[v // C]),
            positions=spec.positions,
            rows=rs,
            vector=vectors[v // C],
            coefficient=spec.coefficients[v % C],
            token_weights=weights[v // C],
        )
        for v, rs in by_variant.items()
    ]
    gen = generate_job(hm, [spec.prompts[p] for _, p in chunk], ivs, s, return_logits=1)
    out = yield from gen  # every step is a progress report and a point to cancel
    assert out.step_logits is not None  # return_logits=1 keeps the first step's
    # KL and target log-prob: the next-token distribution after the prompt.
    logp = torch.log_softmax(out.step_logits[0].float(), -1)  # [rows, vocab]
    nll: list[float] = []
    if spec.fluency:
        # Fluency: the unsteered model reading each continuation.
        prompt_ids = {
            p: hm.encode([spec.prompts[p]], chat=s.chat)["input_ids"][0] for _, p in chunk
        }
        with torch.no_grad():
            nll = _continuation_nll(
                hm, [(prompt_ids[p], out.token_ids[k]) for k, (_, p) in enumerate(chunk)]
            )
    return ChunkOutput(list(out.texts), [list(t) for t in out.token_ids], logp.cpu(), nll)


class SweepAccumulator:
    """Metrics and texts of a sweep, filled batch by batch in the plan's order."""

    def __init__(self, concept: Concept, spec: SteeringSweepSpec, plan: SweepPlan):
        self.concept, self.spec, self.plan = concept, spec, plan
        L, C, P = len(spec.layers), len(spec.coefficients), len(spec.prompts)
        self.L, self.C, self.P = L, C, P
        self.per_row: dict[str, dict[tuple[int, int], float]] = {k: {} for k in plan.names}
        self.texts: list[list[list[str]]] = [[[""] * P for _ in range(C)] for _ in range(L)]
        self.token_ids: list[list[list[list[int]]]] = [
            [[[] for _ in range(P)] for _ in range(C)] for _ in range(L)
        ]
        self.metrics = {k: [[math.nan] * C for _ in range(L)] for k in plan.names}
        self.base_texts: list[str] = [""] * P
        self.base_logp: dict[int, torch.Tensor] = {}  # prompt -> [vocab] next-token log-probs
        self.base_nll: dict[int, float] = {}

    def add(
        self, chunk: list[tuple[int, int]], out: ChunkOutput, done: float, total: float
    ) -> list[Progress]:
        """Take one batch's output; the progress reports (with payloads) it completes."""
        spec, names, P, C = self.spec, self.plan.names, self.P, self.C
        target_ids, logp, nll = self.plan.target_ids, out.logp, out.nll
        reports = []
        for k, (v, p) in enumerate(chunk):
            if v == BASE:
                self.base_texts[p], self.base_logp[p] = out.texts[k], logp[k]
                if spec.fluency:
                    self.base_nll[p] = nll[k]
        if chunk[0][0] == BASE and len(self.base_logp) == P:  # the last baseline row was here
            # (with the baseline's metrics, so a sweep stopped later keeps them too)
            payload = ("baseline", list(self.base_texts), self.baseline_metrics())
            reports.append(Progress(done, total, "baseline", payload=payload))
        for k, (v, p) in enumerate(chunk):
            if v == BASE:
                continue
            i, j = divmod(v, C)
            self.texts[i][j][p] = out.texts[k]
            self.token_ids[i][j][p] = list(out.token_ids[k])
            ref = self.base_logp[p]
            self.per_row["kl"][(v, p)] = float((logp[k].exp() * (logp[k] - ref)).sum())
            if spec.fluency:
                self.per_row["base_perplexity_of_steered"][(v, p)] = _exp(nll[k])
            if target_ids:
                self.per_row["target_logprob"][(v, p)] = float(logp[k, target_ids].mean())
            if spec.answers:
                self.per_row["accuracy"][(v, p)] = float(
                    answer_matches(out.texts[k], spec.answers[p])
                )
        # Cells whose every prompt is now done.
        for v in sorted({v for v, _ in chunk if v != BASE}):
            if all((v, p) in self.per_row["kl"] for p in range(P)):
                i, j = divmod(v, C)
                for name in names:
                    self.metrics[name][i][j] = cell_mean(
                        name, [self.per_row[name][(v, p)] for p in range(P)]
                    )
                cell = {name: self.metrics[name][i][j] for name in names}
                reports.append(
                    Progress(
                        done,
                        total,
                        f"layer {spec.layers[i]}, coefficient {spec.coefficients[j]:g}",
                        payload=("cell", i, j, list(self.texts[i][j]), cell),
                    )
                )
        return reports

    def baseline_metrics(self) -> dict[str, float]:
        """The unsteered rows' fluency, accuracy and target log-prob, averaged over prompts."""
        spec, P, target_ids = self.spec, self.P, self.plan.target_ids
        baseline_metrics: dict[str, float] = {}
        if spec.fluency:
            baseline_metrics["base_perplexity_of_steered"] = _mean(
                [_exp(self.base_nll[p]) for p in range(P)]
            )
        if spec.answers:
            baseline_metrics["accuracy"] = _mean(
                [float(answer_matches(self.base_texts[p], spec.answers[p])) for p in range(P)]
            )
        if target_ids:
            baseline_metrics["target_logprob"] = _mean(
                [float(self.base_logp[p][target_ids].mean()) for p in range(P)]
            )
        return baseline_metrics

    def result(self) -> SteeringSweepResult:
        baseline_metrics = self.baseline_metrics()
        spec = self.spec
        return SteeringSweepResult(
            spec,
            {"id": self.concept.id, "name": self.concept.name},
            self.base_texts,
            self.texts,
            self.metrics,
            baseline_metrics,
            self.token_ids,
        )


def sweep_chunks_job(
    hm: HookedModel,
    concept: Concept,
    spec: SteeringSweepSpec,
    share: tuple[int, int],
) -> Job[dict[int, ChunkOutput]]:
    """Part ``k`` of ``m`` of a sweep's batches (``k, k + m, …``): one cluster worker's share
    (:mod:`workbench.cluster`)."""
    plan = sweep_plan(hm, concept, spec)
    mine = list(range(len(plan.chunks)))[share[0] :: share[1]]
    total = len(mine) * plan.steps_per_chunk
    outs: dict[int, ChunkOutput] = {}
    for n, c in enumerate(mine):
        gen = sweep_chunk_job(hm, concept, spec, plan.chunks[c])
        done = n * plan.steps_per_chunk
        while True:
            try:
                r = next(gen)
            except StopIteration as stop:
                outs[c] = stop.value
                break
            yield Progress(done + r.done, total, r.message)
    return outs


def steering_sweep_job(
    hm: HookedModel, concept: Concept, spec: SteeringSweepSpec, cluster: Any = None
) -> Job[SteeringSweepResult]:
    """Run the sweep; yields token progress, and a ``("cell", i, j, texts, metrics)`` payload
    as each cell finishes (``("baseline", texts)`` once the unsteered rows are done).

    ``cluster``: a cluster address (``local:2``, ``ray://host:10001``, ``auto``) or an open
    :class:`workbench.cluster.Cluster`; the batches are split over its workers, with the same
    result (:mod:`workbench.cluster`).
    """
    if cluster is not None:
        from workbench.concepts.sweep_distributed import cluster_sweep_job

        return (yield from cluster_sweep_job(hm, concept, spec, cluster))
    plan = sweep_plan(hm, concept, spec)
    total = len(plan.chunks) * plan.steps_per_chunk
    acc = SweepAccumulator(concept, spec, plan)
    for c, chunk in enumerate(plan.chunks):
        gen = sweep_chunk_job(hm, concept, spec, chunk)
        done = c * plan.steps_per_chunk
        while True:  # every step is a progress report and a point to cancel
            try:
                r = next(gen)
            except StopIteration as stop:
                out = stop.value
                break
            yield Progress(done + r.done, total, r.message)
        yield from acc.add(chunk, out, done + plan.steps_per_chunk, total)
    return acc.result()


def _mean(values: list[float]) -> float:
    """Mean over prompts, leaving out NaN (an empty continuation has no perplexity)."""
    good = [x for x in values if x == x]
    return sum(good) / len(good) if good else math.nan


def cell_mean(metric: str, values: list[float]) -> float:
    """A cell's value: the mean over its prompts. Only fluency may leave a prompt out (an
    empty continuation has no perplexity); a NaN KL, log-prob or accuracy (a steered row that
    overflowed) makes the cell NaN, never a mean of the prompts that happened to survive."""
    if metric == "base_perplexity_of_steered":
        return _mean(values)
    return math.nan if any(x != x for x in values) else sum(values) / len(values)


def _exp(nll: float) -> float:
    return math.exp(nll) if nll == nll else math.nan


def _continuation_nll(
    hm: HookedModel, rows: list[tuple[torch.Tensor, list[int]]], budget: int = 1 << 25
) -> list[float]:
    """Mean negative log-likelihood of each row's continuation after its prompt under the
    unsteered model (NaN for an empty continuation): right-padded forwards of
    ``prompt + continuation``, in slices of at most ``budget`` logit values."""
    vocab = hm.model.get_output_embeddings().weight.shape[0]
    seqs = [torch.cat([pid.cpu(), torch.tensor(cont, dtype=pid.dtype)]) for pid, cont in rows]
    per = max(1, budget // max(1, max(len(x) for x in seqs) * vocab))
    pad = hm.tokenizer.pad_token_id if hm.tokenizer.pad_token_id is not None else 0
    out: list[float] = []
    for a in range(0, len(rows), per):
        part = seqs[a : a + per]
        width = max(len(x) for x in part)
        ids = torch.full((len(part), width), pad, dtype=part[0].dtype)
        attn = torch.zeros((len(part), width), dtype=torch.long)
        for k, x in enumerate(part):
            ids[k, : len(x)] = x
            attn[k, : len(x)] = 1
        logits = hm.forward(ids.to(hm.device), attn.to(hm.device), use_cache=False).logits
        for k in range(len(part)):
            pid, cont = rows[a + k]
            if not cont:
                out.append(math.nan)
                continue
            n = len(pid)
            lp = torch.log_softmax(logits[k, n - 1 : n - 1 + len(cont)].float(), -1)
            tgt = torch.tensor(cont, device=lp.device)[:, None]
            out.append(float(-lp.gather(-1, tgt).mean()))
    return out


def steering_sweep(
    hm: HookedModel, concept: Concept, spec: SteeringSweepSpec
) -> SteeringSweepResult:
    """Run :func:`steering_sweep_job` to the end (the notebook form)."""
    return run(steering_sweep_job(hm, concept, spec))
