"""Tensors as raw bytes, dtype name, shape and sha256: bit-exact, readable without torch.

``float32`` bytes are what ``numpy.frombuffer(data, "<f4")`` reads; ``bfloat16`` is stored as its
two raw bytes per value (numpy has no bfloat16: read it as ``<u2`` and shift left by 16 into a
``<u4`` viewed as ``<f4``). Bytes are in the machine's order, which is little-endian on every
platform the workbench supports.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.store.errors import CorruptProjectError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class EncodedTensor:
    """A tensor ready to store: the columns of :class:`~workbench.store.schema.TensorColumns`."""

    dtype: str
    shape: list[int]
    sha256: str
    data: bytes
    norm: float


def encode(tensor: torch.Tensor) -> EncodedTensor:
    """Raw bytes of ``tensor`` (any device, any dtype, bfloat16 included) and its checksum."""
    import torch

    t = tensor.detach().to("cpu").contiguous()
    data = t.reshape(-1).view(torch.uint8).numpy().tobytes()
    if t.numel() == 0 or t.dtype == torch.bool:
        norm = 0.0
    elif t.is_complex():
        norm = float(t.abs().double().norm())
    else:
        norm = float(t.float().norm())  # as Concept.norms() computes it
    return EncodedTensor(
        dtype=str(t.dtype).removeprefix("torch."),
        shape=list(t.shape),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        norm=norm,
    )


def decode(
    dtype: str, shape: list[int], sha256: str | None, data: bytes, what: str
) -> torch.Tensor:
    """The tensor stored as ``data``; checks the sha256 unless it is None.

    Raises
    ------
    CorruptProjectError
        When the bytes do not match the checksum, the dtype or the shape.
    """
    import torch

    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise CorruptProjectError(f"{what} has an unknown dtype {dtype!r}.")
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CorruptProjectError(
            f"{what} is damaged: its bytes do not match the checksum saved with them. "
            "Make it again from its recipe, or open a backup copy of the project."
        )
    itemsize = torch.empty((), dtype=torch_dtype).element_size()
    numel = 1
    for n in shape:
        numel *= int(n)
    if len(data) != numel * itemsize:
        raise CorruptProjectError(
            f"{what} is damaged: {len(data)} bytes cannot be a {dtype} tensor of shape {shape}."
        )
    if numel == 0:
        return torch.empty(shape, dtype=torch_dtype)
    # bytearray: torch wants a writable buffer, and the tensor must own its memory.
    flat = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return flat.view(torch_dtype).reshape(shape)
