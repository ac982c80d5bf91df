"""NumPy files: ``.npy`` (one vector, no site in the file) and ``.npz`` (keys are site names).

Both keep float16/float32/float64 bit-exactly. NumPy has no bfloat16, so a bfloat16 vector is
written as float32: every bfloat16 value is exactly a float32 value, so nothing is lost, but the
file reads back as float32 (safetensors keeps bfloat16 itself). Files are read with
``allow_pickle=False``: an object array is refused, never unpickled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.io._common import (
    atomic_target,
    build_concept,
    check_site,
    cpu_vectors,
    fail,
    pick_site,
    select_site,
)

if TYPE_CHECKING:
    import torch

    from workbench.concepts.concept import Concept, ModelRef

NPY_EXPORT_OPTIONS = ("site",)
NPZ_EXPORT_OPTIONS: tuple[str, ...] = ()


def to_numpy(t: torch.Tensor) -> Any:
    """A CPU tensor as an ndarray; bfloat16 widens (exactly) to float32."""
    import torch

    if t.dtype == torch.bfloat16:
        t = t.to(torch.float32)
    return t.numpy()


def _from_numpy(arr: Any, what: str) -> torch.Tensor:
    import numpy as np
    import torch

    if arr.dtype.kind != "f":
        fail(f"{what} has dtype {arr.dtype}; expected a float array.")
    return torch.from_numpy(np.array(arr, dtype=arr.dtype.newbyteorder("="), copy=True))


def write_npy(concept: Concept, path: Path, *, site: str | None = None) -> None:
    """Write one of the concept's vectors (the only one, or ``site``) as ``.npy``."""
    import numpy as np

    chosen = pick_site(concept, site, ".npy")
    arr = to_numpy(cpu_vectors(concept)[chosen])
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)


def write_npz(concept: Concept, path: Path) -> None:
    """Write every vector as ``.npz`` with site names as keys (uncompressed)."""
    import numpy as np

    arrays = {site: to_numpy(t) for site, t in cpu_vectors(concept).items()}
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def read_npy(
    path: Path,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
) -> Concept:
    """Read a ``.npy`` vector; ``site`` says where it belongs (the file cannot)."""
    import numpy as np

    if site is None:
        fail(
            f"{path} holds a bare vector and does not say which site it belongs to. Pass "
            "site=..., e.g. site='blocks.12.hook_resid_post'."
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        fail(f"{path} is not a readable .npy array ({e}). Object arrays are never unpickled.")
    if not isinstance(arr, np.ndarray):
        fail(f"{path} is an .npz archive, not an .npy array; import it as npz.")
    vector = _from_numpy(arr, str(path))
    if vector.ndim != 1:
        fail(
            f"{path} holds an array of shape {tuple(vector.shape)}; expected one vector [d_model]."
        )
    return build_concept(
        {check_site(site, "site="): vector},
        fmt="npy",
        path=path,
        default_name=path.stem,
        name=name,
        model=model,
    )


def read_npz(
    path: Path,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
) -> Concept:
    """Read a ``.npz`` whose keys are site names (``site`` picks one of them)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                fail(f"{path} is an .npy array, not an .npz archive; import it as npy.")
            arrays = {k: archive[k] for k in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        fail(f"{path} is not a readable .npz archive ({e}). Object arrays are never unpickled.")
    if len(arrays) == 1 and site is not None:
        vectors = {check_site(site, "site="): _from_numpy(next(iter(arrays.values())), str(path))}
    else:
        vectors = {
            check_site(k, f"{path}: key {k!r}"): _from_numpy(a, f"{path}: {k}")
            for k, a in arrays.items()
        }
        vectors = select_site(vectors, site, str(path))
    return build_concept(
        vectors, fmt="npz", path=path, default_name=path.stem, name=name, model=model
    )
