"""What every view gets: the state, the executor, the error handler, the project controller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoStack

from ui.state import AppState, ConceptCache

if TYPE_CHECKING:
    from ui.errors import ErrorHandler
    from ui.project_controller import ProjectController
    from ui.workers import ModelExecutor


@dataclass
class AppContext:
    state: AppState
    executor: ModelExecutor
    errors: ErrorHandler
    undo: QUndoStack
    concepts: ConceptCache = field(init=False)
    project: ProjectController = field(init=False)
    window: Any = None
    views: dict[str, Any] = field(default_factory=dict)  # key -> built view

    def __post_init__(self) -> None:
        self.concepts = ConceptCache(self.state)

    def model_for(self, concept: Any) -> Any:
        """The loaded model whose space ``concept`` lives in (active one first), or None."""
        models = sorted(self.state.models, key=lambda m: m.key != self.state.active_model)
        return next((m for m in models if m.ref.same_space(concept.model)), None)
