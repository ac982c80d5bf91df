"""Placing a model that does not fit one device: accelerate's ``device_map``, ``max_memory``
and CPU and disk offload, as a user writes them on the command line or in the window.

``device_map``
    ``auto``, ``balanced``, ``balanced_low_0`` or ``sequential`` (accelerate plans the
    placement from the free memory, or ``max_memory``), or a per-layer map: JSON (inline or a
    ``.json`` file) whose keys are block indices or ranges (``"0-11"``, ``"12"``), ``"rest"``
    (the embeddings, final norm and unembedding; default: where block 0 goes) or module names
    (``"model.embed_tokens"``), and whose values are devices: a GPU number, ``cuda:N``,
    ``cpu``, ``mps`` or ``disk``.
``max_memory``
    ``0=10GiB,1=20GiB,cpu=30GiB``: the most each device may hold (accelerate's form).
``offload_folder``
    Where weights placed on ``disk`` are written; needed whenever anything goes to disk.

Hooks fire on offloaded modules as on any other (accelerate moves the weights in for the
forward), so captures and interventions are exact under offload: tests/engine/test_offload.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from workbench.errors import ModelLoadError

PLANNED = ("auto", "balanced", "balanced_low_0", "sequential")
MAP_HELP = (
    "place a model too big for one device: auto, balanced, sequential, or a per-layer JSON map "
    'such as \'{"0-11": 0, "12-23": "cpu", "24-29": "disk"}\' (or a .json file); default: the '
    "whole model on --device"
)
MEMORY_HELP = "with --device-map: the most each device may hold, e.g. 0=10GiB,1=20GiB,cpu=30GiB"
OFFLOAD_HELP = "with --device-map: a folder for the weights placed on disk"


def parse_device_map(text: str | dict | None) -> str | dict[str, Any] | None:
    """A device map as accelerate takes it, before layer numbers are resolved (a keyword, or
    a dict); None for none. Refuses anything else with what to write."""
    if text is None or text == "" or text == "none":
        return None
    if isinstance(text, dict):
        data: Any = text
    else:
        s = text.strip()
        if s in PLANNED:
            return s
        if s.startswith("{"):
            raw = s
        elif s.lower().endswith(".json") and Path(s).expanduser().is_file():
            raw = Path(s).expanduser().read_text(encoding="utf-8")
        else:
            raise ModelLoadError(
                f"device map {text!r}: use {', '.join(PLANNED)}, a JSON map of layers to devices "
                'such as {"0-11": 0, "12-23": "cpu"}, or a .json file holding one.'
            )
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ModelLoadError(f"device map: not valid JSON ({e}).") from None
    if not isinstance(data, dict) or not data:
        raise ModelLoadError('device map: a JSON object of layers to devices, e.g. {"0-11": 0}.')
    return {str(k): _device(v) for k, v in data.items()}


def _device(v: Any) -> int | str:
    if isinstance(v, bool):
        raise ModelLoadError(f"device map: {v!r} is not a device.")
    if isinstance(v, int) and v >= 0:
        return v
    s = str(v).strip()
    if re.fullmatch(r"\d+", s):
        return int(s)
    if re.fullmatch(r"cpu|disk|mps|cuda:\d+", s):
        return int(s[5:]) if s.startswith("cuda:") else s
    raise ModelLoadError(
        f"device map: {v!r} is not a device; use a GPU number, cuda:N, cpu, mps or disk."
    )


def parse_max_memory(text: str | dict | None) -> dict[int | str, str] | None:
    """``0=10GiB,cpu=30GiB`` (or a dict) as accelerate's ``max_memory``."""
    if text is None or text == "":
        return None
    items = text.items() if isinstance(text, dict) else _pairs(str(text))
    out: dict[int | str, str] = {}
    for k, v in items:
        dev = _device(k)
        if dev == "disk":
            raise ModelLoadError("max memory: disk has no limit; give GPUs and cpu.")
        size = str(v).strip()
        if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B)?", size, flags=re.IGNORECASE):
            raise ModelLoadError(
                f"max memory: {size!r} for {k} is not a size; write e.g. 10GiB, 500MB or bytes."
            )
        out[dev] = size
    return out


def _pairs(s: str) -> list[tuple[str, str]]:
    out = []
    for part in s.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ModelLoadError(
                f"max memory: {part.strip()!r} has no '='; write DEVICE=SIZE pairs, e.g. "
                "0=10GiB,cpu=30GiB."
            )
        k, v = part.split("=", 1)
        out.append((k.strip(), v.strip()))
    return out


def _layers_prefix(meta: Any, n_layers: int) -> str:
    """The name of the model's list of blocks (``model.layers``, ``transformer.h``, …)."""
    import torch

    for name, mod in meta.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) == n_layers:
            return name
    raise ModelLoadError("device map: could not find this model's list of blocks.")


def resolve_device_map(
    device_map: str | dict[str, Any] | None, config: Any, model_class: Any
) -> str | dict[str, Any] | None:
    """Turn block numbers and ``rest`` into the module names accelerate needs, on an empty
    (meta) copy of the model; keywords pass through."""
    if device_map is None or isinstance(device_map, str):
        return device_map
    from accelerate import init_empty_weights

    with init_empty_weights():
        meta = model_class.from_config(config)
    n_layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0))
    prefix = _layers_prefix(meta, n_layers)
    out: dict[str, int | str] = {}
    rest = device_map.get("rest")
    for key, dev in device_map.items():
        if key == "rest":
            continue
        m = re.fullmatch(r"(?:layers?\.)?(\d+)(?:-(\d+))?", key)
        if m:
            a, b = int(m.group(1)), int(m.group(2) or m.group(1))
            if not 0 <= a <= b < n_layers:
                raise ModelLoadError(
                    f"device map: layers {key} are outside this model's 0-{n_layers - 1}."
                )
            for i in range(a, b + 1):
                out[f"{prefix}.{i}"] = dev
        else:
            out[key] = dev
    if rest is None:
        rest = out.get(f"{prefix}.0", next(iter(out.values())))
    names = {n for n, _ in meta.named_modules() if n}
    unknown = [k for k in out if k not in names]
    if unknown:
        raise ModelLoadError(
            f"device map: {unknown[0]!r} is not a module of this model; use block numbers "
            f"(0-{n_layers - 1}), 'rest', or module names such as {prefix}.0."
        )
    missing = [i for i in range(n_layers) if not _covered(f"{prefix}.{i}", out)]
    if missing and "rest" not in device_map:
        raise ModelLoadError(
            f"device map: blocks {missing[:5]} have no device; map every block, or give 'rest'."
        )
    # every parameter and buffer outside the mapped modules goes to ``rest``
    for name, _ in [*meta.named_parameters(), *meta.named_buffers()]:
        if not _covered(name, out):
            out[name.rsplit(".", 1)[0] if "." in name else name] = rest
    return out


def _covered(name: str, mapping: dict[str, Any]) -> bool:
    return any(name == k or name.startswith(k + ".") for k in mapping)


def describe(device_map: Any) -> str:
    """``cpu x 20, disk x 12`` for a loaded model's ``hf_device_map``."""
    counts: dict[str, int] = {}
    for dev in (device_map or {}).values():
        key = f"cuda:{dev}" if isinstance(dev, int) else str(dev)
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} x {n}" for k, n in counts.items())
