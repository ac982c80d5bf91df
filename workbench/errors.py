"""Errors a user can cause. Each message says what was found and what to do."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every error the engine raises on purpose; its text is shown to the user."""


class ModelLoadError(WorkbenchError):
    """A model could not be found, read or fit on the device."""


class UnsupportedModelError(ModelLoadError):
    """The architecture is known not to work yet (mixture of experts, ...)."""


class SiteError(WorkbenchError):
    """A hook-site name that does not exist in this model."""


class ShapeMismatchError(WorkbenchError):
    """Vectors that do not belong together: another model, site or size."""


class PromptSetError(WorkbenchError):
    """An empty or malformed prompt set."""


class VectorFileError(WorkbenchError):
    """A vector file that cannot be read or written in the requested format."""


class ProjectFileError(WorkbenchError):
    """A project file that is corrupt, too new, locked or not a project at all."""


class NonFiniteError(WorkbenchError):
    """A vector or coefficient holding NaN or an infinity: it would turn every activation it
    touches into NaN, so it is refused wherever it enters."""
