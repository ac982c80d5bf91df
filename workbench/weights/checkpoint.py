"""Checkpoints read tensor by tensor: a Hugging Face folder (one or several ``*.safetensors``
shards), a single ``.safetensors`` file, or a GGUF file (through the de-quantised copy the model
loader keeps in the per-user cache).

Nothing here loads a whole model: :meth:`Checkpoint.tensor` reads one tensor from its file
(safetensors' ``safe_open`` maps the file and copies only that tensor's bytes), so a diff of two
7B checkpoints holds one tensor of each at a time.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

# safetensors dtype codes <-> torch dtype names (the ones a checkpoint holds)
ST_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}
TENSOR_KINDS = ("attention", "mlp", "embedding", "norm", "other")


class WeightsError(WorkbenchError):
    """Checkpoints that cannot be read, diffed or merged; the text says what to do."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a checkpoint: where it lies and what it is."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # safetensors code: F32, BF16, ...
    file: str  # the file that holds it
    start: int = -1  # where its bytes begin in the file (-1: not known)

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * _itemsize(self.dtype)


def _itemsize(code: str) -> int:
    return {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2}.get(code, 1)


_LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block|decoder\.layers)\.(\d+)\.")


def tensor_layer(name: str) -> int | None:
    """The block index in a tensor's name (``model.layers.7.mlp.up_proj.weight`` -> 7)."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def tensor_kind(name: str) -> str:
    """``attention``, ``mlp``, ``embedding``, ``norm`` or ``other``, from a tensor's name, in
    the spellings of Llama/Mistral/Qwen/Gemma (``self_attn``, ``mlp``), GPT-2 (``attn.c_attn``,
    ``mlp.c_fc``), GPT-NeoX (``attention.query_key_value``) and Phi (``dense``, ``fc1``)."""
    n = name.lower()
    if re.search(r"(^|\.)(ln_\w*|\w*norm\w*)(\.|$)", n):
        return "norm"
    if re.search(r"(self_attn|attention|\.attn\.|q_proj|k_proj|v_proj|o_proj|c_attn)", n):
        return "attention"
    if re.search(r"(mlp|feed_forward|ffn|gate_proj|up_proj|down_proj|\.fc1|\.fc2|c_fc)", n):
        return "mlp"
    if re.search(r"(embed|wte|wpe|lm_head|embed_out)", n):
        return "embedding"
    return "other"


@dataclass(frozen=True)
class TensorFilter:
    """Which tensors a delta acts on: ``layers`` (block indices; tensors outside every block,
    such as the embedding, are left out when layers are given) and ``kinds`` (of
    :data:`TENSOR_KINDS`). Empty means all."""

    layers: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(sorted({int(x) for x in self.layers})))
        kinds = tuple(dict.fromkeys(k.strip().lower() for k in self.kinds if k.strip()))
        bad = [k for k in kinds if k not in TENSOR_KINDS]
        if bad:
            raise WeightsError(
                f"unknown tensor kind(s) {', '.join(bad)}: choose from {', '.join(TENSOR_KINDS)}."
            )
        object.__setattr__(self, "kinds", kinds)

    @property
    def everything(self) -> bool:
        return not self.layers and not self.kinds

    def keeps(self, name: str) -> bool:
        if self.layers and tensor_layer(name) not in self.layers:
            return False
        return not self.kinds or tensor_kind(name) in self.kinds

    def to_dict(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "kinds": list(self.kinds)}


@dataclass
class Checkpoint:
    """A checkpoint's tensors, read one at a time. Open it with :func:`open_checkpoint`."""

    path: str  # what the user gave
    kind: str  # folder, safetensors, gguf
    tensors: dict[str, TensorInfo]
    hashes: dict[str, str]  # file name -> sha256
    folder: str | None = None  # the HF folder (config, tokenizer), if any
    index_layout: dict[str, list[str]] = field(default_factory=dict)  # shard -> its tensors
    config: dict[str, Any] = field(default_factory=dict)
    via: str = ""  # for a GGUF: the cache folder its tensors are read from

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors.values())

    def describe(self) -> dict[str, Any]:
        """What provenance records: the path, its kind, the files' sha256 and the architecture."""
        return {
            "path": self.path,
            "kind": self.kind,
            "sha256": self.hashes,
            "architecture": (self.config.get("architectures") or [""])[0],
            "model_type": self.config.get("model_type", ""),
            "n_tensors": len(self.tensors),
            "bytes": self.nbytes,
            **({"read_from": self.via} if self.via else {}),
        }

    def iter_files(self) -> Iterator[tuple[str, list[str]]]:
        """(file, the names of its tensors), in file order."""
        by_file: dict[str, list[str]] = {}
        for t in self.tensors.values():
            by_file.setdefault(t.file, []).append(t.name)
        yield from by_file.items()

    def reader(self) -> TensorReader:
        return TensorReader(self)


