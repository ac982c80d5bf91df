"""The workbench's central object: a named direction with the recipe that made it.

A :class:`Concept` holds one vector per site (``blocks.12.hook_resid_post`` -> [d_model]; a
diffusion concept holds e.g. ``text_encoder.hidden`` -> [seq, dim] and ``text_encoder.pooled``),
the model whose space it lives in (:class:`ModelRef`), and a JSON-serialisable ``recipe`` that
says how to make it again (method, parameters, prompts, position rule, expression, version).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from workbench.errors import NonFiniteError, ShapeMismatchError

if TYPE_CHECKING:
    import torch

RECIPE_VERSION = 1


@dataclass(frozen=True)
class ModelRef:
    """How to recognise (and find again) the model a vector belongs to."""

    name: str  # display name, e.g. "SmolLM2-135M-Instruct" or a hub id
    architecture: str = ""  # e.g. "LlamaForCausalLM"
    d_model: int = 0
    n_layers: int = 0
    model_type: str = ""  # config.model_type, e.g. "llama" (GGUF's controlvector.model_hint)
    file_hash: str = ""  # sha256 of the weights file (or of the config for folders)
    source: str = ""  # path, "embedded:smollm2-135m-instruct", or "hf-cache:<repo id>"
    kind: str = "lm"  # "lm" or "diffusion"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelRef:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def same_space(self, other: ModelRef) -> bool:
        """Vectors of two models can be combined when their hashes (or names) and widths agree."""
        if self.d_model and other.d_model and self.d_model != other.d_model:
            return False
        if self.file_hash and other.file_hash:
            return self.file_hash == other.file_hash
        return self.name == other.name


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Concept:
    """A named set of vectors, one per site, and how it was made."""

    name: str
    vectors: dict[str, torch.Tensor]
    model: ModelRef
    recipe: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: str = field(default_factory=_now)
    description: str = ""

    # ----------------------------------------------------------------- shape
    @property
    def sites(self) -> list[str]:
        return list(self.vectors)

    @property
    def layers(self) -> list[int]:
        from workbench.models.sites import parse_site

        out = []
        for s in self.vectors:
            try:
                layer = parse_site(s).layer
            except Exception:
                continue
            if layer is not None:
                out.append(layer)
        return sorted(set(out))

    @property
    def width(self) -> int:
        first = next(iter(self.vectors.values()))
        return int(first.shape[-1])

    def vector(self, site: str) -> torch.Tensor:
        try:
            return self.vectors[site]
        except KeyError:
            raise ShapeMismatchError(
                f"concept {self.name!r} has no vector at {site}; it has {', '.join(self.sites)}"
            ) from None

    def norms(self) -> dict[str, float]:
        return {s: float(v.float().norm()) for s, v in self.vectors.items()}

    def content_hash(self) -> str:
        """sha256 over sites, dtypes, shapes and raw bytes: equal iff the tensors are."""
        h = hashlib.sha256()
        for site in sorted(self.vectors):
            t = self.vectors[site].detach().cpu().contiguous()
            h.update(site.encode())
            h.update(str(t.dtype).encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(t.view(-1).view(dtype=_byte_dtype()).numpy().tobytes())
        return h.hexdigest()

    def check_finite(self, where: str = "") -> None:
        """Refuse NaN and infinite values, naming this concept and the site that holds them.

        Raises
        ------
        NonFiniteError
            At the first site with a non-finite value; ``where`` says where it came from.
        """
        check_finite_vectors(self.vectors, f"concept {self.name!r}", where)

    def with_new_id(self) -> Concept:
        """The same concept under a fresh id (an import must never take an existing one's)."""
        return replace(self, id=uuid.uuid4().hex)

    def renamed(self, name: str) -> Concept:
        return replace(self, name=name)

    def check_compatible(self, other: Concept) -> None:
        """Raise unless the two concepts live in the same model space and sites."""
        if not self.model.same_space(other.model):
            raise ShapeMismatchError(
                f"{self.name!r} belongs to {self.model.name} and {other.name!r} to "
                f"{other.model.name}: vectors of different models cannot be combined."
            )

    def __repr__(self) -> str:
        return f"Concept({self.name!r}, sites={len(self.vectors)}, model={self.model.name!r})"


def check_finite_vectors(vectors: dict[str, torch.Tensor], what: str, where: str = "") -> None:
    """Raise :class:`NonFiniteError` naming ``what`` and the first site with NaN or inf."""
    import torch

    for site, v in vectors.items():
        if not (v.dtype.is_floating_point or v.dtype.is_complex) or v.numel() == 0:
            continue
        finite = torch.isfinite(v)
        if bool(finite.all()):
            continue
        n_nan = int(torch.isnan(v).sum())
        n_inf = int((~finite).sum()) - n_nan
        parts = [f"{n} {k}" for n, k in ((n_nan, "NaN"), (n_inf, "infinite")) if n]
        src = f" ({where})" if where else ""
        raise NonFiniteError(
            f"{what}{src} has {' and '.join(parts)} value(s) of {v.numel()} at {site}; a vector "
            "with NaN or infinity would turn every activation it touches into NaN. Extract or "
            "export it again, or fix the expression that made it."
        )


def _byte_dtype():  # noqa: ANN202 - torch imported lazily
    import torch

    return torch.uint8
