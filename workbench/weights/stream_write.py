"""Write a safetensors file one tensor at a time.

``safetensors.torch.save_file`` takes every tensor at once, so a delta of a 7B model would sit in
memory whole before the first byte is written. The format is simple (an 8-byte little-endian
header length, a JSON header with each tensor's dtype, shape and byte range, then the raw bytes
in that order), so the header is written from the shapes known in advance and each tensor's bytes
follow as it is computed. Files written here are read back by ``safe_open`` in the tests.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.weights.checkpoint import WeightsError, _itemsize

TORCH_TO_ST = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}


class StreamingSafetensorsWriter:
    """``with StreamingSafetensorsWriter(path, [(name, shape, dtype code)], metadata) as w:``
    then ``w.write(name, tensor)`` for each tensor in the declared order.

    The file is written under a temporary name and renamed on a clean exit, so a cancelled or
    failed write leaves no half file under the target name.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        layout: Sequence[tuple[str, tuple[int, ...], str]],
        metadata: dict[str, str] | None = None,
    ):
        self.path = Path(path)
        self.layout = list(layout)
        header: dict[str, Any] = {}
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        offset = 0
        for name, shape, code in self.layout:
            n = 1
            for d in shape:
                n *= int(d)
            size = n * _itemsize(code)
            header[name] = {
                "dtype": code,
                "shape": list(shape),
                "data_offsets": [offset, offset + size],
            }
            offset += size
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # the tensor data starts 8-byte aligned, as safetensors does
        self._header = raw
        self._next = 0
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        self._fh: Any = None

    def __enter__(self) -> StreamingSafetensorsWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self._tmp, "wb")
        self._fh.write(struct.pack("<Q", len(self._header)))
        self._fh.write(self._header)
        return self

    def write(self, name: str, tensor: Any) -> None:
        expect, shape, code = self.layout[self._next]
        if name != expect:
            raise WeightsError(f"internal: wrote {name} where {expect} was due")
        t = tensor.detach().contiguous().cpu()
        if (
            tuple(t.shape) != tuple(shape)
            or TORCH_TO_ST[str(t.dtype).removeprefix("torch.")] != code
        ):
            raise WeightsError(
                f"internal: {name} is {tuple(t.shape)} {t.dtype}, declared {tuple(shape)} {code}"
            )
        import torch

        if t.numel():  # the tensor's own bytes, without a copy
            self._fh.write(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
        self._next += 1

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._fh.close()
        if exc_type is None and self._next != len(self.layout):
            self._tmp.unlink(missing_ok=True)
            raise WeightsError(
                f"internal: {self.path.name} got {self._next} of {len(self.layout)} tensors"
            )
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