class TensorReader:
    """Opens each file of a checkpoint once and reads tensors by name (a context manager).

    A tensor's bytes are read with a plain ``readinto`` at the offset its header gives, not
    through a memory map: a map keeps every page it touched in the process's resident memory
    until it is closed, so a diff of two checkpoints would look (and, under memory pressure,
    act) as if both sat in memory.
    """

    def __init__(self, ckpt: Checkpoint):
        self.ckpt = ckpt
        self._stack = ExitStack()
        self._files: dict[str, Any] = {}

    def __enter__(self) -> TensorReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def get(self, name: str, buffer: Any = None) -> Any:
        """The tensor ``name``; with ``buffer`` (a 1-D uint8 tensor of at least its bytes) read
        into that memory and returned as a view of it: a loop over a checkpoint reuses two
        buffers instead of touching fresh pages for every tensor."""
        import torch

        info = self.ckpt.tensors[name]
        f = self._files.get(info.file)
        if f is None:
            f = self._stack.enter_context(open(info.file, "rb"))  # noqa: SIM115 - closed on exit
            self._files[info.file] = f
        dtype = getattr(torch, ST_DTYPES[info.dtype])
        if buffer is not None and buffer.numel() >= info.nbytes:
            out = buffer[: info.nbytes].view(dtype).view(info.shape)
        else:
            out = torch.empty(info.shape, dtype=dtype)
        if out.numel():
            f.seek(info.start)
            buf = out.reshape(-1).view(torch.uint8).numpy()
            got = f.readinto(memoryview(buf))  # type: ignore[arg-type]  # numpy arrays are buffers
            if got != info.nbytes:
                raise WeightsError(
                    f"{info.file} ended inside tensor {name} ({got} of {info.nbytes} bytes); "
                    "the file is truncated. Copy the model again."
                )
        return out


