"""GGUF control vectors as llama.cpp and repeng read and write them.

The convention (llama.cpp ``common/common.cpp`` ``common_control_vector_load_one`` and
``build_cvec``; repeng ``ControlVector.export_gguf``/``import_gguf``):

- ``general.architecture = "controlvector"``, ``controlvector.model_hint`` (string, the model's
  ``config.model_type``), ``controlvector.layer_count`` (the number of direction tensors; repeng
  writes it as uint32, llama.cpp's cvector-generator as int32, and llama.cpp's loader reads
  neither);
- one float32 1-D tensor per layer, ``direction.{k}``, all of length d_model;
- ``direction.k`` is added to the **output of block k** (0-based) at every position, i.e. our
  ``blocks.{k}.hook_resid_post`` (Hugging Face ``hidden_states[k + 1]``).

What follows for export:

- ``blocks.k.hook_resid_post`` -> ``direction.k``;
- ``blocks.L.hook_resid_pre`` with L >= 2 is the same tensor as the output of block L-1, so it
  is written as ``direction.{L-1}``;
- llama.cpp refuses the *whole file* when it holds ``direction.0`` ("invalid (zero) direction
  tensor layer index"), so the output of block 0 (``blocks.0.hook_resid_post`` =
  ``blocks.1.hook_resid_pre``) cannot be exported; nor can the input of block 0
  (``hook_embed``, ``blocks.0.hook_resid_pre``), which no ``direction.k`` reaches;
- ``resid_mid``, ``attn_out``, ``mlp_out`` and per-head sites are not residual-stream additions
  at a block's output: they cannot be expressed either.

Pass ``skip_unsupported=True`` to export the expressible sites and leave the others out. The
file cannot say which operation, positions or normalisation were meant: GGUF is a lossy export;
the safetensors file keeps everything.

Import maps ``direction.k`` to ``blocks.k.hook_resid_post`` (repeng files may hold
``direction.0``; repeng applies it at the output of block 0, and so does the import).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.io._common import atomic_target, build_concept, cpu_vectors, fail, select_site

if TYPE_CHECKING:
    import torch

    from workbench.concepts.concept import Concept, ModelRef

ARCH = "controlvector"
EXPORT_OPTIONS = ("coefficient", "model_hint", "skip_unsupported")
_SUGGEST = (
    "Export to safetensors to keep every site, or pass skip_unsupported=True to leave it out."
)


def direction_index(site: str) -> int:
    """The ``k`` of the ``direction.k`` tensor that adds a vector at ``site``.

    Raises
    ------
    VectorFileError
        When no ``direction.k`` that llama.cpp accepts adds at ``site``; the message says why.
    """
    from workbench.errors import SiteError
    from workbench.models.sites import parse_site

    try:
        parsed = parse_site(site)
    except SiteError:
        fail(
            f"{site} is not a language-model hook site; GGUF control vectors only hold "
            f"vectors added to the output of a transformer block. {_SUGGEST}"
        )
    if parsed.kind == "embed" or (parsed.kind == "resid_pre" and parsed.layer == 0):
        fail(
            f"{site} is the input of block 0 (the embeddings). A GGUF control vector's "
            "direction.k is added to the output of block k, so nothing reaches the input of "
            f"block 0. {_SUGGEST}"
        )
    layer = parsed.layer or 0  # None only for hook_embed, handled above
    if parsed.kind == "resid_post":
        k = layer
    elif parsed.kind == "resid_pre":
        k = layer - 1  # input of block L == output of block L-1
    else:
        fail(
            f"{site} is not a residual-stream addition at a block's output: GGUF control "
            "vectors only hold vectors added to the output of a block (resid_post, or "
            f"resid_pre of the next block). {_SUGGEST}"
        )
    if k == 0:
        fail(
            f"{site} is the output of block 0, which would be direction.0; llama.cpp rejects "
            "the whole control-vector file when it holds direction.0 ('invalid (zero) "
            f"direction tensor layer index'), so block 0's output cannot be steered that way. {_SUGGEST}"
        )
    return k


def _directions(concept: Concept, skip_unsupported: bool) -> tuple[dict[int, Any], dict]:
    from workbench.errors import VectorFileError

    vectors = cpu_vectors(concept)
    by_k: dict[int, Any] = {}
    origin: dict[int, str] = {}
    skipped: dict[str, str] = {}
    problems: list[str] = []
    for site, v in vectors.items():
        try:
            k = direction_index(site)
        except VectorFileError as e:
            if skip_unsupported:
                skipped[site] = str(e)
            else:
                problems.append(str(e))
            continue
        if v.ndim != 1:
            problems.append(
                f"{site} has shape {tuple(v.shape)}; a control vector holds one 1-D vector "
                "[d_model] per layer."
            )
            continue
        if k in by_k:
            problems.append(
                f"{origin[k]} and {site} are the same point of the network (direction.{k}); "
                "keep one of them, or add them into one vector first."
            )
            continue
        by_k[k], origin[k] = v, site
    if problems:
        fail(
            f"concept {concept.name!r} cannot be written as a GGUF control vector:\n- "
            + "\n- ".join(problems)
        )
    if not by_k:
        fail(
            f"concept {concept.name!r} has no site that a GGUF control vector can hold "
            f"({', '.join(vectors)}); it needs blocks.k.hook_resid_post with k >= 1."
        )
    widths = {int(v.shape[0]) for v in by_k.values()}
    if len(widths) > 1:
        fail(
            f"concept {concept.name!r} mixes vector lengths {sorted(widths)}; llama.cpp "
            "rejects a control-vector file whose directions differ in length."
        )
    return dict(sorted(by_k.items())), {
        "sites": {str(k): origin[k] for k in sorted(origin)},
        "skipped": sorted(skipped),
    }


def write(
    concept: Concept,
    path: Path,
    *,
    coefficient: float = 1.0,
    model_hint: str | None = None,
    skip_unsupported: bool = False,
) -> None:
    """Write a llama.cpp/repeng control vector.

    Parameters
    ----------
    coefficient
        Scale baked into every direction (llama.cpp's ``--control-vector-scaled`` multiplies
        again at load time). 1.0 writes the vectors unchanged.
    model_hint
        ``controlvector.model_hint``; defaults to the concept's ``model.model_type``.
    skip_unsupported
        Leave out sites that no ``direction.k`` can express instead of refusing the export.
    """
    import gguf
    import torch

    coefficient = float(coefficient)
    if not math.isfinite(coefficient):
        fail(f"coefficient must be a finite number; got {coefficient}.")
    by_k, provenance = _directions(concept, skip_unsupported)
    hint = model_hint if model_hint is not None else concept.model.model_type
    if not hint:
        fail(
            f"concept {concept.name!r} does not record its model type (config.model_type, e.g. "
            "'llama'), which repeng needs in controlvector.model_hint. Pass model_hint='llama' "
            "(or the right type)."
        )
    from workbench import __version__

    provenance.update(
        {
            "workbench.version": __version__,
            "id": concept.id,
            "hash": concept.content_hash(),
            "coefficient": coefficient,
            "recipe": concept.recipe,
            "model": concept.model.to_dict(),
        }
    )
    with atomic_target(path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), ARCH)
        writer.add_string(f"{ARCH}.model_hint", hint)
        writer.add_uint32(f"{ARCH}.layer_count", len(by_k))
        writer.add_name(concept.name)
        if concept.description:
            writer.add_description(concept.description)
        writer.add_string(
            "workbench.provenance", json.dumps(provenance, sort_keys=True, default=str)
        )
        for k, v in by_k.items():
            v32 = v.to(torch.float32)
            if coefficient != 1.0:
                v32 = v32 * coefficient
            writer.add_tensor(f"direction.{k}", v32.numpy())
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()


def _field(reader: Any, key: str) -> Any:
    f = reader.get_field(key)
    if f is None or not f.types:
        return None
    try:
        return f.contents()
    except (UnicodeDecodeError, ValueError):
        return None


def is_control_vector(path: str | Path) -> bool:
    """Whether ``path`` is a GGUF control vector (a steering vector, not a model): its
    ``general.architecture`` is ``controlvector``. False for anything else, readable or not."""
    p = Path(path)
    if p.suffix.lower() != ".gguf" or not p.is_file():
        return False
    try:
        import gguf

        reader = gguf.GGUFReader(str(p))
    except (ImportError, ValueError, OSError, IndexError, KeyError, TypeError):
        return False
    return _field(reader, "general.architecture") == ARCH


def read(
    path: Path,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
) -> Concept:
    """Read a control vector written by llama.cpp, repeng, the workbench or ``gguf`` directly."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except (ValueError, OSError, IndexError, KeyError, TypeError) as e:
        fail(f"{path} is not a readable GGUF file ({e}). Was it truncated or renamed?")
    arch = _field(reader, "general.architecture")
    hint = _field(reader, f"{ARCH}.model_hint") or ""
    label = _field(reader, "general.name") or path.stem
    description = _field(reader, "general.description") or ""
    raw: dict[int, torch.Tensor] = {}
    ignored: list[str] = []
    for t in reader.tensors:
        prefix, _, index = t.name.partition(".")
        if prefix != "direction" or not index.isdigit():
            ignored.append(t.name)
            continue
        raw[int(index)] = _tensor_copy(path, t)
    del reader  # drops the memory map of the file
    if arch not in (None, ARCH) and not raw:
        fail(
            f"{path} is a GGUF model file (architecture {arch!r}), not a control vector: it has "
            "no direction.k tensors."
        )
    if not raw:
        fail(f"{path} holds no direction.k tensors, so it is not a control vector.")
    widths = {int(v.shape[0]) for v in raw.values()}
    if len(widths) > 1:
        fail(f"{path}: its directions differ in length ({sorted(widths)}); llama.cpp rejects it.")
    from workbench.models.sites import resid_post

    vectors = {resid_post(k): raw[k] for k in sorted(raw)}
    vectors = select_site(vectors, site, str(path))
    extra: dict[str, Any] = {"model_hint": hint}
    if ignored:
        extra["ignored_tensors"] = ignored
    return build_concept(
        vectors,
        fmt="gguf",
        path=path,
        default_name=label,
        name=name,
        model=model,
        model_hint=hint,
        recipe_extra=extra,
        description=description,
    )


def _tensor_copy(path: Path, t: Any) -> torch.Tensor:
    import numpy as np
    import torch
    from gguf import GGMLQuantizationType as Q

    if t.tensor_type not in (Q.F32, Q.F16, Q.F64):
        fail(
            f"{path}: {t.name} is stored as {t.tensor_type.name}; control vectors are float32 "
            "(llama.cpp accepts only F32)."
        )
    data = np.asarray(t.data)
    if data.ndim != 1:
        fail(f"{path}: {t.name} has shape {tuple(data.shape)}; a direction must be 1-D.")
    native = np.array(data, dtype=data.dtype.newbyteorder("="), copy=True)
    return torch.from_numpy(native)
