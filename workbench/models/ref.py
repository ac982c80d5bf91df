"""What a vector belongs to: :class:`ModelRef` names a model's space, and vectors entering it are
checked for finite values. (The bottom layer: models, concepts and the store all use these.)"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from workbench.errors import NonFiniteError

if TYPE_CHECKING:
    import torch


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
