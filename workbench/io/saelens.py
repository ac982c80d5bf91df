"""Import one feature of a SAELens sparse autoencoder as a concept (import only).

A SAELens SAE saved with ``SAE.save_model`` is a folder with ``cfg.json`` and
``sae_weights.safetensors`` (``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``, ``b_enc``,
``b_dec``). A feature's steering vector is the decoder row ``W_dec[i]``, added at the SAE's
hook. The hook is ``cfg["hook_name"]`` (SAELens < 6) or ``cfg["metadata"]["hook_name"]``
(SAELens 6), e.g. ``blocks.8.hook_resid_pre``; ``site=`` overrides it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.io._common import build_concept, check_site, fail

if TYPE_CHECKING:
    from workbench.concepts.concept import Concept, ModelRef

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"


def folder_of(path: Path) -> Path:
    """The SAE folder for ``path`` (the folder itself, its cfg.json or its weights file)."""
    return path if path.is_dir() else path.parent


def is_sae_folder(path: Path) -> bool:
    """True when ``path`` is (or is a file in) a folder holding a SAELens SAE."""
    folder = folder_of(path)
    return (folder / CFG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


def _cfg_value(cfg: dict[str, Any], key: str) -> Any:
    meta = cfg.get("metadata")
    if key in cfg and cfg[key] is not None:
        return cfg[key]
    if isinstance(meta, dict):
        return meta.get(key)
    return None


def read(
    path: Path,
    *,
    name: str | None = None,
    model: ModelRef | None = None,
    site: str | None = None,
    feature: int | None = None,
) -> Concept:
    """Read feature ``feature`` (row ``W_dec[feature]``) of the SAE in ``path``."""
    from safetensors import SafetensorError, safe_open

    folder = folder_of(path)
    if not is_sae_folder(path):
        fail(
            f"{folder} is not a SAELens SAE folder: it needs {CFG_FILE} and {WEIGHTS_FILE} "
            "(what SAE.save_model writes)."
        )
    if feature is None:
        fail(
            f"{folder} is a sparse autoencoder; pass feature=<index> to say which feature to import."
        )
    if not isinstance(feature, int) or isinstance(feature, bool):
        fail(f"feature must be an integer index; got {feature!r}.")
    try:
        cfg = json.loads((folder / CFG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"{folder / CFG_FILE} is not readable JSON ({e}).")
    if not isinstance(cfg, dict):
        fail(f"{folder / CFG_FILE} should hold a JSON object.")
    hook_name = _cfg_value(cfg, "hook_name")
    if site is None and not hook_name:
        fail(f"{folder / CFG_FILE} has no hook_name; pass site=... to say where the SAE reads.")
    where = check_site(site or str(hook_name), f"{folder / CFG_FILE}: hook_name")
    if where.endswith("attn.hook_z") or where.endswith("attn.hook_pattern"):
        fail(
            f"this SAE reads {where}; its decoder rows are flattened per-head values, which the "
            "workbench cannot steer with yet. Use an SAE on the residual stream or an output site."
        )
    try:
        with safe_open(str(folder / WEIGHTS_FILE), framework="pt", device="cpu") as f:
            if "W_dec" not in f.keys():  # noqa: SIM118
                fail(f"{folder / WEIGHTS_FILE} has no W_dec tensor; found {', '.join(f.keys())}.")
            w_dec = f.get_slice("W_dec")
            shape = list(w_dec.get_shape())
            if len(shape) != 2:
                fail(f"{folder / WEIGHTS_FILE}: W_dec has shape {shape}; expected [d_sae, d_in].")
            d_sae, d_in = shape
            if not 0 <= feature < d_sae:
                fail(
                    f"feature {feature} is out of range: this SAE has {d_sae} features (0..{d_sae - 1})."
                )
            row = w_dec[feature : feature + 1][0].clone()  # reads one row, not the whole matrix
    except SafetensorError as e:
        fail(f"{folder / WEIGHTS_FILE} is not a readable safetensors file ({e}).")
    expected = _cfg_value(cfg, "d_in")
    if expected is not None and int(expected) != d_in:
        fail(f"{folder}: cfg.json says d_in={expected} but W_dec rows have {d_in} values.")
    model_name = str(_cfg_value(cfg, "model_name") or "")
    sae_id = str(_cfg_value(cfg, "neuronpedia_id") or folder.name)
    return build_concept(
        {where: row},
        fmt="saelens",
        path=folder,
        default_name=f"{sae_id} #{feature}",
        name=name,
        model=model if model is not None else _model_ref(model_name, d_in),
        recipe_extra={
            "method": "sae_feature",
            "feature": feature,
            "hook_name": hook_name,
            "d_sae": d_sae,
            "sae": sae_id,
        },
    )


def _model_ref(model_name: str, d_in: int) -> ModelRef | None:
    from workbench.models.ref import ModelRef

    return ModelRef(name=model_name, d_model=d_in) if model_name else None
