"""Neuronpedia's custom-vector JSON: the body of its ``POST /api/vector/new``.

``{"modelId", "layerNumber", "hookType", "vector": [...], "vectorDefaultSteerStrength",
"vectorLabel"}``: one vector at one layer of the residual stream. Neuronpedia's own validator
(``/api/vector/new`` in its webapp, read for this module) accepts only ``hookType =
"hook_resid_pre"`` (its API docs say "resid-pre"), a strength in [-100, 100], a vector no longer
than 24,576 and a layer below the model's layer count.

Export writes ``hook_resid_pre`` by default: a ``blocks.L.hook_resid_post`` vector is the same
tensor as ``blocks.{L+1}.hook_resid_pre`` and is written as layer L+1. The output of the last
block has no next block; pass ``hook_type="hook_resid_post"`` to write it as it is (a file that
Neuronpedia's uploader may refuse). Import reads both hook types, their hyphenated spellings
(``resid-pre``), and a ``hookName`` such as ``blocks.8.hook_resid_pre`` when one is present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.io._common import (
    atomic_target,
    build_concept,
    check_site,
    fail,
    floats_for_json,
    pick_site,
    tensor_from_floats,
)
from workbench.models.sites import site_name

if TYPE_CHECKING:
    from workbench.concepts.concept import Concept, ModelRef

EXPORT_OPTIONS = ("site", "strength", "model_id", "label", "hook_type")
HOOK_TYPES = ("hook_resid_pre", "hook_resid_post")
STRENGTH_RANGE = (-100.0, 100.0)
MAX_LENGTH = 24576
_ALIASES = {
    "resid-pre": "hook_resid_pre",
    "resid_pre": "hook_resid_pre",
    "resid-post": "hook_resid_post",
    "resid_post": "hook_resid_post",
}


def layer_and_hook(site: str, hook_type: str, n_layers: int) -> tuple[int, str]:
    """Neuronpedia's (layerNumber, hookType) for ``site``, written as ``hook_type`` if possible."""
    from workbench.errors import SiteError
    from workbench.models.sites import parse_site

    try:
        parsed = parse_site(site)
    except SiteError:
        parsed = None
    if parsed is None or parsed.kind not in ("resid_pre", "resid_post"):
        fail(
            f"{site} is not in the residual stream between blocks; Neuronpedia's custom vectors "
            "hold hook_resid_pre (or hook_resid_post) vectors only. Use safetensors for this site."
        )
    layer = parsed.layer or 0  # resid sites always have a layer
    if f"hook_{parsed.kind}" == hook_type:
        return layer, hook_type
    if hook_type == "hook_resid_pre":  # resid_post L is the input of block L+1
        if n_layers and layer + 1 >= n_layers:
            fail(
                f"{site} is the output of the last block, which no hook_resid_pre reaches. Pass "
                "hook_type='hook_resid_post' to write it as it is (Neuronpedia's uploader may "
                "refuse it), or use another site."
            )
        return layer + 1, hook_type
    if layer == 0:
        fail(f"{site} is the input of block 0; it has no hook_resid_post form. Use hook_resid_pre.")
    return layer - 1, hook_type


def write(
    concept: Concept,
    path: Path,
    *,
    site: str | None = None,
    strength: float = 1.0,
    model_id: str | None = None,
    label: str | None = None,
    hook_type: str = "hook_resid_pre",
) -> None:
    """Write one vector as Neuronpedia custom-vector JSON.

    Parameters
    ----------
    site
        Which vector, when the concept has several.
    strength
        ``vectorDefaultSteerStrength``, in [-100, 100].
    model_id
        Neuronpedia's model id (e.g. ``gemma-2-2b``); defaults to the concept's model name.
    label
        ``vectorLabel``; defaults to the concept's name.
    hook_type
        ``hook_resid_pre`` (what Neuronpedia accepts) or ``hook_resid_post``.
    """
    hook_type = _ALIASES.get(hook_type, hook_type)
    if hook_type not in HOOK_TYPES:
        fail(f"hook_type must be one of {', '.join(HOOK_TYPES)}; got {hook_type!r}.")
    strength = float(strength)
    lo, hi = STRENGTH_RANGE
    if not lo <= strength <= hi:
        fail(f"Neuronpedia accepts a default steer strength in [{lo:g}, {hi:g}]; got {strength}.")
    chosen = pick_site(concept, site, "Neuronpedia's custom-vector JSON")
    layer, hook = layer_and_hook(chosen, hook_type, concept.model.n_layers)
    values = floats_for_json(concept.vectors[chosen], f"the vector at {chosen}")
    if len(values) > MAX_LENGTH:
        fail(
            f"Neuronpedia accepts vectors of at most {MAX_LENGTH} values; this one has {len(values)}."
        )
    body = {
        "modelId": model_id or concept.model.name,
        "layerNumber": layer,
        "hookType": hook,
        "vector": values,
        "vectorDefaultSteerStrength": strength,
        "vectorLabel": label or concept.name,
    }
    with atomic_target(path) as tmp:
        tmp.write_text(json.dumps(body), encoding="utf-8")


def looks_like(data: Any) -> bool:
    """True for a JSON object shaped like a Neuronpedia vector."""
    return (
        isinstance(data, dict)
        and "vector" in data
        and ("layerNumber" in data or "hookName" in data or "hookType" in data)
    )


def _site_of(data: dict[str, Any], path: Path) -> str:
    hook_name = data.get("hookName")
    if isinstance(hook_name, str) and hook_name:
        return check_site(hook_name, f"{path}: hookName")
    layer = data.get("layerNumber", data.get("layer"))
    if isinstance(layer, str) and layer.isdigit():
        layer = int(layer)
    if not isinstance(layer, int) or isinstance(layer, bool) or layer < 0:
        fail(f"{path}: layerNumber should be a non-negative integer; found {layer!r}.")
    hook = _ALIASES.get(data.get("hookType", ""), data.get("hookType", ""))
    if hook not in HOOK_TYPES:
        fail(
            f"{path}: hookType {data.get('hookType')!r} is not one the workbench knows "
            f"({', '.join(HOOK_TYPES)})."
        )
    return site_name(hook.removeprefix("hook_"), layer)


def read(
    path: Path,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
) -> Concept:
    """Read a Neuronpedia custom-vector JSON (``site`` overrides the file's layer and hook)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"{path} is not readable JSON ({e}).")
    if not looks_like(data):
        fail(
            f"{path} is not a Neuronpedia vector: expected an object with vector, layerNumber "
            "and hookType."
        )
    from workbench.models.ref import ModelRef

    where = check_site(site, "site=") if site else _site_of(data, path)
    vector = tensor_from_floats(data["vector"], f"{path}: vector")
    model_id = str(data.get("modelId") or "")
    if model is None and model_id:
        model = ModelRef(name=model_id, d_model=int(vector.shape[0]))
    return build_concept(
        {where: vector},
        fmt="neuronpedia",
        path=path,
        default_name=str(data.get("vectorLabel") or path.stem),
        name=name,
        model=model,
        recipe_extra={
            "model_id": model_id,
            "default_strength": data.get("vectorDefaultSteerStrength"),
        },
    )
