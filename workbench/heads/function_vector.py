"""Function vectors (Todd et al. 2024): a task's direction built from a few heads' outputs.

1. In-context prompts: ``n_shots`` demonstrations of the task (``hot -> cold``), then a query.
2. Choose heads by their average indirect effect (:func:`fv_head_scores_job`): the probability
   of the right answer on prompts whose demonstrations have *shuffled* answers, when the head's
   mean output on clean prompts (last token) is patched in — or bring any :class:`HeadSet`.
3. The function vector is the sum over the chosen heads of their mean output at the last token
   of the clean prompts, projected through ``W_O`` (each head's contribution to the residual
   stream): ``FV = Σ_{(L,h)} mean_prompts(z_{L,h}) @ W_O[L, h]`` ``[d_model]``.
4. It is added (times a coefficient) to ``blocks.{layer}.hook_resid_post`` at the last token of
   zero-shot prompts (``hot ->``); Todd et al. use a layer around ``n_layers / 3``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.concepts.concept import RECIPE_VERSION, Concept, ModelRef
from workbench.errors import PromptSetError
from workbench.heads._model import blockwise_job, head_outputs
from workbench.heads.ablation import patching_scores_job, reference_pass
from workbench.heads.data import TaskPrompts, antonym_pairs
from workbench.heads.headset import HeadSet
from workbench.heads.result import HeadScores
from workbench.jobs import Job, Progress, in_stages
from workbench.models.hooked import HookedModel
from workbench.models.interventions import AddVector
from workbench.models.sites import resid_post
from workbench.models.tokens import continuation_token_id

# The demonstration format function vectors are built and measured in, by the window, the CLI
# and the API alike (Todd et al.'s Q/A format: with a bare ``x -> y`` template SmolLM2-135M
# answers a zero-shot query with a space whatever is added).
FV_TEMPLATE = "Q: {input}\nA: {output}"
FV_SEPARATOR = "\n\n"
FV_PROMPTS = 24  # in-context prompts whose head outputs are averaged


@dataclass
class ICLTask:
    """An in-context task: ``(input, output)`` pairs and how a demonstration is written."""

    name: str
    pairs: list[tuple[str, str]]
    template: str = "Q: {input}\nA: {output}"
    separator: str = "\n\n"

    def __post_init__(self) -> None:
        from workbench.concepts.prompt_sets import check_template

        check_template(self.template, f"task {self.name!r}")

    @classmethod
    def antonyms(cls) -> ICLTask:
        """The built-in antonym pairs in Todd et al.'s ``Q: x / A: y`` format. (With the prompt
        set's own ``x -> y`` template, SmolLM2-135M answers a zero-shot ``hot ->`` with a space
        token whatever is added; the Q/A format gives the vector something to act on.)"""
        return cls("antonyms", antonym_pairs())

    @classmethod
    def from_prompt_set(
        cls, ps: Any, template: str | None = None, separator: str | None = None
    ) -> ICLTask:
        """The task of a ``demonstrations`` prompt set, in ``template`` (default: the set's)."""
        if ps.kind != "demonstrations":
            raise PromptSetError(
                f"{ps.name!r} is a {ps.kind} set: a function vector needs a demonstrations set "
                "(input, output pairs)."
            )
        return cls(
            ps.name,
            list(zip(ps.inputs, ps.outputs, strict=True)),
            template or ps.template,
            separator or ps.separator,
        )

    def query(self, x: str) -> str:
        """A zero-shot prompt: the template up to the output, e.g. ``"hot ->"``."""
        return self.template.split("{output}")[0].format(input=x).rstrip()

    def answer(self, y: str) -> str:
        """The continuation the model should produce (with the space the template puts)."""
        head = self.template.split("{output}")[0]
        return (" " + y) if head.endswith(" ") else y

    def prompt(self, demos: Sequence[tuple[str, str]], x: str) -> str:
        shots = [self.template.format(input=a, output=b) for a, b in demos]
        return self.separator.join([*shots, self.query(x)])

    def split(self, test_fraction: float = 0.3, seed: int = 0) -> tuple[ICLTask, ICLTask]:
        """(train, held-out) split of the pairs."""
        idx = list(range(len(self.pairs)))
        random.Random(seed).shuffle(idx)
        k = max(1, round(len(idx) * test_fraction))
        if k >= len(idx):
            raise PromptSetError(f"task {self.name!r} has too few pairs to hold some out.")

        def pick(ii: list[int], part: str) -> ICLTask:
            pairs = [self.pairs[i] for i in sorted(ii)]
            return ICLTask(f"{self.name}:{part}", pairs, self.template, self.separator)

        return pick(idx[k:], "train"), pick(idx[:k], "test")


def icl_prompts(task: ICLTask, n_prompts: int = 24, n_shots: int = 5, seed: int = 0) -> TaskPrompts:
    """Few-shot prompts with targets; ``corrupted`` holds the same prompts with the
    demonstrations' answers shuffled (Todd et al.'s corrupted context)."""
    if len(task.pairs) < n_shots + 1:
        raise PromptSetError(
            f"task {task.name!r} has {len(task.pairs)} pairs; {n_shots} shots need {n_shots + 1}."
        )
    rng = random.Random(seed)
    prompts, targets, corrupted = [], [], []
    for _ in range(n_prompts):
        chosen = rng.sample(task.pairs, n_shots + 1)
        demos, (x, y) = chosen[:-1], chosen[-1]
        outs = [b for _, b in demos]
        shuffled = outs[:]
        for _ in range(10):
            rng.shuffle(shuffled)
            if all(s != o for s, o in zip(shuffled, outs, strict=True)):
                break
        prompts.append(task.prompt(demos, x))
        corrupted.append(
            task.prompt([(a, s) for (a, _), s in zip(demos, shuffled, strict=True)], x)
        )
        targets.append(task.answer(y))
    return TaskPrompts(
        prompts, targets, corrupted=corrupted, name=f"{task.name} {n_shots}-shot", exact=True
    )


def fv_head_scores_job(
    hm: HookedModel, prompts: TaskPrompts, max_rows: int | None = None
) -> Job[HeadScores]:
    """Average indirect effect of each head (Todd et al.): p(answer) on shuffled-answer prompts
    with the head's mean clean output patched at the last token, minus p(answer) without."""
    job = patching_scores_job(
        hm,
        prompts,
        metric="prob",
        positions="last",
        source="mean",
        normalize=False,
        max_rows=max_rows,
    )
    # Three passes one after the other, each counting from 0: reported as one 0-100 % scale.
    res = yield from in_stages(job, ("clean run", "corrupted run", "patches"))
    res.kind = "function_vector"
    res.settings["kind"] = "function_vector"
    return res


@dataclass
class FunctionVector:
    """A function vector and where it came from."""

    vector: torch.Tensor  # [d_model]
    layer: int
    heads: list[tuple[int, int]]
    head_vectors: torch.Tensor  # [len(heads), d_model]
    task: str
    prompts: list[str]
    model: ModelRef
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def site(self) -> str:
        return resid_post(self.layer)

    def interventions(
        self, coefficient: float = 1.0, layer: int | None = None, positions: Any = "last_prompt"
    ) -> list[AddVector]:
        """Add the vector at ``blocks.{layer}.hook_resid_post`` (default: the chosen layer)."""
        site = resid_post(self.layer if layer is None else layer)
        return [AddVector(site, positions=positions, vector=self.vector, coefficient=coefficient)]

    def to_concept(self, name: str | None = None, coefficient: float = 1.0) -> Concept:
        """A :class:`Concept` at ``blocks.{layer}.hook_resid_post`` whose recipe records the
        heads, task, prompts, layer and the coefficient to use."""
        recipe = {
            "method": "function_vector",
            "version": RECIPE_VERSION,
            "heads": [list(h) for h in self.heads],
            "task": self.task,
            "prompts": self.prompts,
            "layer": self.layer,
            "site": self.site,
            "position": "last_prompt",
            "coefficient": coefficient,
            **self.settings,
        }
        desc = f"Function vector of {self.task} from {len(self.heads)} heads, added at {self.site} (last token)."
        return Concept(
            name or f"fv:{self.task}",
            {self.site: self.vector.detach().float().cpu().clone()},
            self.model,
            recipe,
            description=desc,
        )


def function_vector_job(
    hm: HookedModel,
    heads: HeadSet | Sequence[tuple[int, int]],
    prompts: TaskPrompts,
    layer: int | None = None,
    task_name: str = "",
) -> Job[FunctionVector]:
    """Build a function vector from ``heads``' mean outputs at the last token of ``prompts``.

    Parameters
    ----------
    heads
        The chosen heads (e.g. :func:`top_k` of :func:`fv_head_scores_job`).
    prompts
        Clean in-context prompts (:func:`icl_prompts`).
    layer
        Where it will be added (default ``n_layers // 3``).
    """
    hs = list(heads.heads if isinstance(heads, HeadSet) else heads)
    if not hs:
        raise ValueError("choose at least one head")
    layer = hm.n_layers // 3 if layer is None else int(layer)
    yield Progress(0, 1, "mean head outputs")
    enc = hm.encode(prompts.prompts)
    last = enc["attention_mask"].sum(-1) - 1
    ref = yield from blockwise_job(  # a cancel reaches this pass at the next block
        hm,
        lambda: reference_pass(hm, enc["input_ids"], enc["attention_mask"], last, z="last"),
        "mean head outputs",
    )
    vecs = []
    for L, h in hs:
        mean_z = ref.z[L].float().mean(0)  # [head, d_head]
        vecs.append(head_outputs(hm, mean_z.to(hm.dtype), L)[h].float().cpu())
    head_vectors = torch.stack(vecs)
    yield Progress(1, 1, "done")
    settings = {"n_prompts": len(prompts), "prompt_set": prompts.name}
    return FunctionVector(
        head_vectors.sum(0),
        layer,
        hs,
        head_vectors,
        task_name or prompts.name,
        list(prompts.prompts),
        hm.ref,
        settings,
    )


@torch.no_grad()
def zero_shot_accuracy(
    hm: HookedModel,
    task: ICLTask,
    vector: torch.Tensor | None = None,
    layer: int = 0,
    coefficient: float = 1.0,
    batch_size: int = 32,
) -> float:
    """Fraction of the task's pairs whose zero-shot prompt's top next token is the answer's
    first token, with ``vector`` added at ``blocks.{layer}.hook_resid_post`` (last token)."""
    queries = [task.query(x) for x, _ in task.pairs]
    answers = torch.tensor(
        [continuation_token_id(hm.tokenizer, task.answer(y)) for _, y in task.pairs]
    )
    ivs = (
        []
        if vector is None
        else [
            AddVector(
                resid_post(layer), positions="last_prompt", vector=vector, coefficient=coefficient
            )
        ]
    )
    hits = 0
    for s in range(0, len(queries), batch_size):
        enc = hm.encode(queries[s : s + batch_size])
        last = enc["attention_mask"].sum(-1) - 1
        logits = hm.forward(enc["input_ids"], enc["attention_mask"], ivs, use_cache=False).logits
        pred = logits[torch.arange(len(last)), last].argmax(-1).cpu()
        hits += int((pred == answers[s : s + batch_size]).sum())
    return hits / len(queries)


def sweep_function_vector_job(
    hm: HookedModel,
    fv: FunctionVector,
    task: ICLTask,
    layers: Sequence[int],
    coefficients: Sequence[float],
) -> Job[dict[str, Any]]:
    """Zero-shot accuracy for every layer × coefficient (and the unsteered baseline)."""
    grid = torch.zeros(len(layers), len(coefficients))
    total = len(layers) * len(coefficients)
    base = zero_shot_accuracy(hm, task)
    yield Progress(0, total, "layer × coefficient")
    for i, L in enumerate(layers):
        for j, c in enumerate(coefficients):
            grid[i, j] = zero_shot_accuracy(hm, task, fv.vector, L, c)
            yield Progress(i * len(coefficients) + j + 1, total, f"layer {L} × {c}")
    flat = int(grid.argmax())
    best = (list(layers)[flat // len(coefficients)], list(coefficients)[flat % len(coefficients)])
    return {
        "baseline": base,
        "layers": list(layers),
        "coefficients": list(coefficients),
        "accuracy": grid.tolist(),
        "best_layer": best[0],
        "best_coefficient": best[1],
        "best_accuracy": float(grid.max()),
    }


HELD_OUT_FRACTION = 0.3


@dataclass
class FunctionVectorResult:
    """A function-vector concept and its held-out accuracy.

    ``accuracy``: ``zero_shot`` and ``with_fv`` on the held-out words (empty when not
    measured); ``held_out``: how many words that is. ``search``: the layer × coefficient
    search on the training words, when one was run.
    """

    concept: Concept
    function_vector: FunctionVector
    layer: int
    coefficient: float
    heads: list[tuple[int, int]]
    accuracy: dict[str, float]
    held_out: int
    train: int
    search: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "concept": self.concept.name,
            "heads": [list(h) for h in self.heads],
            "layer": self.layer,
            "coefficient": self.coefficient,
            "held_out_words": self.held_out,
            "training_words": self.train,
            "zero_shot_accuracy": self.accuracy.get("zero_shot"),
            "with_function_vector": self.accuracy.get("with_fv"),
            "norm": float(self.function_vector.vector.norm()),
            **({"search_on_training_words": self.search} if self.search is not None else {}),
        }


def function_vector_concept_job(
    hm: HookedModel,
    heads: HeadSet | Sequence[tuple[int, int]],
    task: ICLTask,
    n_prompts: int = FV_PROMPTS,
    n_shots: int = 5,
    layer: int | None = None,
    name: str = "",
    coefficient: float = 1.0,
    measure: bool = True,
    seed: int = 0,
    search_layers: Sequence[int] = (),
    search_coefficients: Sequence[float] = (),
    test_fraction: float = HELD_OUT_FRACTION,
) -> Job[FunctionVectorResult]:
    """A function-vector concept, the one recipe the window, the CLI and the API share.

    The task's pairs are split (``test_fraction`` held out, seeded). In-context prompts are
    built from the training pairs only, and the vector from ``heads``' mean outputs on them.
    With ``search_layers`` × ``search_coefficients`` the best setting on the *training* words
    is chosen. Accuracy (zero-shot, and with the vector) is measured on the held-out words,
    which the vector never saw.
    """
    train, test = task.split(test_fraction, seed)
    prompts = icl_prompts(train, n_prompts, n_shots, seed)
    fv = yield from function_vector_job(hm, heads, prompts, layer, task.name)
    search = None
    if search_layers and search_coefficients:
        search = yield from sweep_function_vector_job(
            hm, fv, train, list(search_layers), [float(c) for c in search_coefficients]
        )
        fv.layer, coefficient = int(search["best_layer"]), float(search["best_coefficient"])
    concept = fv.to_concept(name or None, coefficient)
    concept.recipe["prompts"] = {
        "name": task.name,
        "kind": "demonstrations",
        "texts": list(fv.prompts),
        "n_shots": n_shots,
        "template": task.template,
        "seed": seed,
    }
    concept.recipe["held_out"] = {
        "fraction": test_fraction,
        "seed": seed,
        "words": [x for x, _ in test.pairs],
    }
    acc: dict[str, float] = {}
    if measure:
        yield Progress(0, 2, "zero-shot accuracy on held-out words")
        acc["zero_shot"] = zero_shot_accuracy(hm, test)
        yield Progress(1, 2, "held-out accuracy with the function vector")
        acc["with_fv"] = zero_shot_accuracy(hm, test, fv.vector, fv.layer, coefficient)
        yield Progress(2, 2, "done")
        concept.recipe["held_out"].update(acc)
    return FunctionVectorResult(
        concept,
        fv,
        fv.layer,
        coefficient,
        list(fv.heads),
        acc,
        len(test.pairs),
        len(train.pairs),
        search,
    )
