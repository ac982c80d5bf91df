"""Undoable changes to the concept library (QUndoStack commands)."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QUndoCommand

from ui.context import AppContext


class _ConceptCommand(QUndoCommand):
    def __init__(self, ctx: AppContext, text: str):
        super().__init__(text)
        self.ctx = ctx

    def _write(self, what: str, fn: Any) -> Any:
        result = self.ctx.project.write(what, fn)
        self.ctx.project.refresh()
        return result


class AddConceptCommand(_ConceptCommand):
    """Add a concept (an extraction, a canvas result, an import); undo removes it."""

    def __init__(self, ctx: AppContext, concept: Any):
        super().__init__(ctx, f"Add concept {concept.name!r}")
        self.concept = concept

    def redo(self) -> None:
        self.ctx.concepts.put(self.concept)
        self._write(
            f"saving concept {self.concept.name!r}",
            lambda: self.ctx.state.project.add_concept(self.concept),
        )

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
        self._write(
            "renaming a concept", lambda: self.ctx.state.project.rename_concept(self.old, self.new)
        )
        self._rename_on_canvas(self.old, self.new)
        self.ctx.state.selected_concepts = (self.new,)

    def undo(self) -> None:
        self._write(
            "renaming a concept back",
            lambda: self.ctx.state.project.rename_concept(self.new, self.old),
        )
        self._rename_on_canvas(self.new, self.old)
        self.ctx.state.selected_concepts = (self.old,)

    def _rename_on_canvas(self, old: str, new: str) -> None:
        canvas = self.ctx.views.get("canvas")
        if canvas is not None:
            canvas.model.rename_concept(old, new)


class DeleteConceptsCommand(_ConceptCommand):
    """Delete concepts; undo puts them back with the same ids, recipes and tensors."""

    def __init__(self, ctx: AppContext, names: list[str]):
        super().__init__(ctx, f"Delete {', '.join(repr(n) for n in names)}")
        self.concepts = [ctx.concepts.get(n) for n in names]

    def redo(self) -> None:
        def go() -> None:
            for c in self.concepts:
                self.ctx.state.project.delete_concept(c.id)

        self._write("deleting concepts", go)
        self.ctx.state.selected_concepts = ()

    def undo(self) -> None:
        self._write(
            "restoring concepts", lambda: self.ctx.state.project.add_concepts(self.concepts)
        )
        self.ctx.state.selected_concepts = tuple(c.name for c in self.concepts)
