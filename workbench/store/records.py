"""What the project's listings return: frozen records instead of dicts.

A worker thread, a CLI command and a view all get the same typed, immutable values (never ORM
objects), so a misspelled field is an ``AttributeError`` at the line that made it, and mypy
sees what a listing holds. JSON columns (settings, provenance, specs) stay plain JSON values:
their shape belongs to the analysis that wrote them.

Names follow what a value *is*: a run's ``analysis`` (``"head_scores"``, ``"sweep"``...), a
generation's ``medium`` (``"text"`` or ``"image"``), a prompt set's ``kind`` (its shape:
``contrastive``, ``labelled``...; see :mod:`workbench.concepts.prompt_sets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.concepts.concept import ModelRef
from workbench.concepts.provenance import TextGenerationProvenance


def _plain(record: Any) -> dict[str, Any]:
    """``record`` as JSON-able values (for ``--json`` output): a ModelRef becomes its dict."""
    out = asdict(record)
    for k, v in out.items():
        if isinstance(v, tuple):
            out[k] = list(v)
    return out


@dataclass(frozen=True)
class ModelInfo:
    """A model the project used, and where it was found (:meth:`Project.model_records`)."""

    id: int
    ref: ModelRef
    path: str
    format: str
    config: Mapping[str, Any]
    created: str
    path_exists: bool | None  # None when no path was recorded

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class ConceptRow:
    """A concept as a long list shows it (:meth:`Project.concept_rows`); no per-site details.

    ``method`` and ``n_sites`` are None when the listing was asked for without a summary.
    """

    id: str
    name: str
    model: str  # the model's name
    model_ref: ModelRef
    created: str
    description: str
    method: str | None = None
    n_sites: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class ConceptInfo(ConceptRow):
    """A concept with its per-site details, without a single vector
    (:meth:`Project.concept_infos`)."""

    sites: tuple[str, ...] = ()
    dtypes: Mapping[str, str] = field(default_factory=dict)
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    norms: Mapping[str, float] = field(default_factory=dict)  # L2 norm; NaN when not finite


@dataclass(frozen=True)
class PromptSetInfo:
    """A stored prompt set (:meth:`Project.prompt_sets`).

    ``items`` are its prompts, one dict each; ``meta`` what the set says about itself beyond its
    prompts (poles, demonstration template and separator, description), in its own column since
    schema 0002 (before, it rode on the first item under ``_meta``).
    """

    id: int
    name: str
    kind: str  # contrastive, labelled, plain, demonstrations, ordinal
    items: tuple[Mapping[str, Any], ...]
    meta: Mapping[str, Any]
    source: str
    created: str
    updated: str

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class RunInfo:
    """A run without its result (:meth:`Project.runs`): ``tensors`` names its stored arrays."""

    id: int
    analysis: str  # "head_scores", "sweep", "probe", "head_set"...
    name: str
    settings: Mapping[str, Any]
    created: str
    tensors: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class StoredRun:
    """A run in full (:meth:`Project.load_run`): its result and its tensors (checksums verified)."""

    id: int
    analysis: str
    name: str
    settings: Mapping[str, Any]
    result: Mapping[str, Any]
    created: str
    tensors: Mapping[str, Any]  # name -> torch.Tensor

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the tensors as their shapes and dtypes."""
        out = {k: v for k, v in asdict(self).items() if k != "tensors"}
        out["tensors"] = {
            k: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
            for k, t in self.tensors.items()
        }
        return out


@dataclass(frozen=True)
class GenerationInfo:
    """A generation with the provenance to make it again (:meth:`Project.generations`).

    ``image_png`` / ``baseline_png`` are None for a text generation, and for any generation
    listed without images.
    """

    id: int
    medium: str  # "text" or "image"
    prompt: str
    baseline: str | None
    steered: str | None
    provenance: Mapping[str, Any]
    created: str
    image_png: bytes | None = None
    baseline_png: bytes | None = None

    def text_provenance(self) -> TextGenerationProvenance:
        """The provenance of a text generation as the engine's versioned record.

        Raises
        ------
        WorkbenchError
            An image generation, or a record a newer version wrote.
        """
        from workbench.errors import WorkbenchError

        if self.medium != "text":
            raise WorkbenchError(f"generation {self.id} is an {self.medium}, not a text")
        return TextGenerationProvenance.from_dict(self.provenance)

    def to_dict(self, *, images: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not images:
            del out["image_png"], out["baseline_png"]
        return out


@dataclass(frozen=True)
class FigureInfo:
    """A stored figure without its files (:meth:`Project.figures`)."""

    id: int
    name: str
    spec: Mapping[str, Any]
    formats: tuple[str, ...]
    created: str

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class NoteInfo:
    id: int
    title: str
    text: str
    created: str
    updated: str

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)
