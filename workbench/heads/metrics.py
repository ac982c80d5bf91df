"""The metric that ablation, patching and attribution scores measure: a function of the
last-token logits of each prompt, averaged over the prompt set.

``logit_diff``  logit(target) − logit(foil) (the default when foils are given)
``logit``       logit(target)
``logprob``     log p(target)
``prob``        p(target)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.errors import PromptSetError
from workbench.heads.data import TaskPrompts
from workbench.models.hooked import HookedModel

METRICS = ("logit_diff", "logit", "logprob", "prob")


@dataclass
class Metric:
    """Scores last-token logits ``[batch, vocab]`` of rows that hold prompts ``prompt_index``."""

    kind: str
    target_ids: torch.Tensor  # [n_prompts]
    foil_ids: torch.Tensor | None = None  # [n_prompts]

    def __post_init__(self) -> None:
        if self.kind not in METRICS:
            raise ValueError(f"unknown metric {self.kind!r}: use {', '.join(METRICS)}")
        if self.kind == "logit_diff" and self.foil_ids is None:
            raise PromptSetError("The logit-difference metric needs a foil for every prompt.")

    def per_row(self, logits: torch.Tensor, prompt_index: torch.Tensor) -> torch.Tensor:
        """``[batch]`` metric values (float32)."""
        logits = logits.float()
        rows = torch.arange(logits.shape[0], device=logits.device)
        t = self.target_ids.to(logits.device)[prompt_index.to(logits.device)]
        if self.kind == "logit_diff":
            f = self.foil_ids.to(logits.device)[prompt_index.to(logits.device)]  # type: ignore[union-attr]
            return logits[rows, t] - logits[rows, f]
        if self.kind == "logit":
            return logits[rows, t]
        lp = torch.log_softmax(logits, -1)[rows, t]
        return lp if self.kind == "logprob" else lp.exp()

    def mean(self, logits: torch.Tensor, prompt_index: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over rows (one row per prompt when ``prompt_index`` is None)."""
        if prompt_index is None:
            prompt_index = torch.arange(logits.shape[0])
        return self.per_row(logits, prompt_index).mean()


@dataclass
class EncodedTask:
    """A task tokenised once: clean (and corrupted) ids, masks, last positions, metric."""

    ids: torch.Tensor  # [n, pos]
    mask: torch.Tensor
    last: torch.Tensor  # [n] index of each prompt's last token
    metric: Metric
    corrupted_ids: torch.Tensor | None = None
    corrupted_mask: torch.Tensor | None = None
    corrupted_last: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])

    def corrupted(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ids, mask, last)`` of the corrupted prompts."""
        if self.corrupted_ids is None or self.corrupted_mask is None or self.corrupted_last is None:
            raise PromptSetError("Patching needs a corrupted prompt for every clean prompt.")
        return self.corrupted_ids, self.corrupted_mask, self.corrupted_last

    def same_lengths(self) -> bool:
        if self.corrupted_ids is None:
            return False
        ids, mask, _ = self.corrupted()
        return self.ids.shape == ids.shape and bool((self.mask.sum(-1) == mask.sum(-1)).all())


def default_metric(task: TaskPrompts) -> str:
    return "logit_diff" if task.foils is not None else "logit"


def encode_task(hm: HookedModel, task: TaskPrompts, metric: str | None = None) -> EncodedTask:
    """Tokenise a task's prompts (right padding) and targets."""
    metric = metric or default_metric(task)
    tok = hm.tokenizer
    targets = torch.tensor(task.target_ids(tok))
    foil_ids = task.foil_ids(tok)
    foils = torch.tensor(foil_ids) if foil_ids is not None else None
    enc = hm.encode(task.prompts)
    out = EncodedTask(
        enc["input_ids"],
        enc["attention_mask"],
        enc["attention_mask"].sum(-1) - 1,
        Metric(metric, targets, foils),
    )
    if task.corrupted is not None:
        c = hm.encode(task.corrupted)
        out.corrupted_ids, out.corrupted_mask = c["input_ids"], c["attention_mask"]
        out.corrupted_last = c["attention_mask"].sum(-1) - 1
    return out
