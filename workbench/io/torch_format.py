"""PyTorch ``.pt`` files: tensors only, read with ``torch.load(weights_only=True)``.

Export writes ``{site: tensor}`` with :func:`torch.save`. Import accepts

- ``{site: tensor}`` (ours, or anyone's whose keys are site names);
- a single tensor (e.g. an EasyEdit ``layer_{L}.pt``): ``site=`` says where it belongs;
- ``{int layer: tensor}``: ``site=`` is a template such as ``blocks.{L}.hook_resid_post``;
- a folder of EasyEdit-style ``layer_{L}.pt`` files: ``site=`` is such a template too. Which
  hidden state EasyEdit's ``L`` means depends on the method that wrote it, so the workbench does
  not guess.

``weights_only=True`` refuses anything but tensors and plain containers: no code from the file
ever runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.io._common import (
    LAYER_PLACEHOLDER,
    atomic_target,
    build_concept,
    check_site,
    cpu_vectors,
    expand_site,
    fail,
    select_site,
)

if TYPE_CHECKING:
    import torch

    from workbench.concepts.concept import Concept, ModelRef

EXPORT_OPTIONS: tuple[str, ...] = ()
_LAYER_FILE = re.compile(r"^layer_(\d+)\.pt$")


def write(concept: Concept, path: Path) -> None:
    """Write ``{site: tensor}`` with :func:`torch.save`."""
    import torch

    tensors = cpu_vectors(concept)
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        torch.save(tensors, f)


def _load(path: Path) -> Any:
    import pickle

    import torch

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        refused = [ln.strip() for ln in str(e).splitlines() if "Unsupported global" in ln]
        if refused:
            fail(
                f"{path} holds more than tensors ({refused[0][:160]}). The workbench never runs "
                "code from a file; save plain tensors (a dict of site -> tensor), or safetensors."
            )
        fail(f"{path} is not a readable PyTorch file (it does not unpickle as tensors).")
    except (RuntimeError, OSError, EOFError, ValueError, KeyError) as e:
        fail(
            f"{path} is not a readable PyTorch file ({str(e) or type(e).__name__}). "
            "Was it truncated or renamed?"
        )


def _as_vector(obj: Any, what: str) -> torch.Tensor:
    import torch

    if not isinstance(obj, torch.Tensor):
        fail(f"{what} is a {type(obj).__name__}, not a tensor.")
    if obj.ndim == 2 and obj.shape[0] == 1:  # [1, d_model], as mean(dim=0, keepdim=True) leaves
        obj = obj[0]
    return obj.detach().contiguous().clone()


def _vectors_from(obj: Any, site: str | None, where: str) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(obj, torch.Tensor):
        if site is None:
            fail(
                f"{where} holds a bare tensor and does not say which site it belongs to. Pass "
                "site=..., e.g. site='blocks.12.hook_resid_post'."
            )
        return {check_site(site, "site="): _as_vector(obj, where)}
    if not isinstance(obj, dict) or not obj:
        fail(f"{where} holds a {type(obj).__name__}; expected a tensor or a dict of tensors.")
    if all(isinstance(k, int) for k in obj):
        if site is None:
            fail(
                f"{where} maps layer numbers to tensors; pass a site template such as "
                f"site='blocks.{LAYER_PLACEHOLDER}.hook_resid_post' to say which site they mean."
            )
        return {expand_site(site, k, where): _as_vector(v, f"{where}[{k}]") for k, v in obj.items()}
    if not all(isinstance(k, str) for k in obj):
        fail(f"{where} has keys of mixed types; expected site names.")
    if len(obj) == 1 and site is not None and LAYER_PLACEHOLDER not in site:
        return {check_site(site, "site="): _as_vector(next(iter(obj.values())), where)}
    vectors = {
        check_site(k, f"{where}: key {k!r}"): _as_vector(v, f"{where}[{k!r}]")
        for k, v in obj.items()
    }
    return select_site(vectors, site, where)


def read(
    path: Path,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
) -> Concept:
    """Read a ``.pt`` file or a folder of ``layer_{L}.pt`` files (see the module docstring)."""
    if path.is_dir():
        vectors = _read_folder(path, site)
        extra = {"layout": "layer_{L}.pt folder", "site_template": site}
    else:
        vectors = _vectors_from(_load(path), site, str(path))
        extra = {}
    return build_concept(
        vectors,
        fmt="pt",
        path=path,
        default_name=path.stem if path.is_file() else path.name,
        name=name,
        model=model,
        recipe_extra=extra,
    )


def _read_folder(folder: Path, site: str | None) -> dict[str, torch.Tensor]:
    files = sorted(
        ((int(m.group(1)), p) for p in folder.iterdir() if (m := _LAYER_FILE.match(p.name))),
    )
    if not files:
        fail(f"{folder} holds no layer_{{L}}.pt files; point at a vector file instead.")
    if site is None:
        fail(
            f"{folder} holds one tensor per layer (layer_{{L}}.pt) and does not say which site "
            f"L means; pass a template such as site='blocks.{LAYER_PLACEHOLDER}.hook_resid_post'."
        )
    return {
        expand_site(site, layer, str(folder)): _as_vector(_load(p), str(p)) for layer, p in files
    }
