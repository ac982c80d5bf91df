"""IBM activation-steering ``.svec`` JSON: ``{"model_type", "directions", "explained_variances"}``.

``directions`` maps a layer id (a JSON string key) to a list of floats. IBM's
``SteeringVector`` reads layer L from ``hidden_states[L + 1]`` and its ``MalleableModel``
adds it at the output of ``model.layers[L]``: the same block convention as repeng, so layer L is
our ``blocks.{L}.hook_resid_post``. ``blocks.L.hook_resid_pre`` (L >= 1) is the output of block
L-1 and is written as layer L-1; the input of block 0 cannot be expressed.

Unlike GGUF, layer 0 is allowed (IBM's default extracts every layer). ``explained_variances``
is written from ``recipe["explained_variances"]`` when present, else 1.0 per layer (IBM's own
placeholder for methods without one); it is kept in the recipe on import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.io._common import (
    atomic_target,
    build_concept,
    cpu_vectors,
    fail,
    floats_for_json,
    select_site,
    tensor_from_floats,
)
from workbench.models.sites import resid_post

if TYPE_CHECKING:
    from workbench.concepts.concept import Concept, ModelRef

EXPORT_OPTIONS = ("model_type",)


def svec_layer(site: str) -> int:
    """The svec layer id whose direction is added where ``site`` is."""
    from workbench.errors import SiteError
    from workbench.models.sites import parse_site

    try:
        parsed = parse_site(site)
    except SiteError:
        parsed = None
    if parsed is None or parsed.kind not in ("resid_post", "resid_pre", "embed"):
        fail(
            f"{site} is not a residual-stream site; .svec files hold one vector per block "
            "output (resid_post). Use safetensors for this site."
        )
    layer = parsed.layer or 0  # None only for hook_embed
    if parsed.kind == "resid_post":
        return layer
    if parsed.kind == "embed" or layer == 0:
        fail(
            f"{site} is the input of block 0, which no .svec layer reaches (layer L means the "
            "output of block L). Use safetensors for this site."
        )
    return layer - 1


def write(concept: Concept, path: Path, *, model_type: str | None = None) -> None:
    """Write an IBM activation-steering ``.svec`` (``model_type`` defaults to the model's)."""
    hint = model_type if model_type is not None else concept.model.model_type
    directions: dict[str, list[float]] = {}
    origin: dict[int, str] = {}
    for site, t in cpu_vectors(concept).items():
        layer = svec_layer(site)
        if layer in origin:
            fail(
                f"{origin[layer]} and {site} are the same point of the network (layer {layer}); "
                "keep one of them."
            )
        origin[layer] = site
        directions[str(layer)] = floats_for_json(t, f"the vector at {site}")
    ev = concept.recipe.get("explained_variances")
    ev = ev if isinstance(ev, dict) else {}
    variances = {k: float(ev.get(k, ev.get(int(k))) or 1.0) for k in directions}
    body = {"model_type": hint, "directions": directions, "explained_variances": variances}
    with atomic_target(path) as tmp:
        tmp.write_text(json.dumps(body), encoding="utf-8")


def looks_like(data: Any) -> bool:
    """True for a JSON object shaped like an IBM steering vector."""
    return isinstance(data, dict) and isinstance(data.get("directions"), dict)


def read(
    path: Path,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
) -> Concept:
    """Read an ``.svec``: layer L becomes ``blocks.{L}.hook_resid_post``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"{path} is not readable JSON ({e}).")
    if not looks_like(data) or not data["directions"]:
        fail(f"{path} is not an IBM steering vector: expected a non-empty 'directions' object.")
    vectors = {}
    for key in sorted(data["directions"], key=lambda k: int(k) if str(k).isdigit() else -1):
        if not str(key).isdigit():
            fail(f"{path}: direction key {key!r} is not a layer number.")
        vectors[resid_post(int(key))] = tensor_from_floats(
            data["directions"][key], f"{path}: directions[{key}]"
        )
    vectors = select_site(vectors, site, str(path))
    hint = str(data.get("model_type") or "")
    ev = data.get("explained_variances")
    return build_concept(
        vectors,
        fmt="svec",
        path=path,
        default_name=path.stem,
        name=name,
        model=model,
        model_hint=hint,
        recipe_extra={
            "model_type": hint,
            "explained_variances": ev if isinstance(ev, dict) else {},
        },
    )
