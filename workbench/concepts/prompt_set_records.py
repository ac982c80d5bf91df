"""How a :class:`~workbench.concepts.prompt_sets.PromptSet` is kept in a project: one dict per
prompt (``items``) and what the set says about itself (``meta``: poles, demonstration template
and separator, description), in the ``prompt_sets`` table's own columns.

The window's prompt editor, the command line and the notebook API all go through these two
functions (via :meth:`Project.save_prompt_set` / :meth:`Project.load_prompt_set`), so the
format has one owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from workbench.concepts.prompt_sets import PromptSet
from workbench.errors import PromptSetError

# The keys of one stored item, per prompt-set kind.
ITEM_KEYS: dict[str, tuple[str, ...]] = {
    "contrastive": ("positive", "negative"),
    "labelled": ("text", "label"),
    "plain": ("text",),
    "demonstrations": ("input", "output"),
    "ordinal": ("sequence",),
}
META_KEYS = ("poles", "template", "separator", "description")


def to_items(ps: PromptSet) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(items, meta)``: what the project stores for ``ps``."""
    if ps.kind == "contrastive":
        items: list[dict[str, Any]] = [
            {"positive": p, "negative": n} for p, n in zip(ps.positive, ps.negative, strict=True)
        ]
    elif ps.kind == "labelled":
        items = [{"text": t, "label": lab} for t, lab in zip(ps.texts, ps.labels, strict=True)]
    elif ps.kind == "demonstrations":
        items = [{"input": i, "output": o} for i, o in zip(ps.inputs, ps.outputs, strict=True)]
    elif ps.kind == "ordinal":
        items = [{"sequence": [t.strip() for t in s]} for s in ps.sequences]
    else:
        items = [{"text": t} for t in ps.texts]
    meta = {
        "poles": list(ps.poles),
        "template": ps.template,
        "separator": ps.separator,
        "description": ps.description,
    }
    return items, meta


def from_items(
    name: str,
    kind: str,
    items: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any] | None = None,
    source: str = "",
) -> PromptSet:
    """The prompt set stored as ``items`` and ``meta``.

    Cells are stripped, and an item with an empty cell is left out (the editor saves its blank
    rows).

    Raises
    ------
    PromptSetError
        An unknown kind, or nothing usable left.
    """
    if kind not in ITEM_KEYS:
        raise PromptSetError(
            f"prompt set {name!r} has kind {kind!r}; use one of {', '.join(ITEM_KEYS)}."
        )
    keys = ITEM_KEYS[kind]
    if kind == "ordinal":
        seqs = [[str(t).strip() for t in (i.get("sequence") or [])] for i in items]
        rows = [[t for t in s if t] for s in seqs]
        kw: dict[str, Any] = {"sequences": [r for r in rows if r]}
    else:
        cells = [[str(i.get(k, "")).strip() for k in keys] for i in items]
        cells = [r for r in cells if all(r)]
        if kind == "contrastive":
            kw = {"positive": [r[0] for r in cells], "negative": [r[1] for r in cells]}
        elif kind == "labelled":
            kw = {"texts": [r[0] for r in cells], "labels": [r[1] for r in cells]}
        elif kind == "demonstrations":
            kw = {"inputs": [r[0] for r in cells], "outputs": [r[1] for r in cells]}
        else:
            kw = {"texts": [r[0] for r in cells]}
    meta = dict(meta or {})
    extra: dict[str, Any] = {
        k: meta[k] for k in ("template", "separator", "description") if k in meta
    }
    if "poles" in meta:
        extra["poles"] = tuple(meta["poles"])
    ps = PromptSet(name, kind, source=source, **kw)  # checked before the meta lands on it
    return replace(ps, **extra) if extra else ps
