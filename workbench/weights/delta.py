"""Weight-space task vectors (Ilharco et al.; Reasoning Vectors): Δ = θ_A − θ_B between two
checkpoints of one architecture, and θ_base + c·Δ, written to disk or added in memory.

* :func:`diff_job` streams tensor by tensor: it holds one tensor of A, one of B and their
  difference at a time, and writes the delta file as it goes (the header first, from the
  shapes). The file's metadata records both sources, their files' sha256, the tensor list and
  the dtype.
* :func:`apply_job` writes θ_base + c·Δ with the base's file layout (shards, config,
  tokenizer), one tensor at a time, optionally for chosen layers or tensor kinds only.
* :func:`apply_deltas` adds deltas to a loaded model's parameters in place
  (``load_language_model(path, deltas=[(file, c)])``).

Differences are computed in float32 and stored in float32 by default, so ``apply(B, diff(A, B),
1)`` gives A back to float rounding (bit-exact for float16/bfloat16 checkpoints, whose
differences float32 holds exactly).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.jobs import Job, Progress, run
from workbench.weights.checkpoint import (
    ST_DTYPES,
    Checkpoint,
    TensorFilter,
    WeightsError,
    open_checkpoint,
    tensor_kind,
)
from workbench.weights.stream_write import TORCH_TO_ST, StreamingSafetensorsWriter

DELTA_FORMAT = "workbench.weight_delta"
DELTA_VERSION = 1
DELTA_DTYPES = ("float32", "float16", "bfloat16")
_FLOAT_CODES = ("F64", "F32", "F16", "BF16")


# --------------------------------------------------------------------- results
@dataclass(frozen=True)
class DeltaResult:
    """What :func:`diff_job` wrote: the file, its tensors, and Δ's size per tensor kind."""

    path: str
    a: dict[str, Any]
    b: dict[str, Any]
    n_tensors: int
    skipped: tuple[str, ...]  # non-float tensors (buffers) left out
    bytes_written: int
    dtype: str
    norm_by_kind: dict[str, float]  # ‖Δ‖₂ over each tensor kind
    seconds: float
    filter: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MergeResult:
    """What :func:`apply_job` wrote: θ_base + c·Δ."""

    path: str
    base: dict[str, Any]
    delta: dict[str, Any]
    coefficient: float
    filter: dict[str, Any]
    n_changed: int  # tensors whose Δ is not all zeros (within the filter)
    n_unchanged: int
    bytes_written: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeltaSpec:
    """A delta to add: its file, a coefficient and which tensors of it to use."""

    path: str
    coefficient: float = 1.0
    filter: TensorFilter = field(default_factory=TensorFilter)

    @classmethod
    def of(cls, d: DeltaSpec | Sequence[Any] | str | os.PathLike) -> DeltaSpec:
        """A spec from ``(file, c)``, ``(file, c, TensorFilter)``, a path or a spec."""
        if isinstance(d, DeltaSpec):
            spec = d
        elif isinstance(d, (str, os.PathLike)):
            spec = cls(str(d))
        else:
            items = list(d)
            if not 1 <= len(items) <= 3:
                raise WeightsError(f"a delta is (file, coefficient[, filter]), not {d!r}")
            flt = items[2] if len(items) == 3 else TensorFilter()
            if isinstance(flt, dict):
                flt = TensorFilter(**flt)
            spec = cls(str(items[0]), float(items[1]) if len(items) > 1 else 1.0, flt)
        if not math.isfinite(spec.coefficient):
            raise WeightsError(
                f"the coefficient of {spec.path} is {spec.coefficient}; give a finite number."
            )
        return spec


