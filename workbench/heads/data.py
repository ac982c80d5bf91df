"""Inputs for head scores: random repeated tokens, ordinal sequences, in-context tasks, and
the task prompts (prompt, target, foil, corrupted prompt) that logit-based scores run on.

Built-in sets come from ``resources/prompt_sets`` (``ordinal``, ``antonyms``) through
:mod:`workbench.concepts.prompt_sets`. They ship with the package: when one is missing or
cannot be read, that is a broken installation and a :class:`PromptSetError` says so (there is
no silent fallback to other data, which would change every score computed from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from workbench.errors import PromptSetError


def ordinal_sequences() -> list[list[str]]:
    """Ordered sequences (number words, digits, days, months, letters) of the built-in
    ``ordinal`` set.

    Raises
    ------
    PromptSetError
        The built-in set is missing or unreadable (a broken installation).
    """
    from workbench.concepts.prompt_sets import builtin_set

    return [list(s) for s in builtin_set("ordinal").sequences]


def antonym_pairs() -> list[tuple[str, str]]:
    """(word, antonym) pairs of the built-in ``antonyms`` set (raises like
    :func:`ordinal_sequences`)."""
    from workbench.concepts.prompt_sets import builtin_set

    ps = builtin_set("antonyms")
    return list(zip(ps.inputs, ps.outputs, strict=True))


# ------------------------------------------------------------------ tokens
# Which token a word means is one rule for the whole engine: workbench.models.tokens.
def token_pool(tokenizer: Any) -> torch.Tensor:
    """Ids of ordinary (non-special) tokens to draw random sequences from."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    n = len(tokenizer)
    return torch.tensor([i for i in range(n) if i not in special])


def repeated_random_tokens(
    tokenizer: Any, n_seqs: int = 8, seq_len: int = 32, seed: int = 0, prefix: bool = True
) -> torch.Tensor:
    """Random tokens repeated twice: ``[n_seqs, prefix + 2 * seq_len]`` ids.

    Each half holds ``seq_len`` distinct ordinary tokens (drawn without replacement), so a
    token's only earlier duplicate is its copy in the first half. With ``prefix`` the rows start
    with the tokenizer's BOS token (or its first special token), which models use as an
    attention sink; the scores never count attention to it.
    """
    pool = token_pool(tokenizer)
    if seq_len > len(pool):
        raise PromptSetError(f"seq_len {seq_len} is larger than the {len(pool)} ordinary tokens.")
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n_seqs):
        half = pool[torch.randperm(len(pool), generator=g)[:seq_len]]
        rows.append(torch.cat([half, half]))
    ids = torch.stack(rows)
    if prefix:
        bos = tokenizer.bos_token_id
        if bos is None:
            bos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else int(pool[0])
        ids = torch.cat([torch.full((n_seqs, 1), int(bos)), ids], 1)
    return ids


# ------------------------------------------------------------- task prompts
@dataclass
class TaskPrompts:
    """Prompts whose next token is scored: ``targets[i]`` (and ``foils[i]``) after ``prompts[i]``.

    ``corrupted[i]`` is the prompt that activation patching patches into (same number of tokens
    as ``prompts[i]`` when every position is patched). Targets and foils are target words,
    read by the engine's one rule (:mod:`workbench.models.tokens`): with a leading space, scored
    by their first token (``"Paris"`` and ``" Paris"`` are the same target). With ``exact``
    they are exact continuations instead (an in-context task's answers, spaced as its template
    writes them), tokenised as given.
    """

    prompts: list[str]
    targets: list[str]
    foils: list[str] | None = None
    corrupted: list[str] | None = None
    name: str = ""
    exact: bool = False

    def target_ids(self, tokenizer: Any) -> list[int]:
        """The token each target means (see the class docstring)."""
        return [self._token(tokenizer, t) for t in self.targets]

    def foil_ids(self, tokenizer: Any) -> list[int] | None:
        return None if self.foils is None else [self._token(tokenizer, f) for f in self.foils]

    def _token(self, tokenizer: Any, text: str) -> int:
        from workbench.models.tokens import continuation_token_id, target_token_id

        return (continuation_token_id if self.exact else target_token_id)(tokenizer, text)

    def __post_init__(self) -> None:
        n = len(self.prompts)
        if n == 0:
            raise PromptSetError("The task has no prompts: add at least one.")
        for what, xs in (
            ("targets", self.targets),
            ("foils", self.foils),
            ("corrupted", self.corrupted),
        ):
            if xs is not None and len(xs) != n:
                raise PromptSetError(f"{len(xs)} {what} for {n} prompts: give one per prompt.")

    def __len__(self) -> int:
        return len(self.prompts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_records(cls, rows: Sequence[dict[str, Any]], name: str = "") -> TaskPrompts:
        """From ``[{"prompt", "target", "foil"?, "corrupted"?}, ...]``."""
        if not rows:
            raise PromptSetError("The task file has no rows.")
        try:
            prompts = [str(r["prompt"]) for r in rows]
            targets = [str(r["target"]) for r in rows]
        except KeyError as e:
            raise PromptSetError(f"every row needs 'prompt' and 'target' (missing {e}).") from None
        foils = [str(r["foil"]) for r in rows] if all("foil" in r for r in rows) else None
        corr = [str(r["corrupted"]) for r in rows] if all("corrupted" in r for r in rows) else None
        return cls(prompts, targets, foils, corr, name)


def successor_task(n: int = 16, window: int = 3) -> TaskPrompts:
    """Default contrast task: continue days or months, corrupted by the other sequence.

    Even rows: ``"Monday, Tuesday, Wednesday,"`` → `` Thursday``, corrupted by a months window
    of the same length (``"March, April, May,"``) whose answer (`` June``) is the foil; odd rows
    the other way round. Every item is one token, so clean and corrupted prompts have equal
    token counts (patching every position works).
    """
    seqs = ordinal_sequences()
    days = next((s for s in seqs if "Monday" in s), None)
    months = next((s for s in seqs if "January" in s), None)
    if days is None or months is None:
        raise PromptSetError(
            "the built-in 'ordinal' prompt set has no days or no months sequence; the "
            "installation's resources/prompt_sets/ordinal.json is damaged: reinstall."
        )
    prompts, targets, foils, corr = [], [], [], []
    for i in range(n):
        d = (i // 2) % (len(days) - window)
        m = (i * 5) % (len(months) - window)
        day = (", ".join(days[d : d + window]) + ",", " " + days[d + window])
        month = (", ".join(months[m : m + window]) + ",", " " + months[m + window])
        clean, other = (day, month) if i % 2 == 0 else (month, day)
        prompts.append(clean[0])
        targets.append(clean[1])
        corr.append(other[0])
        foils.append(other[1])
    return TaskPrompts(prompts, targets, foils, corr, name="successor_days_months")
