"""The workbench's own vector file: safetensors with the concept's metadata in the header.

Tensor names are site names (``blocks.12.hook_resid_post``); ``__metadata__`` (str -> str) holds

=============================  =============================================================
key                            value
=============================  =============================================================
``workbench.format_version``   ``"1"`` (this module's :data:`FORMAT_VERSION`)
``workbench.version``          the workbench that wrote the file
``name``, ``id``, ``created``  the concept's
``description``                the concept's
``model``                      JSON of :meth:`ModelRef.to_dict`
``recipe``                     JSON of the recipe
``sites``                      JSON list of the sites, in the concept's order
``layers``                     JSON list of the layers those sites touch
``method``                     ``recipe["method"]`` (for tools that only read the header)
``hash``                       :meth:`Concept.content_hash` of the tensors
=============================  =============================================================

Tensors keep their dtype (float16 and bfloat16 included), so a round trip is bit-exact. A
safetensors file without our metadata imports too when its tensor names are site names (or it
holds one tensor and ``site=`` names it).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.io._common import (
    atomic_target,
    build_concept,
    check_site,
    cpu_vectors,
    fail,
    select_site,
)

if TYPE_CHECKING:
    from workbench.concepts.concept import Concept, ModelRef

FORMAT_VERSION = 1
EXPORT_OPTIONS: tuple[str, ...] = ()


def header_metadata(concept: Concept) -> dict[str, str]:
    """The ``__metadata__`` block written for ``concept``."""
    from workbench import __version__

    return {
        "workbench.format_version": str(FORMAT_VERSION),
        "workbench.version": __version__,
        "name": concept.name,
        "id": concept.id,
        "created": concept.created,
        "description": concept.description,
        "model": json.dumps(concept.model.to_dict(), sort_keys=True),
        "recipe": json.dumps(concept.recipe, sort_keys=True),
        "sites": json.dumps(concept.sites),
        "layers": json.dumps(concept.layers),
        "method": str(concept.recipe.get("method", "")),
        "hash": concept.content_hash(),
    }


def write(concept: Concept, path: Path) -> None:
    """Write ``concept`` as safetensors with our header metadata."""
    from safetensors.torch import save_file

    try:
        metadata = header_metadata(concept)
    except (TypeError, ValueError) as e:
        fail(f"concept {concept.name!r} has a recipe that is not JSON ({e}); fix the recipe.")
    tensors = cpu_vectors(concept)
    with atomic_target(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _read_raw(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k).clone() for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        fail(
            f"{path} is not a readable safetensors file ({e}): it was probably cut off while "
            "copying, or is another kind of file renamed. Export the concept again, or copy the "
            "file again from where it was made."
        )
    return tensors, meta


def read(
    path: Path,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
) -> Concept:
    """Read a safetensors vector file; see the module docstring for what it must hold."""
    tensors, meta = _read_raw(path)
    if "workbench.format_version" not in meta:
        return _read_foreign(path, tensors, name=name, model=model, site=site)
    return _read_ours(path, tensors, meta, name=name, model=model, site=site)


def _read_ours(
    path: Path,
    tensors: dict[str, Any],
    meta: dict[str, str],
    *,
    name: str | None,
    model: ModelRef | None,
    site: str | None,
) -> Concept:
    from workbench.concepts.concept import Concept, ModelRef

    try:
        version = int(meta["workbench.format_version"])
    except ValueError:
        fail(f"{path}: workbench.format_version is {meta['workbench.format_version']!r}.")
    if version > FORMAT_VERSION:
        fail(
            f"{path} was written by a newer workbench (vector format {version}; this one reads "
            f"up to {FORMAT_VERSION}). Update Concept Workbench to open it."
        )
    try:
        sites = json.loads(meta.get("sites", "[]")) or list(tensors)
        recipe = json.loads(meta.get("recipe", "{}"))
        model_dict = json.loads(meta.get("model", "{}"))
    except json.JSONDecodeError as e:
        fail(f"{path}: the metadata in its header is not valid JSON ({e}); the file was edited.")
    if set(sites) != set(tensors):
        fail(
            f"{path}: its header lists sites {sorted(sites)} but it holds tensors "
            f"{sorted(tensors)}; the file was edited after export."
        )
    vectors = {check_site(s, str(path)): tensors[s] for s in sites}
    optional = {k: meta[k] for k in ("id", "created") if meta.get(k)}
    concept = Concept(
        name=meta.get("name", path.stem),
        vectors=vectors,
        model=ModelRef.from_dict(model_dict) if model_dict else ModelRef(name="unknown"),
        recipe=recipe,
        description=meta.get("description", ""),
        **optional,
    )
    stored = meta.get("hash")
    if stored and stored != concept.content_hash():
        fail(
            f"{path}: its tensors do not match the hash stored at export ({stored[:12]}...): "
            "the file was changed or damaged since. Export it again from the project."
        )
    if site is not None and len(vectors) > 1:
        concept.vectors = select_site(vectors, site, str(path))
        concept.id = uuid.uuid4().hex
        concept.recipe = {**recipe, "selected_site": site, "selected_from": meta.get("id", "")}
    elif site is not None:
        select_site(vectors, site, str(path))
    if name:
        concept.name = name
    if model is not None:
        concept.model = model
    return concept


def _read_foreign(
    path: Path,
    tensors: dict[str, Any],
    *,
    name: str | None,
    model: ModelRef | None,
    site: str | None,
) -> Concept:
    from workbench.errors import SiteError
    from workbench.models.sites import parse_site

    if len(tensors) == 1 and site is not None:
        vectors = {check_site(site, "site="): next(iter(tensors.values()))}
    else:
        bad = []
        for key in tensors:
            try:
                parse_site(key)
            except SiteError:
                bad.append(key)
        if bad:
            hint = (
                " It looks like a SAELens SAE: import its folder with feature=<index>."
                if {"W_dec", "W_enc"} <= set(tensors)
                else ""
            )
            fail(
                f"{path} has no workbench metadata and tensors that are not site names "
                f"({', '.join(sorted(bad)[:5])}). Rename the tensors to sites such as "
                f"blocks.12.hook_resid_post, or, for a single tensor, pass site=.{hint}"
            )
        vectors = select_site(dict(tensors), site, str(path))
    return build_concept(
        vectors,
        fmt="safetensors",
        path=path,
        default_name=path.stem,
        name=name,
        model=model,
    )
