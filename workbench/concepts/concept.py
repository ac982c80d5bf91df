"""The workbench's central object: a named direction with the recipe that made it.

A :class:`Concept` holds one vector per site (``blocks.12.hook_resid_post`` -> [d_model]; a
diffusion concept holds e.g. ``text_encoder.hidden`` -> [seq, dim] and ``text_encoder.pooled``),
the model whose space it lives in (:class:`ModelRef`), and a JSON-serialisable ``recipe`` that
says how to make it again (method, parameters, prompts, position rule, expression, version).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from workbench.errors import ShapeMismatchError, SiteError
from workbench.models.ref import ModelRef as ModelRef
from workbench.models.ref import check_finite_vectors as check_finite_vectors

if TYPE_CHECKING:
    import torch

RECIPE_VERSION = 1


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
            except SiteError:  # an imported vector's own site name: it has no layer
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


def _byte_dtype():
    import torch

    return torch.uint8
