"""The vector canvas as a plain model (no Qt): signed terms, groups, normalise, project out.

It turns into an expression tree of :mod:`workbench.concepts.algebra` (the same tree that
``parse`` gives for the text shown under the canvas), and into a JSON layout for the project.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from psygnal import Signal

GROUPS = ("", "A", "B", "C", "D")


@dataclass(frozen=True)
class CanvasTerm:
    concept: str
    coefficient: float = 1.0
    group: str = ""  # "" = on its own
    normalize: bool = False
    project_out: bool = False  # remove this direction from the result instead of adding it

    def __post_init__(self) -> None:
        # A NaN or infinite coefficient would turn the whole result (and the steered text)
        # into NaN; refuse it where it enters, naming the term.
        c = self.coefficient
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c):
            from workbench.errors import NonFiniteError

            raise NonFiniteError(
                f"The canvas term {self.concept!r} has coefficient {c!r}; a coefficient must be "
                "a finite number."
            )


class CanvasModel:
    """Terms on the canvas. Every change emits ``changed``.

    The app state holds the one canvas (``AppState.canvas``): the canvas tab edits it, the
    Preview tab steers with its result, commands (a concept renamed) change it.
    ``use_in_preview`` asks the Preview tab to steer with the canvas result.
    """

    changed = Signal()
    use_in_preview = Signal()

    def __init__(self) -> None:
        self.terms: list[CanvasTerm] = []
        self.group_normalize: dict[str, bool] = {}
        self.normalize_result = False
        self.tracking = True  # False while a change belongs to another undo step

    @contextlib.contextmanager
    def untracked(self) -> Iterator[None]:
        """Changes made inside are part of another undo step (a concept's rename), not a
        canvas edit of their own."""
        self.tracking = False
        try:
            yield
        finally:
            self.tracking = True

    # ------------------------------------------------------------ editing
    def add(self, concept: str, coefficient: float = 1.0, **kw: Any) -> int:
        self.terms.append(CanvasTerm(concept, coefficient, **kw))
        self.changed.emit()
        return len(self.terms) - 1

    def remove(self, index: int) -> None:
        del self.terms[index]
        self.changed.emit()

    def update(self, index: int, **kw: Any) -> None:
        new = replace(self.terms[index], **kw)
        if new != self.terms[index]:
            self.terms[index] = new
            self.changed.emit()

    def set_group_normalize(self, group: str, on: bool) -> None:
        self.group_normalize[group] = on
        self.changed.emit()

    def set_normalize_result(self, on: bool) -> None:
        self.normalize_result = on
        self.changed.emit()

    def clear(self) -> None:
        self.terms = []
        self.group_normalize = {}
        self.normalize_result = False
        self.changed.emit()

    def rename_concept(self, old: str, new: str) -> None:
        if any(t.concept == old for t in self.terms):
            self.terms = [replace(t, concept=new) if t.concept == old else t for t in self.terms]
            self.changed.emit()

    def groups_used(self) -> list[str]:
        return sorted({t.group for t in self.terms if t.group and not t.project_out})

    def concept_names(self) -> list[str]:
        return list(dict.fromkeys(t.concept for t in self.terms))

    # ---------------------------------------------------------- expression
    def to_tree(self) -> Any:
        """The algebra tree, or None when nothing is added."""
        if not any(not t.project_out for t in self.terms):
            return None
        from workbench.concepts.algebra import Func, Sum, Term, scale

        items: list[Any] = []
        groups: dict[str, list[Any]] = {}
        order: list[Any] = []  # keeps a group where its first term is
        for t in self.terms:
            if t.project_out:
                continue
            node: Any = Term(t.concept)
            if t.normalize:
                node = Func("normalize", [node])
            node = scale(float(t.coefficient), node)
            if t.group:
                if t.group not in groups:
                    groups[t.group] = []
                    order.append(("group", t.group))
                groups[t.group].append(node)
            else:
                order.append(("node", node))
        for kind, x in order:
            if kind == "node":
                items.append(x)
                continue
            nodes = groups[x]
            g = Sum(nodes) if len(nodes) > 1 else nodes[0]
            if self.group_normalize.get(x):
                g = Func("normalize", [g])
            items.append(g)
        if not items:
            return None
        root: Any = Sum(items) if len(items) > 1 else items[0]
        outs = list(dict.fromkeys(t.concept for t in self.terms if t.project_out))
        if outs:
            root = Func("project_out", [root, *(Term(n) for n in outs)])
        if self.normalize_result:
            root = Func("normalize", [root])
        return root

    def to_text(self) -> str:
        tree = self.to_tree()
        return tree.to_text() if tree is not None else ""

    def to_concept(self, get: Callable[[str], Any], name: str = "canvas") -> Any:
        """The result as a Concept (``get(name)`` loads a library concept), or None when the
        canvas is empty."""
        from workbench.concepts.algebra import evaluate

        tree = self.to_tree()
        if tree is None:
            return None
        concepts = {n: get(n) for n in self.concept_names()}
        return evaluate(tree, concepts, name=name, sites_rule="shared")

    # -------------------------------------------------------------- layout
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "terms": [asdict(t) for t in self.terms],
            "group_normalize": dict(self.group_normalize),
            "normalize_result": self.normalize_result,
            "expression": self.to_text(),
        }

    def load(self, d: dict[str, Any]) -> None:
        fields = set(CanvasTerm.__dataclass_fields__)
        self.terms = [
            CanvasTerm(**{k: v for k, v in t.items() if k in fields}) for t in d.get("terms", [])
        ]
        self.group_normalize = dict(d.get("group_normalize", {}))
        self.normalize_result = bool(d.get("normalize_result", False))
        self.changed.emit()
