"""Export and import concepts as vector files: one entry point for every format.

==============  ===========================  =====================================================
format          extensions                   what it keeps
==============  ===========================  =====================================================
safetensors     .safetensors                 everything: tensors bit-exact (any dtype), id, recipe,
                                             model, sites, hash (the workbench's own format)
gguf            .gguf                        llama.cpp / repeng control vector: float32, resid_post
                                             of blocks >= 1 only (see :mod:`.gguf_control`)
pt              .pt, .pth (or a folder)      ``{site: tensor}``; read with ``weights_only=True``
npy             .npy                         one vector, no site (import needs ``site=``)
npz             .npz                         ``{site: array}``
neuronpedia     .json                        one residual-stream vector, Neuronpedia's upload JSON
svec            .svec                        IBM activation-steering JSON, one vector per layer
saelens         folder (import only)         one feature (``W_dec`` row) of a SAELens SAE
==============  ===========================  =====================================================

Only the safetensors file gives back the same Concept (same id, recipe and model). The others
keep the tensors (bit-exact where their dtype allows: see each module) and make a new concept
whose recipe says ``{"method": "import", "format": ..., "source": path}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.io import (
    gguf_control,
    ibm_svec,
    neuronpedia,
    numpy_formats,
    saelens,
    safetensors_format,
    torch_format,
)
from workbench.io._common import fail

if TYPE_CHECKING:
    from workbench.concepts.concept import Concept, ModelRef


@dataclass(frozen=True)
class VectorFormat:
    """One vector-file format: how the CLI and the export dialog describe and offer it."""

    name: str
    description: str
    extensions: tuple[str, ...]
    export_options: tuple[str, ...] = ()
    can_export: bool = True
    single_site: bool = False  # holds one vector only

    @property
    def default_extension(self) -> str:
        return self.extensions[0] if self.extensions else ""


FORMATS: dict[str, VectorFormat] = {
    f.name: f
    for f in (
        VectorFormat(
            "safetensors",
            "Concept Workbench vectors (safetensors with full metadata)",
            (".safetensors",),
            safetensors_format.EXPORT_OPTIONS,
        ),
        VectorFormat(
            "gguf",
            "GGUF control vector for llama.cpp and repeng (lossy)",
            (".gguf",),
            gguf_control.EXPORT_OPTIONS,
        ),
        VectorFormat(
            "pt", "PyTorch tensors {site: tensor}", (".pt", ".pth"), torch_format.EXPORT_OPTIONS
        ),
        VectorFormat(
            "npy",
            "NumPy array, one vector",
            (".npy",),
            numpy_formats.NPY_EXPORT_OPTIONS,
            single_site=True,
        ),
        VectorFormat(
            "npz", "NumPy archive {site: array}", (".npz",), numpy_formats.NPZ_EXPORT_OPTIONS
        ),
        VectorFormat(
            "neuronpedia",
            "Neuronpedia custom vector (JSON)",
            (".json",),
            neuronpedia.EXPORT_OPTIONS,
            single_site=True,
        ),
        VectorFormat(
            "svec", "IBM activation-steering vector (JSON)", (".svec",), ibm_svec.EXPORT_OPTIONS
        ),
        VectorFormat(
            "saelens",
            "SAELens SAE folder: one feature's decoder row (import only)",
            (),
            can_export=False,
            single_site=True,
        ),
    )
}

_WRITERS: dict[str, Callable[..., None]] = {
    "safetensors": safetensors_format.write,
    "gguf": gguf_control.write,
    "pt": torch_format.write,
    "npy": numpy_formats.write_npy,
    "npz": numpy_formats.write_npz,
    "neuronpedia": neuronpedia.write,
    "svec": ibm_svec.write,
}
_READERS: dict[str, Callable[..., Concept]] = {
    "safetensors": safetensors_format.read,
    "gguf": gguf_control.read,
    "pt": torch_format.read,
    "npy": numpy_formats.read_npy,
    "npz": numpy_formats.read_npz,
    "neuronpedia": neuronpedia.read,
    "svec": ibm_svec.read,
}


def _known() -> str:
    return ", ".join(f"{n} ({'/'.join(f.extensions) or 'folder'})" for n, f in FORMATS.items())


def _check_format(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        fail(f"unknown vector format {fmt!r}; the workbench knows {_known()}.")
    return fmt


def _sniff(path: Path) -> str | None:
    """The format a file's first bytes (or a JSON file's keys) reveal, if any."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    if head.startswith(b"PK"):  # both torch.save and np.savez write zip archives
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            return None
        return "pt" if any(n.endswith("data.pkl") for n in names) else "npz"
    if head.lstrip()[:1] == b"{":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if ibm_svec.looks_like(data):
            return "svec"
        if neuronpedia.looks_like(data):
            return "neuronpedia"
    return None


