"""The project store: one ``.wbproj`` file (SQLite) per project. See :mod:`.project`.

Importing it does not import torch; tensors are only touched when vectors are saved or loaded.
"""

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
from workbench.store.project import SUFFIX, Project
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
