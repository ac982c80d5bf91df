"""Picking heads and acting on them.

A :class:`HeadSet` is a named list of ``(layer, head)`` with the model and the score it came
from; :func:`top_k` makes one from a :class:`HeadScores`, :func:`compare_head_sets` measures
the overlap of two (Circuit Component Reuse), and the ``*_interventions`` functions turn a set
into interventions for :func:`workbench.models.generation.steered_generate`: ablate the heads,
add an offset at their outputs, or scale their attention to the first token (ZeroTuning).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from workbench.heads.result import HeadScores
from workbench.models.interventions import AblateHeads, HeadOffset, Intervention, ScaleAttention
from workbench.models.sites import head_z, pattern

FORMAT = "workbench.head_set"
FORMAT_VERSION = 1


@dataclass
class HeadSet:
    """A named set of heads of one model.

    Attributes
    ----------
    name
        Display name (e.g. ``"antonyms: top 10 function-vector heads"``).
    model
        The model's name (``ModelRef.name``).
    heads
        ``(layer, head)`` pairs, in the order chosen (best first when from a score).
    source
        What picked them, e.g. ``"induction top-10"`` or ``"manual"``.
    scores
        The score of each head when it came from one.
    """

    name: str
    model: str
    heads: list[tuple[int, int]]
    source: str = "manual"
    scores: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.heads = [(int(L), int(h)) for L, h in self.heads]

    def __len__(self) -> int:
        return len(self.heads)

    def __iter__(self):
        return iter(self.heads)

    def by_layer(self) -> dict[int, list[int]]:
        """``layer -> [head, ...]`` in layer order."""
        out: dict[int, list[int]] = {}
        for L, h in sorted(self.heads):
            out.setdefault(L, []).append(h)
        return out

    def labels(self) -> list[str]:
        return [f"L{L}H{h}" for L, h in self.heads]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "name": self.name, "model": self.model,
            "heads": [list(x) for x in self.heads], "source": self.source, "scores": self.scores,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadSet:
        return cls(
            d["name"],
            d.get("model", ""),
            [tuple(x) for x in d["heads"]],
            d.get("source", "manual"),
            list(d.get("scores", [])),
        )

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> HeadSet:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def top_k(
    scores: HeadScores, k: int = 10, order: str = "highest", name: str | None = None
) -> HeadSet:
    """The ``k`` best heads of a score as a :class:`HeadSet` (``order``: highest, lowest, abs)."""
    top = scores.top(k, order)
    model = str(scores.model.get("name", ""))
    src = f"{scores.kind} top-{k} ({order})"
    return HeadSet(name or src, model, [(L, h) for L, h, _ in top], src, [v for _, _, v in top])


def parse_heads(text: str) -> list[tuple[int, int]]:
    """``"L9H3, 12.4 14:0"`` → ``[(9, 3), (12, 4), (14, 0)]``."""
    import re

    out = []
    for m in re.finditer(r"L?(\d+)\s*(?:[.:/]|H)\s*(\d+)", text, re.IGNORECASE):
        out.append((int(m.group(1)), int(m.group(2))))
    if not out:
        raise ValueError(f"no heads in {text!r}: write them like L9H3,L12H4")
    return out


@dataclass(frozen=True)
class HeadSetComparison:
    """Overlap of two head sets."""

    a: str
    b: str
    shared: list[tuple[int, int]]
    only_a: list[tuple[int, int]]
    only_b: list[tuple[int, int]]
    jaccard: float  # |A ∩ B| / |A ∪ B|
    overlap: float  # |A ∩ B| / min(|A|, |B|)  (Circuit Component Reuse's "shared fraction")

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "shared": [list(x) for x in self.shared],
            "only_a": [list(x) for x in self.only_a], "only_b": [list(x) for x in self.only_b],
            "jaccard": self.jaccard, "overlap": self.overlap,
        }  # fmt: skip


def compare_head_sets(a: HeadSet, b: HeadSet) -> HeadSetComparison:
    """Shared heads, Jaccard index and overlap coefficient of two head sets."""
    A, B = set(a.heads), set(b.heads)
    shared, union = A & B, A | B
    return HeadSetComparison(
        a.name, b.name, sorted(shared), sorted(A - B), sorted(B - A),
        len(shared) / len(union) if union else 0.0,
        len(shared) / min(len(A), len(B)) if A and B else 0.0,
    )  # fmt: skip


# ---------------------------------------------------------------- acting
def _heads(heads: HeadSet | Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    hs = heads if isinstance(heads, HeadSet) else HeadSet("", "", list(heads))
    return hs.by_layer()


def ablation_interventions(
    heads: HeadSet | Iterable[tuple[int, int]],
    mode: str = "zero",
    means: dict[int, torch.Tensor] | None = None,
) -> list[Intervention]:
    """Zero- or mean-ablate the heads (one :class:`AblateHeads` per layer).

    ``means``: ``layer -> [head, d_head]`` mean z (e.g. from
    :func:`workbench.heads.ablation.reference_pass` with ``z="mean"``) for ``mode="mean"``.
    """
    out: list[Intervention] = []
    for L, hs in _heads(heads).items():
        mean = None if means is None else means[L]
        out.append(AblateHeads(head_z(L), heads=hs, mode=mode, mean=mean))
    return out


def offset_interventions(
    heads: HeadSet | Iterable[tuple[int, int]],
    offsets: torch.Tensor | dict[tuple[int, int], torch.Tensor],
    coefficient: float = 1.0,
    positions: Any = "all",
) -> list[Intervention]:
    """Add an offset vector to each head's output z (LoFiT-style), times ``coefficient``.

    ``offsets``: one ``[d_head]`` vector for every head, or ``(layer, head) -> [d_head]``.
    """
    out: list[Intervention] = []
    for L, hs in _heads(heads).items():
        if isinstance(offsets, dict):
            off = torch.stack([offsets[(L, h)] for h in hs])
        else:
            off = offsets
        out.append(
            HeadOffset(
                head_z(L), positions=positions, heads=hs, offset=off, coefficient=coefficient
            )
        )
    return out


def zero_tuning_interventions(
    heads: HeadSet | Iterable[tuple[int, int]], factor: float, key_position: int = 0
) -> list[Intervention]:
    """Scale the heads' attention to ``key_position`` (the first token) by ``factor`` and
    renormalise (ZeroTuning)."""
    return [
        ScaleAttention(pattern(L), heads=hs, key_position=key_position, factor=factor)
        for L, hs in _heads(heads).items()
    ]


def head_sets_from_scores(scores: Sequence[HeadScores], k: int = 10) -> list[HeadSet]:
    """The top-``k`` set of each score (handy before :func:`compare_head_sets`)."""
    return [top_k(s, k) for s in scores]