def detect_format(path: str | Path) -> str:
    """The format of an existing vector file or folder, from its name and, if needed, content.

    Raises
    ------
    VectorFileError
        When the path does not exist or its format cannot be told.
    """
    path = Path(path)
    if not path.exists():
        fail(f"{path} does not exist.")
    if saelens.is_sae_folder(path) and (
        path.is_dir() or path.name in (saelens.CFG_FILE, saelens.WEIGHTS_FILE)
    ):
        return "saelens"
    if path.is_dir():
        if any(p.name.startswith("layer_") and p.suffix == ".pt" for p in path.iterdir()):
            return "pt"
        fail(f"{path} is a folder but neither a SAELens SAE nor a folder of layer_{{L}}.pt files.")
    suffix = path.suffix.lower()
    by_ext = [n for n, f in FORMATS.items() if suffix in f.extensions]
    sniffed = _sniff(path)
    if suffix == ".json":
        if sniffed in ("neuronpedia", "svec"):
            return sniffed
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            fail(f"{path} is not readable JSON ({e}).")
        fail(f"{path} is JSON but neither a Neuronpedia vector nor an IBM .svec.")
    if by_ext and (sniffed is None or sniffed == by_ext[0]):
        return by_ext[0]
    if sniffed:
        return sniffed
    fail(
        f"cannot tell the format of {path.name} from its name or its first bytes. Give it one "
        f"of these endings: {', '.join(sorted({e for f in FORMATS.values() for e in f.extensions}))}"
        f" (or name the format: one of {', '.join(_READERS)})."
    )


def export_concept(
    concept: Concept, path: str | Path, fmt: str | None = None, **options: Any
) -> Path:
    """Write ``concept`` to ``path`` in ``fmt`` (default: from the extension); return the path.

    ``options`` are per format (see each module): ``coefficient``, ``model_hint`` and
    ``skip_unsupported`` for gguf; ``site`` for npy; ``site``, ``strength``, ``model_id``,
    ``label`` and ``hook_type`` for neuronpedia; ``model_type`` for svec. A path without an
    extension gets the format's. The file is written to a temporary name and moved into place,
    so a failed export leaves nothing behind.

    Raises
    ------
    VectorFileError
        When the format is unknown, an option does not apply, or the concept cannot be
        expressed in the format (the message says why and what to use instead).
    """
    path = Path(path)
    if fmt is None:
        suffix = path.suffix.lower()
        matches = [n for n, f in FORMATS.items() if f.can_export and suffix in f.extensions]
        if not matches:
            fail(
                f"cannot tell the format from {path.name!r}: end the file name with one of the "
                f"formats' extensions ({_known()})."
            )
        fmt = matches[0]
    fmt = _check_format(fmt)
    info = FORMATS[fmt]
    if not info.can_export:
        fail(f"{fmt} is import-only: the workbench does not write {info.description}.")
    unknown = sorted(set(options) - set(info.export_options))
    if unknown:
        accepted = ", ".join(info.export_options) or "none"
        fail(f"option(s) {', '.join(unknown)} do not apply to {fmt}; it accepts: {accepted}.")
    if not path.suffix:
        path = path.with_suffix(info.default_extension)
    if path.is_dir():
        fail(f"{path} is a folder; give a file name to export to.")
    _WRITERS[fmt](concept, path, **options)
    return path