def open_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint's tensor list (headers only) and its files' sha256. ``"embedded"``
    names the embedded default model (its GGUF, read through the loader's cache).

    Raises
    ------
    WeightsError
        A path that does not exist or holds no weights; a damaged file; a GGUF that cannot be
        de-quantised; ``pytorch_model*.bin`` weights (convert them to safetensors first).
    """
    from workbench.errors import ModelLoadError
    from workbench.models.loading import read_safetensors_header

    if str(path) == "embedded":  # the embedded default model, by name
        from workbench.models.loading import embedded_source

        try:
            src = embedded_source()
        except ModelLoadError as e:
            raise WeightsError(str(e)) from None
        return _open_gguf(Path(src.path) / str(src.gguf_file))
    p = Path(path).expanduser()
    if not p.exists():
        raise WeightsError(
            f"{p} does not exist. Give a model folder (config.json + *.safetensors), a "
            ".safetensors file or a .gguf file."
        )
    if p.is_file() and p.suffix.lower() == ".gguf":
        return _open_gguf(p)
    if p.is_dir():
        files = sorted(p.glob("*.safetensors"))
        if not files:
            bins = sorted(p.glob("pytorch_model*.bin")) + sorted(p.glob("*.pt"))
            if bins:
                raise WeightsError(
                    f"{p} holds pickled weights ({bins[0].name}), which cannot be read tensor by "
                    "tensor safely. Convert them to safetensors first: load the model with "
                    "transformers and call model.save_pretrained(folder, safe_serialization=True)."
                )
            ggufs = sorted(p.glob("*.gguf"))
            if len(ggufs) == 1:
                return _open_gguf(ggufs[0])
            raise WeightsError(
                f"{p} has no *.safetensors weights. Give a model folder, a .safetensors file "
                "or a .gguf file."
            )
        config = _read_config(p / "config.json")
        folder: str | None = str(p)
    elif p.suffix.lower() == ".safetensors":
        files, config, folder = [p], {}, None
        if (p.parent / "config.json").exists():
            config = _read_config(p.parent / "config.json")
    else:
        raise WeightsError(
            f"{p.name} is not a checkpoint: give a model folder, a .safetensors file or a .gguf "
            "file (a .bin or .pt file must be converted to safetensors first)."
        )
    tensors: dict[str, TensorInfo] = {}
    layout: dict[str, list[str]] = {}
    for f in files:
        try:
            header = read_safetensors_header(f)
        except ModelLoadError as e:
            raise WeightsError(str(e)) from None
        with open(f, "rb") as fh:
            data_start = 8 + int.from_bytes(fh.read(8), "little")
        names = []
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            if name in tensors:
                raise WeightsError(
                    f"{p}: tensor {name} is in both {Path(tensors[name].file).name} and {f.name}; "
                    "the folder mixes two checkpoints. Keep one set of weight files."
                )
            if meta["dtype"] not in ST_DTYPES:
                raise WeightsError(
                    f"{f.name}: tensor {name} has dtype {meta['dtype']}, which the workbench does "
                    f"not read (it reads {', '.join(ST_DTYPES)})."
                )
            tensors[name] = TensorInfo(
                name,
                tuple(meta["shape"]),
                meta["dtype"],
                str(f),
                data_start + int(meta["data_offsets"][0]),
            )
            names.append(name)
        layout[f.name] = names
    return Checkpoint(
        str(p),
        "folder" if p.is_dir() else "safetensors",
        tensors,
        {f.name: _sha256(f) for f in files},
        folder,
        layout,
        config,
    )


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise WeightsError(f"{path} is not readable JSON ({e}); copy the model again.") from None
    return cfg if isinstance(cfg, dict) else {}


def _sha256(path: Path) -> str:
    from workbench.models.loading import _memo_sha256

    return _memo_sha256(path)


def _open_gguf(p: Path) -> Checkpoint:
    """A GGUF's tensors, in the Hugging Face names and layout: its weights are quantised and
    stored under llama.cpp's names (with Q/K rows permuted), so they are read from the
    de-quantised copy that loading the model writes into the per-user cache (converting it
    once when needed, as the first load of the model does)."""
    from workbench.errors import ModelLoadError
    from workbench.models.loading import (
        ModelSource,
        cached_folder,
        load_language_model,
    )

    src = ModelSource("gguf", str(p.parent), p.stem, gguf_file=p.name)
    try:
        folder = cached_folder(src)
        if folder is None:
            load_language_model(src, device="cpu", dtype="float32", check_memory=False)
            folder = cached_folder(src)
    except ModelLoadError as e:
        raise WeightsError(
            f"{p.name} could not be de-quantised ({e}). Convert it to a Hugging Face folder "
            "with safetensors weights and use that folder instead."
        ) from None
    if folder is None:
        raise WeightsError(
            f"{p.name} was read, but its de-quantised copy could not be written to the cache "
            "(check that the cache folder is writable and has room, or set "
            "WORKBENCH_CACHE_DIR); or convert the GGUF to a Hugging Face folder yourself."
        )
    inner = open_checkpoint(folder)
    return Checkpoint(
        str(p),
        "gguf",
        inner.tensors,
        {p.name: _sha256(p)},
        inner.folder,
        inner.index_layout,
        inner.config,
        via=str(folder),
    )
