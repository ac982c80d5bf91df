"""What it takes to make a text generation again: the record stored with every generation."""

from __future__ import annotations

from typing import Any

PROVENANCE_VERSION = 1


def text_generation_provenance(
    model_ref: Any,
    concept: Any,
    sites: list[str],
    coefficient: float,
    settings: Any,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance of a steered text generation (``model_ref``: a ModelRef; ``concept``: a
    Concept or None; ``settings``: SamplingSettings). The window, the command line and the
    notebook API store the same record."""
    from workbench import __version__

    out: dict[str, Any] = {
        "provenance_version": PROVENANCE_VERSION,
        "model": model_ref.to_dict(),
        "sites": list(sites),
        "coefficient": coefficient,
        "sampling": settings.to_dict(),
        "seed": settings.seed,
        "app_version": __version__,
    }
    if concept is not None:
        recipe = dict(concept.recipe or {})
        recipe.pop("prompts", None)  # the concept id finds the full recipe; keep rows small
        out["concept"] = {"id": concept.id, "name": concept.name, "recipe": recipe}
    return {**out, **(extra or {})}