def import_concept(
    path: str | Path,
    fmt: str | None = None,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
    feature: int | None = None,
) -> Concept:
    """Read a vector file (or SAELens folder) as a :class:`Concept`.

    Parameters
    ----------
    path
        The file, or a folder (SAELens SAE, or EasyEdit-style ``layer_{L}.pt`` files).
    fmt
        A key of :data:`FORMATS`; detected from the name and content when omitted.
    name
        The concept's name; defaults to what the file says, or its stem.
    model
        The model the vectors belong to; replaces what the file says (often only a hint).
    site
        For files that hold a bare vector (npy, a single tensor), where it belongs; for
        per-layer files without site names (``layer_{L}.pt``, ``{int: tensor}``), a template
        such as ``blocks.{L}.hook_resid_post``; for multi-site files, the one site to keep; for
        SAELens, overrides the SAE's hook.
    feature
        SAELens only: the feature index (row of ``W_dec``).

    Raises
    ------
    VectorFileError
        When the file is missing, corrupt, of another format, or needs ``site``/``feature``.
    """
    path = Path(path)
    if not path.exists():
        fail(f"{path} does not exist.")
    fmt = _check_format(fmt) if fmt is not None else detect_format(path)
    if fmt == "saelens":
        return saelens.read(path, name=name, model=model, site=site, feature=feature)
    if feature is not None:
        fail(f"feature= applies to SAELens SAE folders only; {path} is {fmt}.")
    if path.is_dir() and fmt != "pt":
        fail(f"{path} is a folder; {fmt} is read from a file.")
    concept = _READERS[fmt](path, name=name, model=model, site=site)
    check_imported(concept, str(path))
    return concept


_ONE_VECTOR_KINDS = ("embed", "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")


def check_imported(concept: Concept, where: str) -> None:
    """What every imported concept must be: floating-point, finite, and at a language-model
    residual-stream site one vector (``[d_model]``, 1-D); at ``attn.hook_z`` ``[d_head]`` or
    ``[head, d_head]``. Diffusion sites (``text_encoder.hidden`` [seq, dim]) keep their shapes.

    Raises
    ------
    VectorFileError
        Naming the concept, the site and the shape or dtype found.
    NonFiniteError
        When a value is NaN or infinite.
    """
    from workbench.errors import SiteError
    from workbench.models.sites import parse_site

    if not concept.vectors:
        fail(f"{where} holds no vectors.")
    for site, t in concept.vectors.items():
        if not t.dtype.is_floating_point:
            fail(
                f"{where}: concept {concept.name!r} has dtype {str(t.dtype).replace('torch.', '')} "
                f"at {site}; a steering vector must hold floats (float32, float16, bfloat16). "
                "Convert it, e.g. tensor.float(), and save it again."
            )
        try:
            kind = parse_site(site).kind
        except SiteError:
            kind = ""  # a diffusion site: its own code checks its shapes
        shape = tuple(t.shape)
        if kind in _ONE_VECTOR_KINDS and (t.ndim != 1 or t.numel() == 0):
            fail(
                f"{where}: concept {concept.name!r} has shape {list(shape)} at {site}; a "
                "residual-stream site takes one vector of the model's width, shape [d_model]. "
                "Save a single 1-D vector per site (e.g. tensor.mean(0) or tensor[0])."
            )
        d_model = concept.model.d_model
        if kind in _ONE_VECTOR_KINDS and d_model and shape[0] != d_model:
            fail(
                f"{where}: concept {concept.name!r} has width {shape[0]} at {site}, but the file "
                f"says its model ({concept.model.name}) has width {d_model}; the file is "
                "inconsistent. Export it again."
            )
        if kind == "z" and (t.ndim not in (1, 2) or t.numel() == 0):
            fail(
                f"{where}: concept {concept.name!r} has shape {list(shape)} at {site}; a head "
                "output site takes [d_head] or [head, d_head]."
            )
        if kind == "pattern":
            fail(f"{where}: {site} is an attention pattern, not a place to add a vector.")
    concept.check_finite(where)


