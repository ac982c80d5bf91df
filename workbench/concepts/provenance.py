"""What it takes to make a text generation again: the record stored with every generation.

:class:`TextGenerationProvenance` is a versioned, frozen record. The window, the command line
and the notebook API build it here (a steered generation with :meth:`~TextGenerationProvenance.
of_steering`, a head intervention in :mod:`workbench.heads.head_interventions`) and store
:meth:`~TextGenerationProvenance.to_dict`; :meth:`~TextGenerationProvenance.from_dict` reads a
stored one back, of this version or an older one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import WorkbenchError

PROVENANCE_VERSION = 1
# The record's own keys; anything else a stored record holds is an analysis's ``extra``.
_KEYS = ("model", "concept", "sites", "coefficient", "sampling", "seed", "app_version")


@dataclass(frozen=True)
class TextGenerationProvenance:
    """The provenance of a text generation (``version`` :data:`PROVENANCE_VERSION`).

    Attributes
    ----------
    model
        The model's :class:`~workbench.models.ref.ModelRef` as a dict.
    sites
        The hook sites the generation was steered (or intervened) at.
    sampling
        The :class:`~workbench.models.generation.SamplingSettings` as a dict.
    seed
        The sampling seed.
    app_version
        The Concept Workbench version that made it.
    coefficient
        The steering coefficient (None when the intervention takes none).
    concept
        ``{"id", "name", "recipe"}`` of the concept it steered with (the recipe without its
        prompts: the id finds the full recipe), or ``{"name", "kind": "head_action"}``.
    extra
        What the analysis adds: the sweep run, positions, the heads and action...
    """

    model: Mapping[str, Any]
    sites: tuple[str, ...]
    sampling: Mapping[str, Any]
    seed: int
    app_version: str
    coefficient: float | None = None
    concept: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    version: int = PROVENANCE_VERSION

    @classmethod
    def of_steering(
        cls,
        model_ref: Any,
        concept: Any,
        sites: Sequence[str],
        coefficient: float,
        settings: Any,
        extra: Mapping[str, Any] | None = None,
    ) -> TextGenerationProvenance:
        """A steered generation's: ``model_ref`` a ModelRef, ``concept`` a Concept (or None),
        ``settings`` the SamplingSettings."""
        from workbench import __version__

        about = None
        if concept is not None:
            recipe = dict(concept.recipe or {})
            recipe.pop("prompts", None)  # the concept id finds the full recipe; keep rows small
            about = {"id": concept.id, "name": concept.name, "recipe": recipe}
        return cls(
            model=model_ref.to_dict(),
            sites=tuple(sites),
            sampling=settings.to_dict(),
            seed=settings.seed,
            app_version=__version__,
            coefficient=coefficient,
            concept=about,
            extra=dict(extra or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON: the record's keys, ``provenance_version``, then ``extra``'s."""
        out: dict[str, Any] = {
            "provenance_version": self.version,
            "model": dict(self.model),
            "sites": list(self.sites),
        }
        if self.coefficient is not None:
            out["coefficient"] = self.coefficient
        out |= {"sampling": dict(self.sampling), "seed": self.seed, "app_version": self.app_version}
        if self.concept is not None:
            out["concept"] = dict(self.concept)
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TextGenerationProvenance:
        """A stored record (this version or an older one) as a :class:`TextGenerationProvenance`.

        Raises
        ------
        WorkbenchError
            A newer version wrote it, or it is not a text generation's provenance.
        """
        version = int(d.get("provenance_version", 0) or 0)
        if version > PROVENANCE_VERSION:
            raise WorkbenchError(
                f"This generation's provenance is version {version}; this Concept Workbench reads "
                f"versions up to {PROVENANCE_VERSION}. Update it to read this record."
            )
        if not isinstance(d.get("model"), Mapping) or not isinstance(d.get("sampling"), Mapping):
            raise WorkbenchError(
                "This generation's provenance names no model or sampling settings: it is not a "
                "text generation's record."
            )
        coefficient = d.get("coefficient")
        concept = d.get("concept")
        return cls(
            model=dict(d["model"]),
            sites=tuple(d.get("sites") or ()),
            sampling=dict(d["sampling"]),
            seed=int(d.get("seed", d["sampling"].get("seed", 0))),
            app_version=str(d.get("app_version", "")),
            coefficient=None if coefficient is None else float(coefficient),
            concept=(
                dict(concept)
                if isinstance(concept, Mapping)
                else {"id": concept}
                if isinstance(concept, str)
                else None  # before version 1
            ),
            extra={k: v for k, v in d.items() if k not in (*_KEYS, "provenance_version")},
            version=version,  # 0: written before records had a version (read as version 1)
        )


def text_generation_provenance(
    model_ref: Any,
    concept: Any,
    sites: list[str],
    coefficient: float,
    settings: Any,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored dict of :meth:`TextGenerationProvenance.of_steering` (the window, the command
    line and the notebook API store the same record)."""
    record = TextGenerationProvenance.of_steering(
        model_ref, concept, sites, coefficient, settings, extra
    )
    return record.to_dict()
