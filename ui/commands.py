"""Undoable changes to the concept library and the vector canvas (QUndoStack commands)."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QUndoCommand

from ui.context import AppContext


class _ConceptCommand(QUndoCommand):
    def __init__(self, ctx: AppContext, text: str):
        super().__init__(text)
        self.ctx = ctx

    def _write(self, what: str, fn: Any) -> bool:
        """Run one store change; True when it was made (a refusal is shown as a message).
        A command whose change was refused while being pushed marks itself obsolete, so the
        stack drops it instead of keeping an entry that undoes nothing."""

        def go() -> bool:
            fn()
            return True

        ok = self.ctx.project.write(what, go) is True
        self.ctx.project.refresh()
        return ok


def add_concept(ctx: AppContext, concept: Any) -> Any:
    """Add ``concept`` to the library as one undo step, under a free name ("name 2"...), and
    select it; return the concept as added."""
    taken = set(ctx.state.concept_names())
    base, n = concept.name, 2
    while concept.name in taken:
        concept = concept.renamed(f"{base} {n}")
        n += 1
    ctx.undo.push(AddConceptCommand(ctx, concept))
    ctx.state.selected_concepts = (concept.name,)
    return concept


class AddConceptCommand(_ConceptCommand):
    """Add a concept (an extraction, a canvas result, an import); undo removes it."""

    def __init__(self, ctx: AppContext, concept: Any):
        super().__init__(ctx, f"Add concept {concept.name!r}")
        self.concept = concept

    def redo(self) -> None:
        self.ctx.concepts.put(self.concept)
        ok = self._write(
            f"saving concept {self.concept.name!r}",
            lambda: self.ctx.state.project.add_concept(self.concept),
        )
        if not ok:
            self.setObsolete(True)

    def undo(self) -> None:
        self._write(
            f"removing concept {self.concept.name!r}",
            lambda: self.ctx.state.project.delete_concept(self.concept.id),
        )


class RenameConceptCommand(_ConceptCommand):
    def __init__(self, ctx: AppContext, old: str, new: str):
        super().__init__(ctx, f"Rename {old!r} to {new!r}")
        self.old, self.new = old, new

    def redo(self) -> None:
        ok = self._write(
            "renaming a concept", lambda: self.ctx.state.project.rename_concept(self.old, self.new)
        )
        if not ok:  # refused (the name is taken): nothing changed, nothing to undo
            self.setObsolete(True)
            return
        self._rename_on_canvas(self.old, self.new)
        self.ctx.state.selected_concepts = (self.new,)

    def undo(self) -> None:
        ok = self._write(
            "renaming a concept back",
            lambda: self.ctx.state.project.rename_concept(self.new, self.old),
        )
        if ok:
            self._rename_on_canvas(self.new, self.old)
            self.ctx.state.selected_concepts = (self.old,)

    def _rename_on_canvas(self, old: str, new: str) -> None:
        canvas = self.ctx.state.canvas
        with canvas.untracked():  # part of this command, not a canvas edit of its own
            canvas.rename_concept(old, new)


class DeleteConceptsCommand(_ConceptCommand):
    """Delete concepts; undo puts them back with the same ids, recipes and tensors."""

    def __init__(self, ctx: AppContext, names: list[str]):
        super().__init__(ctx, f"Delete {', '.join(repr(n) for n in names)}")
        self.concepts = [ctx.concepts.get(n) for n in names]
        # where they are in the library: undo puts them back there, not at the end
        self.positions = ctx.state.project.concept_positions(names)

    def redo(self) -> None:
        def go() -> None:
            for c in self.concepts:
                self.ctx.state.project.delete_concept(c.id)

        if not self._write("deleting concepts", go):
            self.setObsolete(True)
            return
        self.ctx.state.selected_concepts = ()

    def undo(self) -> None:
        self._write(
            "restoring concepts",
            lambda: self.ctx.state.project.restore_concepts(self.concepts, self.positions),
        )
        self.ctx.state.selected_concepts = tuple(c.name for c in self.concepts)


class CanvasEditCommand(QUndoCommand):
    """One change of the vector canvas (terms, coefficients, groups, normalisation), kept as
    the layouts before and after. Pushed after the change was made, so the first redo does
    nothing; consecutive changes of the same terms' values (a slider drag) merge into one."""

    ID = 7301

    def __init__(self, canvas: Any, before: dict, after: dict):
        super().__init__("Edit the canvas")
        self.canvas, self.before, self.after = canvas, before, after
        self._done = True

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, CanvasEditCommand) or other.canvas is not self.canvas:
            return False
        if _concepts(self.before) != _concepts(self.after) or _concepts(other.before) != _concepts(
            other.after
        ):
            return False  # adding or removing a term is a step of its own
        if _concepts(self.after) != _concepts(other.before):
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self.canvas.restore_layout(self.after)

    def undo(self) -> None:
        self.canvas.restore_layout(self.before)


def _concepts(layout: dict) -> list[str]:
    return [t.get("concept") for t in layout.get("terms", [])]
