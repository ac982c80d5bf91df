"""The project store: one ``.wbproj`` file (SQLite) per project. See :mod:`.project`.

Importing it does not import torch; tensors are only touched when vectors are saved or loaded.
Nor does it import SQLAlchemy until :class:`Project` is first asked for, so that the window can
hold the store's records (``workbench.store.records``) before it is shown.
"""

from typing import TYPE_CHECKING, Any

from workbench.store.errors import (
    CorruptProjectError,
    DiskFullError,
    NameTakenError,
    NotAProjectError,
    ProjectTooNewError,
    ReadOnlyProjectError,
    RecordNotFoundError,
    UpgradeNeededError,
)
from workbench.store.records import (
    ConceptInfo,
    ConceptRow,
    FigureInfo,
    GenerationInfo,
    ModelInfo,
    NoteInfo,
    PromptSetInfo,
    RunInfo,
    StoredRun,
)

if TYPE_CHECKING:
    from workbench.store.project import SUFFIX, Project


def __getattr__(name: str) -> Any:  # PEP 562: the store's SQLAlchemy side on first use
    if name in ("Project", "SUFFIX"):
        from workbench.store import project

        return getattr(project, name)
    raise AttributeError(f"module 'workbench.store' has no attribute {name!r}")


__all__ = [
    "SUFFIX",
    "ConceptInfo",
    "ConceptRow",
    "FigureInfo",
    "GenerationInfo",
    "ModelInfo",
    "NoteInfo",
    "PromptSetInfo",
    "RunInfo",
    "StoredRun",
    "CorruptProjectError",
    "DiskFullError",
    "NameTakenError",
    "NotAProjectError",
    "Project",
    "ProjectTooNewError",
    "ReadOnlyProjectError",
    "RecordNotFoundError",
    "UpgradeNeededError",
]