# ----------------------------------------------------------------- delta files
def read_delta_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance a delta file carries (its sources, hashes, tensors), or a clear error for
    a file that is not a delta written here."""
    from safetensors import SafetensorError, safe_open

    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(f"{p} does not exist; give the .safetensors file `weights diff` wrote.")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{p.name} is not a readable safetensors file ({e}).") from None
    if meta.get("workbench.format") != DELTA_FORMAT:
        raise WeightsError(
            f"{p.name} is not a weight delta written by `workbench weights diff` (its metadata has "
            "no workbench.format). Make one with `workbench weights diff A B --out delta.safetensors`."
        )
    try:
        info = json.loads(meta.get("workbench.delta", "{}"))
    except ValueError:
        raise WeightsError(
            f"{p.name}: its workbench.delta metadata is not JSON; diff again."
        ) from None
    version = int(meta.get("workbench.version", "0") or 0)
    if version > DELTA_VERSION:
        raise WeightsError(
            f"{p.name} was written by a newer workbench (delta version {version}); update it."
        )
    return info if isinstance(info, dict) else {}


def _check_same_architecture(a: Checkpoint, b: Checkpoint, what: str) -> None:
    ta, tb = (a.config.get("model_type"), b.config.get("model_type"))
    if ta and tb and ta != tb:
        raise WeightsError(
            f"{what}: {a.path} is a {ta} model and {b.path} a {tb} model; a weight delta needs "
            "two checkpoints of one architecture."
        )


def _first(names: Sequence[str], n: int = 3) -> str:
    shown = ", ".join(list(names)[:n])
    return shown + (f" (and {len(names) - n} more)" if len(names) > n else "")


def _check_tensors(a: Checkpoint, b: Checkpoint) -> None:
    only_a = [n for n in a.tensors if n not in b.tensors]
    only_b = [n for n in b.tensors if n not in a.tensors]
    if only_a or only_b:
        parts = []
        if only_a:
            parts.append(f"only {a.path} has {_first(only_a)}")
        if only_b:
            parts.append(f"only {b.path} has {_first(only_b)}")
        raise WeightsError(
            "The checkpoints do not have the same tensors: "
            + "; ".join(parts)
            + ". Diff two checkpoints of the same architecture and size (a tied output layer "
            "stored in one and not the other also shows here)."
        )
    bad = [n for n, t in a.tensors.items() if t.shape != b.tensors[n].shape]
    if bad:
        shown = "; ".join(
            f"{n}: {list(a.tensors[n].shape)} vs {list(b.tensors[n].shape)}" for n in bad[:3]
        )
        raise WeightsError(
            f"The checkpoints' shapes differ at {len(bad)} tensor(s), first {shown}. They are "
            "different architectures or sizes; a weight delta needs two checkpoints of one model."
        )


# ------------------------------------------------------------------------- diff
def _finetune_record(path: str | os.PathLike) -> dict[str, Any]:
    """``{"finetune": settings}`` when ``path`` is a folder written by ``workbench train
    finetune`` (its ``workbench-finetune.json``; for a file, the one beside it), else ``{}``:
    the training split travels into the delta so a sweep can hold out the same examples."""
    p = Path(path).expanduser()
    rec = (p if p.is_dir() else p.parent) / "workbench-finetune.json"
    if not rec.is_file():
        return {}
    try:
        ft = json.loads(rec.read_text()).get("finetune")
    except (OSError, ValueError, AttributeError):
        return {}
    return {"finetune": ft} if isinstance(ft, dict) else {}


def diff_job(
    a: str | os.PathLike,
    b: str | os.PathLike,
    out: str | os.PathLike,
    *,
    dtype: str = "float32",
    tensor_filter: TensorFilter | None = None,
) -> Job[DeltaResult]:
    """Write Δ = θ_A − θ_B to ``out`` (a .safetensors file), one tensor at a time.

    Parameters
    ----------
    a, b
        Hugging Face folders (sharded or not), ``.safetensors`` files or ``.gguf`` files.
    dtype
        Δ's dtype: float32 (default; exact for float16/bfloat16 checkpoints), float16 or
        bfloat16 (half the file, rounded).
    tensor_filter
        Keep only chosen layers or tensor kinds (the others are left out of the file).
    """
    import torch

    if dtype not in DELTA_DTYPES:
        raise WeightsError(f"delta dtype {dtype!r}: choose {', '.join(DELTA_DTYPES)}.")
    flt = tensor_filter or TensorFilter()
    out_p = Path(out).expanduser()
    if out_p.suffix.lower() != ".safetensors":
        raise WeightsError(f"--out {out_p.name}: a delta is written as a .safetensors file.")
    t0 = time.perf_counter()
    yield Progress(0, None, "reading the checkpoints' headers and hashing their files")
    ca, cb = open_checkpoint(a), open_checkpoint(b)
    for c in (ca, cb):
        if out_p.resolve() in {Path(t.file).resolve() for t in c.tensors.values()}:
            raise WeightsError(f"--out {out_p} is one of the input files; choose another path.")
    _check_same_architecture(ca, cb, "diff")
    _check_tensors(ca, cb)
    if ca.hashes and sorted(ca.hashes.values()) == sorted(cb.hashes.values()):
        raise WeightsError(
            f"{a} and {b} hold the same weights (identical sha256): their Δ would be all zeros. "
            "Give two different checkpoints of one architecture."
        )
    names = [n for n, t in ca.tensors.items() if flt.keeps(n)]
    skipped = tuple(
        n
        for n in names
        if ca.tensors[n].dtype not in _FLOAT_CODES or cb.tensors[n].dtype not in _FLOAT_CODES
    )
    names = [n for n in names if n not in skipped]
    if not names:
        raise WeightsError(
            f"No tensor is left to diff (filter {flt.to_dict()}); widen the layers or kinds."
        )
    code = TORCH_TO_ST[dtype]
    tdtype = getattr(torch, dtype)
    info: dict[str, Any] = {
        "a": {**ca.describe(), **_finetune_record(a)},
        "b": {**cb.describe(), **_finetune_record(b)},
        "dtype": dtype,
        "filter": flt.to_dict(),
        "tensors": names,
        "skipped": list(skipped),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    from workbench import __version__

    meta = {
        "format": "pt",
        "workbench.format": DELTA_FORMAT,
        "workbench.version": str(DELTA_VERSION),
        "workbench.app_version": __version__,
        "workbench.delta": json.dumps(info),
    }
    layout = [(n, ca.tensors[n].shape, code) for n in names]
    sq: dict[str, float] = {}
    total = len(names)
    yield Progress(0, total, "Δ = A − B")
    # Two scratch buffers, each as large as the largest tensor in float32, hold A's and B's
    # tensor in turn: memory stays at two tensors, and no fresh page is touched per tensor.
    most = max(ca.tensors[n].numel for n in names) * 4
    buf_a, buf_b = torch.empty(most, dtype=torch.uint8), torch.empty(most, dtype=torch.uint8)
    with ca.reader() as ra, cb.reader() as rb, StreamingSafetensorsWriter(out_p, layout, meta) as w:
        for i, n in enumerate(names):
            d = ra.get(n, buf_a).to(torch.float32)
            d -= rb.get(n, buf_b).to(torch.float32)  # in place: one tensor of A, one of B
            kind = tensor_kind(n)
            flat = d.reshape(-1)  # Σ d² as one float32 dot product (a float64 copy cost seconds)
            sq[kind] = sq.get(kind, 0.0) + float(torch.dot(flat, flat))
            w.write(n, d if tdtype == torch.float32 else d.to(tdtype))
            del d
            yield Progress(i + 1, total, n)
    return DeltaResult(
        str(out_p),
        info["a"],
        info["b"],
        len(names),
        skipped,
        out_p.stat().st_size,
        dtype,
        {k: math.sqrt(v) for k, v in sorted(sq.items())},
        time.perf_counter() - t0,
        flt.to_dict(),
    )


def diff(
    a: str | os.PathLike, b: str | os.PathLike, out: str | os.PathLike, **kw: Any
) -> DeltaResult:
    """Blocking :func:`diff_job`."""
    return run(diff_job(a, b, out, **kw))


# ------------------------------------------------------------------------ apply
def _delta_checkpoint(path: str | os.PathLike) -> tuple[Checkpoint, dict[str, Any]]:
    meta = read_delta_metadata(path)
    return open_checkpoint(path), meta


def _check_delta_fits(base_names: dict[str, tuple[int, ...]], delta: Checkpoint, what: str) -> None:
    missing = [n for n in delta.tensors if n not in base_names]
    if missing:
        raise WeightsError(
            f"{what} has no tensor {_first(missing)} that the delta {Path(delta.path).name} "
            "changes: the delta was made from another architecture."
        )
    bad = [n for n, t in delta.tensors.items() if tuple(base_names[n]) != tuple(t.shape)]
    if bad:
        shown = "; ".join(
            f"{n}: {list(base_names[n])} vs Δ {list(delta.tensors[n].shape)}" for n in bad[:3]
        )
        raise WeightsError(
            f"{what} and the delta {Path(delta.path).name} differ in shape at {len(bad)} "
            f"tensor(s), first {shown}: the delta was made from a model of another size."
        )


def _same_type(meta: dict[str, Any], config: dict[str, Any], what: str, delta: str) -> None:
    made = (meta.get("b") or {}).get("model_type")
    have = config.get("model_type")
    if made and have and made != have:
        raise WeightsError(
            f"The delta {Path(delta).name} was made on {made} checkpoints but {what} is a {have} "
            "model; apply it to a model of the same architecture."
        )


def apply_job(
    base: str | os.PathLike,
    delta: str | os.PathLike,
    out: str | os.PathLike,
    *,
    coefficient: float = 1.0,
    tensor_filter: TensorFilter | None = None,
    overwrite: bool = False,
) -> Job[MergeResult]:
    """Write θ_base + ``coefficient``·Δ to ``out``, one tensor at a time.

    A folder base gives a folder with the same shards, config and tokenizer (and
    ``workbench-merge.json``, the provenance); a single-file base gives one ``.safetensors``
    file. Each tensor keeps the base's dtype (the sum is taken in float32). With
    ``tensor_filter``, only the chosen layers or kinds of Δ are added.
    """
    import torch

    if not math.isfinite(float(coefficient)):
        raise WeightsError(f"--coefficient {coefficient}: give a finite number.")
    flt = tensor_filter or TensorFilter()
    t0 = time.perf_counter()
    yield Progress(0, None, "reading headers and hashing files")
    cb = open_checkpoint(base)
    cd, meta = _delta_checkpoint(delta)
    what = f"The base {cb.path}"
    _same_type(meta, cb.config, what, str(delta))
    _check_delta_fits({n: t.shape for n, t in cb.tensors.items()}, cd, what)
    use = {n for n in cd.tensors if flt.keeps(n)}
    if not use:
        raise WeightsError(f"The filter {flt.to_dict()} keeps none of the delta's tensors.")
    out_p = Path(out).expanduser()
    folder_out = cb.folder is not None and cb.kind in ("folder", "gguf")
    if out_p.exists() and not overwrite:
        raise WeightsError(f"{out_p} exists; choose a new path (nothing is replaced).")
    if folder_out and out_p.suffix.lower() == ".safetensors":
        raise WeightsError(
            f"--out {out_p.name}: the base is a model folder, so the merged model is written as a "
            "folder; give a folder path."
        )
    if not folder_out and out_p.suffix.lower() != ".safetensors":
        raise WeightsError(f"--out {out_p.name}: the base is one file; give a .safetensors path.")
    record: dict[str, Any] = {
        "base": cb.describe(),
        "delta": {
            "path": str(delta),
            "sha256": next(iter(cd.hashes.values())),
            "a": meta.get("a"),
            "b": meta.get("b"),
            "filter": meta.get("filter"),
        },
        "coefficient": float(coefficient),
        "filter": flt.to_dict(),
    }
    from workbench import __version__

    smeta = {
        "format": "pt",
        "workbench.merge": json.dumps(record),
        "workbench.app_version": __version__,
    }
    if folder_out:
        tmp_dir = out_p.with_name(f".{out_p.name}.{os.getpid()}.partial")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir(parents=True)
        assert cb.folder is not None
        for f in Path(cb.folder).iterdir():  # config, tokenizer, index: as they are
            if f.is_file() and f.suffix != ".safetensors" and f.name != "workbench-cache.json":
                shutil.copy2(f, tmp_dir / f.name)
        (tmp_dir / "workbench-merge.json").write_text(json.dumps(record, indent=2))
        targets = [(tmp_dir / Path(file).name, names) for file, names in cb.iter_files()]
    else:
        tmp_dir = None
        targets = [(out_p, names) for _, names in cb.iter_files()]
    total = len(cb.tensors)
    done = changed = 0
    yield Progress(0, total, "θ_base + c·Δ")
    most = max(t.numel for t in cb.tensors.values()) * 4
    buf_b, buf_d = torch.empty(most, dtype=torch.uint8), torch.empty(most, dtype=torch.uint8)
    try:
        with cb.reader() as rb, cd.reader() as rd:
            for target, names in targets:
                layout = [(n, cb.tensors[n].shape, cb.tensors[n].dtype) for n in names]
                with StreamingSafetensorsWriter(target, layout, smeta) as w:
                    for n in names:
                        t = rb.get(n, buf_b)
                        if n in use and cd.tensors[n].dtype in _FLOAT_CODES and coefficient != 0:
                            s = t.to(torch.float32)
                            dn = rd.get(n, buf_d)
                            s.add_(dn.to(torch.float32), alpha=float(coefficient))
                            t = s.to(t.dtype)
                            changed += bool(dn.any())  # a tensor the delta leaves at zero is not
                        w.write(n, t)
                        done += 1
                        yield Progress(done, total, n)
        if tmp_dir is not None:
            if out_p.exists() and overwrite:
                shutil.rmtree(out_p)
            tmp_dir.rename(out_p)
    finally:
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    written = (
        sum(f.stat().st_size for f in out_p.glob("*.safetensors"))
        if folder_out
        else out_p.stat().st_size
    )
    return MergeResult(
        str(out_p),
        record["base"],
        record["delta"],
        float(coefficient),
        flt.to_dict(),
        changed,
        total - changed,
        written,
        time.perf_counter() - t0,
    )


def apply(
    base: str | os.PathLike, delta: str | os.PathLike, out: str | os.PathLike, **kw: Any
) -> MergeResult:
    """Blocking :func:`apply_job`."""
    return run(apply_job(base, delta, out, **kw))


# -------------------------------------------------------------------- in memory
def apply_deltas(model: Any, deltas: Sequence[Any]) -> list[dict[str, Any]]:
    """Add each delta (``(file, c)``, ``(file, c, TensorFilter)`` or :class:`DeltaSpec`) to
    ``model``'s parameters in place; return one provenance record per delta.

    A tied output layer shares the embedding's tensor, so it is changed once, whichever of the
    two names the delta holds (and refused when the delta holds both with different values).
    """
    import torch

    params = dict(model.state_dict(keep_vars=True))
    shapes = {n: tuple(p.shape) for n, p in params.items()}
    out = []
    for raw in deltas:
        spec = DeltaSpec.of(raw)
        cd, meta = _delta_checkpoint(spec.path)
        cfg = model.config.to_dict() if hasattr(model.config, "to_dict") else {}
        _same_type(meta, cfg, "the loaded model", spec.path)
        _check_delta_fits(shapes, cd, "The loaded model")
        use = [
            n for n in cd.tensors if spec.filter.keeps(n) and cd.tensors[n].dtype in _FLOAT_CODES
        ]
        if not use:
            raise WeightsError(
                f"The filter {spec.filter.to_dict()} keeps none of {Path(spec.path).name}'s tensors."
            )
        count = Counter(params[n].data_ptr() for n in params)
        seen: dict[int, tuple[str, Any]] = {}  # tied tensors only: the Δ added under a first name
        changed = 0
        with torch.no_grad(), cd.reader() as rd:
            for n in use:
                p = params[n]
                d = rd.get(n)
                key = p.data_ptr()
                if key in seen:  # a tied tensor: changed already under its other name
                    other, first = seen[key]
                    if not torch.equal(first, d):
                        raise WeightsError(
                            f"{Path(spec.path).name} changes {other} and {n} differently, but this "
                            "model ties them (one tensor); use a delta of a model with the same tying."
                        )
                    continue
                if count[key] > 1:
                    seen[key] = (n, d)
                if spec.coefficient != 0:
                    s = p.data.to(torch.float32)
                    s.add_(d.to(s.device, torch.float32), alpha=spec.coefficient)
                    p.data.copy_(s.to(p.dtype))
                changed += 1
        out.append(
            {
                "path": str(spec.path),
                "sha256": next(iter(cd.hashes.values())),
                "coefficient": spec.coefficient,
                "filter": spec.filter.to_dict(),
                "n_tensors": changed,
                "a": meta.get("a"),
                "b": meta.get("b"),
            }
        )
    return out


def deltas_label(applied: Sequence[dict[str, Any]]) -> str:
    """`` + 1·Δ[delta.safetensors 3f2a9c…]`` for each applied delta (what a model's source
    string gains, so that every record that names the model names its deltas)."""
    parts = []
    for d in applied:
        flt = d.get("filter") or {}
        only = ""
        if flt.get("kinds") or flt.get("layers"):
            only = " only " + ",".join(
                [*flt.get("kinds", []), *(f"L{x}" for x in flt.get("layers", []))]
            )
        parts.append(f" + {d['coefficient']:g}·Δ[{Path(d['path']).name} {d['sha256'][:12]}{only}]")
    return "".join(parts)


__all__ = [
    "DELTA_DTYPES",
    "DeltaResult",
    "DeltaSpec",
    "MergeResult",
    "ST_DTYPES",
    "apply",
    "apply_deltas",
    "apply_job",
    "deltas_label",
    "diff",
    "diff_job",
    "read_delta_metadata",
]
