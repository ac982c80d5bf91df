"""Prompt sets between the engine (:class:`workbench.concepts.prompt_sets.PromptSet`), the
project store (``Project.save_prompt_set``, a :class:`~workbench.store.PromptSetInfo` back) and
the editor's table rows. Qt-free."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

COLUMNS = {
    "contrastive": ("positive", "negative"),
    "labelled": ("text", "label"),
    "plain": ("text",),
    "demonstrations": ("input", "output"),
    "ordinal": ("sequence",),
}
KIND_TIPS = {
    "contrastive": "Pairs of a positive and a negative prompt (for difference of means, PCA, CAA).",
    "labelled": "Texts with a class label (for probes).",
    "plain": "Plain prompts (for the mean activation).",
    "demonstrations": "Input → output examples of a task (for in-context / task vectors).",
    "ordinal": "Ordered sequences, comma-separated (Monday, Tuesday, …) for successor heads.",
}


def rows_of(ps: Any) -> list[list[str]]:
    """Table rows of a PromptSet, one list of cells per item."""
    k = ps.kind
    if k == "contrastive":
        return [[p, n] for p, n in zip(ps.positive, ps.negative, strict=False)]
    if k == "labelled":
        return [[t, lab] for t, lab in zip(ps.texts, ps.labels, strict=False)]
    if k == "demonstrations":
        return [[i, o] for i, o in zip(ps.inputs, ps.outputs, strict=False)]
    if k == "ordinal":
        return [[", ".join(s)] for s in ps.sequences]
    return [[t] for t in ps.texts]


def from_rows(name: str, kind: str, rows: list[list[str]], base: Any = None) -> Any:
    """A PromptSet from table rows (rows with an empty cell are left out). Raises
    PromptSetError when nothing usable is left."""
    from workbench.concepts.prompt_sets import PromptSet

    rows = [[c.strip() for c in r] for r in rows]
    rows = [r for r in rows if r and all(r[: len(COLUMNS[kind])])]
    kw: dict[str, Any] = {}
    if kind == "contrastive":
        kw = {"positive": [r[0] for r in rows], "negative": [r[1] for r in rows]}
    elif kind == "labelled":
        kw = {"texts": [r[0] for r in rows], "labels": [r[1] for r in rows]}
    elif kind == "demonstrations":
        kw = {"inputs": [r[0] for r in rows], "outputs": [r[1] for r in rows]}
    elif kind == "ordinal":
        kw = {"sequences": [[t.strip() for t in r[0].split(",") if t.strip()] for r in rows]}
    else:
        kw = {"texts": [r[0] for r in rows]}
    if base is not None and base.kind == kind:
        return replace(base, name=name, **kw)
    return PromptSet(name, kind, **kw)


def from_store(rec: Any) -> Any:
    """A PromptSet from a stored set (a :class:`workbench.store.PromptSetInfo`); the format is
    the engine's (:mod:`workbench.concepts.prompt_set_records`).

    Raises
    ------
    PromptSetError
        The stored set is not usable (the caller names it to the user; it is not hidden).
    """
    from workbench.concepts.prompt_set_records import from_items

    return from_items(rec.name, rec.kind, rec.items, rec.meta, rec.source)
