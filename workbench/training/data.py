"""Examples for the training loop and the metrics every learned intervention is judged by:
accuracy of the first answer token and its log-probability, the steering sweep's
``accuracy`` and ``target_logprob`` on a demonstration set's held-out queries.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from workbench.errors import PromptSetError
from workbench.heads.function_vector import ICLTask
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention
from workbench.models.tokens import continuation_token_id


@dataclass(frozen=True)
class Examples:
    """Prompts and the continuations to learn (teacher-forced over every answer token)."""

    prompts: tuple[str, ...]
    answers: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.prompts) != len(self.answers):
            raise PromptSetError(
                f"{len(self.answers)} answers for {len(self.prompts)} prompts: one each."
            )
        if not self.prompts:
            raise PromptSetError("There are no training examples.")

    def __len__(self) -> int:
        return len(self.prompts)

    @classmethod
    def zero_shot(cls, task: ICLTask) -> Examples:
        """The task's pairs as zero-shot queries (``Q: hot\\nA:``) and answers (`` cold``)."""
        return cls(
            tuple(task.query(x) for x, _ in task.pairs),
            tuple(task.answer(y) for _, y in task.pairs),
        )


def encode_examples(
    hm: HookedModel, prompts: Sequence[str], answers: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``prompt + answer`` ids, their mask, the label ids (``-100`` except on the
    answer tokens, shifted so ``labels[:, t]`` is predicted at ``t``) and each prompt's last
    position."""
    tok = hm.tokenizer
    rows, labels, lasts = [], [], []
    for p, a in zip(prompts, answers, strict=True):
        pi = hm.encode([p])["input_ids"][0].tolist()
        ai = tok(a, add_special_tokens=False)["input_ids"]
        if not ai:
            raise PromptSetError(f"The answer {a!r} has no tokens.")
        ids = pi + list(ai)
        rows.append(ids)
        # the token at t+1 is predicted at t: answer token k is predicted at len(pi) - 1 + k
        lab = [-100] * len(ids)
        for k, t in enumerate(ai):
            lab[len(pi) - 1 + k] = int(t)
        labels.append(lab)
        lasts.append(len(pi) - 1)
    width = max(len(r) for r in rows)
    pad = int(tok.pad_token_id if tok.pad_token_id is not None else 0)
    ids_t = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    lab_t = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (r, lab) in enumerate(zip(rows, labels, strict=True)):
        ids_t[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        lab_t[i, : len(lab)] = torch.tensor(lab)
    dev = hm.device
    return ids_t.to(dev), mask.to(dev), lab_t.to(dev), torch.tensor(lasts, device=dev)


def answer_loss(
    hm: HookedModel,
    prompts: Sequence[str],
    answers: Sequence[str],
    interventions: Sequence[Intervention] = (),
) -> torch.Tensor:
    """Mean cross-entropy of the answers' tokens after their prompts (differentiable)."""
    ids, mask, labels, _ = encode_examples(hm, prompts, answers)
    logits = hm.forward(ids, mask, interventions, use_cache=False).logits
    return torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
    )


@torch.no_grad()
def answer_metrics(
    hm: HookedModel,
    prompts: Sequence[str],
    answers: Sequence[str],
    interventions: Sequence[Intervention] = (),
    batch_size: int = 32,
) -> dict[str, float]:
    """``accuracy``: the fraction of prompts whose top next token is the answer's first token;
    ``target_logprob``: the mean log-probability of that token (the sweep's two metrics)."""
    if not prompts:
        raise PromptSetError("No prompts to measure on.")
    hits, lp = 0, 0.0
    for s in range(0, len(prompts), batch_size):
        ps = list(prompts[s : s + batch_size])
        want = torch.tensor(
            [continuation_token_id(hm.tokenizer, a) for a in answers[s : s + batch_size]]
        )
        enc = hm.encode(ps)
        last = enc["attention_mask"].sum(-1) - 1
        out = hm.forward(enc["input_ids"], enc["attention_mask"], interventions, use_cache=False)
        logits = out.logits[torch.arange(len(ps)), last].float().cpu()
        hits += int((logits.argmax(-1) == want).sum())
        lp += float(torch.log_softmax(logits, -1)[torch.arange(len(ps)), want].sum())
    return {"accuracy": hits / len(prompts), "target_logprob": lp / len(prompts)}


def few_shot_prompts(
    train: ICLTask, test: ICLTask, n_shots: int = 5, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Each held-out query behind ``n_shots`` demonstrations drawn from the training pairs."""
    if len(train.pairs) < n_shots:
        raise PromptSetError(
            f"{n_shots} shots need {n_shots} training pairs; the split has {len(train.pairs)}."
        )
    rng = random.Random(seed)
    prompts = [train.prompt(rng.sample(train.pairs, n_shots), x) for x, _ in test.pairs]
    return prompts, [test.answer(y) for _, y in test.pairs]


def task_from(source: Any, template: str | None = None) -> ICLTask:
    """An :class:`ICLTask` from a demonstrations prompt set, its name or an ICLTask (in the
    function vectors' Q/A format unless ``template`` says otherwise)."""
    from workbench.heads.function_vector import FV_SEPARATOR, FV_TEMPLATE

    if isinstance(source, ICLTask):
        return source
    if isinstance(source, str):
        from workbench.concepts.prompt_sets import resolve_prompt_set

        source = resolve_prompt_set(source, "demonstrations")
    return ICLTask.from_prompt_set(source, template or FV_TEMPLATE, FV_SEPARATOR)