def check_for_model(concept: Concept, hm: Any, sites: list[str] | None = None) -> None:
    """Refuse a concept that cannot steer the loaded model ``hm`` at ``sites`` (default: all of
    its sites): a site the model lacks, a vector of another width, a non-float or non-finite
    value. The message names the concept, the site and what was found."""
    from workbench.errors import ShapeMismatchError

    for site in sites if sites is not None else concept.sites:
        t = concept.vector(site)
        s = hm.check_site(site)
        shape = list(t.shape)
        if s.kind == "z":
            ok = t.ndim in (1, 2) and t.shape[-1] == hm.d_head
            ok = ok and (t.ndim == 1 or t.shape[0] == hm.n_heads)
            want = f"[{hm.d_head}] or [{hm.n_heads}, {hm.d_head}]"
        else:
            ok = t.ndim == 1 and t.shape[0] == hm.d_model
            want = f"[{hm.d_model}]"
        if not ok:
            raise ShapeMismatchError(
                f"concept {concept.name!r} has shape {shape} at {site}, but {hm.ref.name} needs "
                f"{want} there. It was probably made on another model: extract it again on this "
                "one, or load the model it came from."
            )
        if not t.dtype.is_floating_point:
            raise ShapeMismatchError(
                f"concept {concept.name!r} has dtype {t.dtype} at {site}; it must hold floats."
            )
    concept.check_finite()


_SITE_IN_NAME = re.compile(
    r"blocks\.\d+\.(?:hook_(?:resid_pre|resid_mid|resid_post|attn_out|mlp_out)|attn\.hook_z)"
    r"(?![A-Za-z0-9])"
)


def site_in_name(path: str | Path) -> str | None:
    """A hook site written in a file's name (``happy.blocks.12.hook_resid_post.npy``), if any:
    where a bare vector most likely belongs."""
    m = _SITE_IN_NAME.search(Path(path).name)
    return m.group(0) if m else None


def attach_to_model(concept: Concept, ref: ModelRef) -> tuple[Concept, str]:
    """Attach an imported concept to the loaded model when the file cannot say which model it
    belongs to, and say what was done.

    Many files name no model (a bare tensor) or only a family hint (GGUF control vectors:
    ``llama``). When such a concept's residual-stream vectors have the loaded model's width it
    is attached to that model (the hint is kept in its recipe as ``imported_model_hint``); a
    concept whose file identifies its model (a weights hash) is never re-attached. Returns the
    concept (the same object when nothing changed) and a sentence for the user ("" when there
    is nothing to say).
    """
    widths = {
        int(v.shape[-1])
        for site, v in concept.vectors.items()
        if v.dim() >= 1 and ".attn." not in site
    }
    old = concept.model
    if ref.d_model and widths and widths != {ref.d_model}:
        shown = ", ".join(str(w) for w in sorted(widths))
        return concept, (
            f"{concept.name!r} has width {shown}, but {ref.name} has d_model {ref.d_model}: it "
            "cannot steer this model. Load a model of that width to use it."
        )
    if ref.same_space(old):
        return concept, ""
    vague = not old.file_hash and old.name in ("", "unknown", old.model_type)
    if not vague:
        return concept, ""
    recipe = {**concept.recipe, "imported_model_hint": old.name}
    hint = f" (it names only {old.name!r})" if old.name not in ("", "unknown") else ""
    return replace(concept, model=ref, recipe=recipe), (
        f"{concept.name!r}: the file does not say which model made it{hint}; its width matches "
        f"{ref.name}, so it is attached to that model."
    )
