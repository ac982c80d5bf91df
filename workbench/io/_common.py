"""Helpers shared by the vector-file formats: errors, atomic writes, JSON floats, site choice.

Floats in JSON formats: a float32 (or float16/bfloat16) value widened to float64 is exact, and
Python writes a float64 with the shortest ``repr`` that reads back to the same double, so a
float32 vector written as a JSON list reads back bit for bit. :func:`tensor_from_floats` gives
float32 when every value survives the trip through float32, float64 otherwise.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from workbench.errors import SiteError, VectorFileError

if TYPE_CHECKING:
    import torch

    from workbench.concepts.concept import Concept, ModelRef

LAYER_PLACEHOLDER = "{L}"


def fail(message: str) -> NoReturn:
    """Raise :class:`VectorFileError`; the message says what was found and what to do."""
    raise VectorFileError(message)


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it over ``path`` only if the block succeeds.

    A failed export never leaves a half-written file under the name the user chose.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        # Some writers (safetensors) create owner-only files; give the file the permissions a
        # plain open() would, so an exported vector is as readable as any other file.
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cpu_vectors(concept: Concept) -> dict[str, torch.Tensor]:
    """The concept's tensors detached, on the CPU, contiguous and owning their storage.

    ``clone`` matters for ``torch.save``: a view would otherwise drag its whole base storage
    into the file, and safetensors refuses tensors that share memory.
    """
    if not concept.vectors:
        fail(f"concept {concept.name!r} has no vectors; there is nothing to export.")
    return {s: v.detach().cpu().contiguous().clone() for s, v in concept.vectors.items()}


_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.\w+)+$")


def check_site(name: str, where: str) -> str:
    """Validate a site name read from a file (or passed by the user).

    Language-model sites must parse (:func:`parse_site`); other dotted names such as a
    diffusion concept's ``text_encoder.hidden`` pass as they are, since their spelling is owned
    by the diffusion code. Bare tensor names (``W_dec``, ``layer_5``) are refused.
    """
    from workbench.models.sites import parse_site

    if not isinstance(name, str):
        fail(f"{where}: {name!r} is not a site name.")
    try:
        return parse_site(name).name
    except SiteError as e:
        if name.startswith(("blocks.", "hook_")) or not _DOTTED.match(name):
            fail(f"{where}: {e}")
    return name


def expand_site(template: str, layer: int, where: str) -> str:
    """``blocks.{L}.hook_resid_post`` with ``{L}`` replaced by ``layer``."""
    if LAYER_PLACEHOLDER not in template:
        fail(
            f"{where} holds one vector per layer, so site= must contain {LAYER_PLACEHOLDER}, "
            f"e.g. site='blocks.{LAYER_PLACEHOLDER}.hook_resid_post'; got {template!r}."
        )
    return check_site(template.replace(LAYER_PLACEHOLDER, str(layer)), where)


def pick_site(concept: Concept, site: str | None, fmt: str) -> str:
    """The one site a single-vector format will hold."""
    if site is not None:
        if site not in concept.vectors:
            fail(
                f"concept {concept.name!r} has no vector at {site}; "
                f"it has {', '.join(concept.sites)}."
            )
        return site
    if len(concept.vectors) != 1:
        fail(
            f"{fmt} holds one vector but concept {concept.name!r} has {len(concept.vectors)} "
            f"({', '.join(concept.sites)}). Pass site=... to export one of them, or use "
            "safetensors (or npz) to keep them all."
        )
    return next(iter(concept.vectors))


def select_site(vectors: dict[str, Any], site: str | None, where: str) -> dict[str, Any]:
    """Keep only ``site`` when the user asked for one site out of a multi-site file."""
    if site is None:
        return vectors
    if site not in vectors:
        fail(f"{where} has no vector at {site}; it has {', '.join(vectors) or 'none'}.")
    return {site: vectors[site]}


def floats_for_json(t: torch.Tensor, what: str) -> list[float]:
    """A 1-D tensor as a list of Python floats (exact: every float dtype widens to float64)."""
    import torch

    if t.ndim != 1:
        fail(f"{what} has shape {tuple(t.shape)}; this JSON format holds one 1-D vector.")
    if not t.dtype.is_floating_point:
        fail(f"{what} has dtype {t.dtype}; only floating-point vectors can be exported.")
    values = t.detach().cpu().to(torch.float64).tolist()
    if not all(math.isfinite(x) for x in values):
        fail(f"{what} contains NaN or infinite values, which JSON cannot carry; fix the vector.")
    return values


def tensor_from_floats(values: Any, what: str) -> torch.Tensor:
    """Parse a JSON list of numbers; float32 when that is exact, float64 otherwise."""
    import torch

    if not isinstance(values, list) or not values:
        fail(f"{what} should be a non-empty list of numbers; found {type(values).__name__}.")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in values):
        bad = next(x for x in values if not isinstance(x, int | float) or isinstance(x, bool))
        fail(f"{what} should hold only numbers; found {bad!r}.")
    if not all(math.isfinite(x) for x in values):
        fail(f"{what} contains NaN or infinite values; a steering vector must be finite.")
    t64 = torch.tensor(values, dtype=torch.float64)
    t32 = t64.to(torch.float32)
    return t32 if torch.equal(t32.to(torch.float64), t64) else t64


def check_vectors(vectors: Mapping[str, torch.Tensor], where: str) -> None:
    """Imported vectors must be non-empty floating-point tensors.

    Widths may differ between sites (a per-head ``hook_z`` vector is [head, d_head]); formats
    that need one width (GGUF) check it themselves.
    """
    if not vectors:
        fail(f"{where} holds no vectors.")
    for site, t in vectors.items():
        if not t.dtype.is_floating_point:
            fail(f"{where}: the vector at {site} has dtype {t.dtype}; expected floats.")
        if t.ndim == 0 or t.numel() == 0:
            fail(f"{where}: the vector at {site} has shape {tuple(t.shape)}; expected [d_model].")


def build_concept(
    vectors: dict[str, torch.Tensor],
    *,
    fmt: str,
    path: Path,
    default_name: str,
    name: str | None,
    model: ModelRef | None,
    model_hint: str = "",
    recipe_extra: dict[str, Any] | None = None,
    description: str = "",
) -> Concept:
    """A new Concept for vectors read from a foreign format (one that carries no id/recipe)."""
    from workbench.concepts.concept import Concept, ModelRef

    check_vectors(vectors, str(path))
    if model is None:
        width = next((int(v.shape[0]) for v in vectors.values() if v.ndim == 1), 0)
        model = ModelRef(name=model_hint or "unknown", model_type=model_hint, d_model=width)
    recipe: dict[str, Any] = {"method": "import", "format": fmt, "source": str(path)}
    recipe.update(recipe_extra or {})
    return Concept(
        name=name or default_name,
        vectors=vectors,
        model=model,
        recipe=recipe,
        description=description,
    )
