"""Architecture adapters: where each family keeps its blocks, attention, MLP, norms and
embeddings, so that one site name means the same tensor in every model.

``adapter_for(model)`` picks the adapter by ``config.model_type``; an unknown architecture gets
:func:`discover_adapter`, which searches the module tree for the usual shapes and reports what it
found. Mixture-of-experts models are refused explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.errors import ModelLoadError, UnsupportedModelError

_MOE_HINTS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_intermediate_size")


@dataclass(frozen=True)
class AdapterSpec:
    """Dotted attribute paths, relative to the model (blocks) or to one block (the rest)."""

    family: str
    blocks: str  # e.g. "model.layers"
    attn: str  # e.g. "self_attn"
    o_proj: str  # attention output projection inside attn, input = concat of heads' z
    mlp: str
    ln_mlp: str | None  # norm whose *input* is resid_mid (None: parallel attention + MLP)
    final_norm: str
    embed: str
    unembed: str = "lm_head"
    # resid_mid = resid_pre + attn_out holds (pre-norm sequential blocks); writes at resid_mid
    # are then applied to the attention output.
    resid_mid_is_sum: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)


_LLAMA_LIKE: dict[str, Any] = dict(
    blocks="model.layers",
    attn="self_attn",
    o_proj="self_attn.o_proj",
    mlp="mlp",
    ln_mlp="post_attention_layernorm",
    final_norm="model.norm",
    embed="model.embed_tokens",
)

SPECS: dict[str, AdapterSpec] = {
    "llama": AdapterSpec("llama", **_LLAMA_LIKE),
    "mistral": AdapterSpec("mistral", **_LLAMA_LIKE),
    "qwen2": AdapterSpec("qwen2", **_LLAMA_LIKE),
    "qwen3": AdapterSpec("qwen3", **_LLAMA_LIKE),
    "gemma": AdapterSpec("gemma", **_LLAMA_LIKE),
    # Gemma 2/3 normalise the attention output before the residual add, so the MLP's input
    # norm is pre_feedforward_layernorm and resid_mid is not resid_pre + attn_out.
    "gemma2": AdapterSpec(
        "gemma2",
        **{**_LLAMA_LIKE, "ln_mlp": "pre_feedforward_layernorm"},
        resid_mid_is_sum=False,
        notes=("attn_out is taken before Gemma 2's post-attention norm",),
    ),
    "gemma3_text": AdapterSpec(
        "gemma3_text",
        **{**_LLAMA_LIKE, "ln_mlp": "pre_feedforward_layernorm"},
        resid_mid_is_sum=False,
    ),
    "gpt2": AdapterSpec(
        "gpt2",
        blocks="transformer.h",
        attn="attn",
        o_proj="attn.c_proj",
        mlp="mlp",
        ln_mlp="ln_2",
        final_norm="transformer.ln_f",
        embed="transformer.wte",
    ),
    "gpt_neox": AdapterSpec(
        "gpt_neox",
        blocks="gpt_neox.layers",
        attn="attention",
        o_proj="attention.dense",
        mlp="mlp",
        ln_mlp="post_attention_layernorm",
        final_norm="gpt_neox.final_layer_norm",
        embed="gpt_neox.embed_in",
        unembed="embed_out",
    ),
    "phi": AdapterSpec(
        "phi",
        blocks="model.layers",
        attn="self_attn",
        o_proj="self_attn.dense",
        mlp="mlp",
        ln_mlp=None,  # parallel attention and MLP: no resid_mid
        final_norm="model.final_layernorm",
        embed="model.embed_tokens",
        resid_mid_is_sum=False,
    ),
    "phi3": AdapterSpec(
        "phi3",
        blocks="model.layers",
        attn="self_attn",
        o_proj="self_attn.o_proj",
        mlp="mlp",
        ln_mlp="post_attention_layernorm",
        final_norm="model.norm",
        embed="model.embed_tokens",
    ),
}
SUPPORTED_FAMILIES = tuple(sorted(SPECS))


def get_path(root: Any, path: str) -> Any:
    obj = root
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def has_path(root: Any, path: str) -> bool:
    try:
        get_path(root, path)
    except (AttributeError, IndexError, KeyError, TypeError):
        return False
    return True


@dataclass
class Adapter:
    """An adapter bound to one loaded model."""

    spec: AdapterSpec
    model: Any
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    d_model: int
    discovered: bool = False

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def parallel(self) -> bool:
        if self.spec.family == "gpt_neox":
            return bool(getattr(self.model.config, "use_parallel_residual", True))
        return self.spec.ln_mlp is None

    def blocks(self) -> Any:
        return get_path(self.model, self.spec.blocks)

    def block(self, layer: int) -> Any:
        return self.blocks()[layer]

    def attn(self, layer: int) -> Any:
        return get_path(self.block(layer), self.spec.attn)

    def o_proj(self, layer: int) -> Any:
        return get_path(self.block(layer), self.spec.o_proj)

    def mlp(self, layer: int) -> Any:
        return get_path(self.block(layer), self.spec.mlp)

    def ln_mlp(self, layer: int) -> Any | None:
        if self.spec.ln_mlp is None or self.parallel:
            return None
        return get_path(self.block(layer), self.spec.ln_mlp)

    def final_norm(self) -> Any:
        return get_path(self.model, self.spec.final_norm)

    def embed(self) -> Any:
        return get_path(self.model, self.spec.embed)

    def unembed(self) -> Any:
        out = (
            self.model.get_output_embeddings()
            if hasattr(self.model, "get_output_embeddings")
            else None
        )
        return out if out is not None else get_path(self.model, self.spec.unembed)

    def o_proj_weight(self, layer: int):
        """[d_model, n_heads * d_head] (GPT-2's Conv1D stores the transpose)."""
        w = self.o_proj(layer).weight
        if w.device.type == "meta":  # offloaded by a device map: only a forward brings it in
            raise ModelLoadError(
                f"Block {layer}'s weights are offloaded to disk (device map), and this analysis "
                "reads weights directly rather than running the model: load the model without "
                "disk offload for it."
            )
        return w.t() if self.spec.family == "gpt2" else w

    def describe(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "discovered": self.discovered,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "d_head": self.d_head,
            "d_model": self.d_model,
            "parallel_attn_mlp": self.parallel,
            "paths": {
                "blocks": self.spec.blocks,
                "attn": self.spec.attn,
                "o_proj": self.spec.o_proj,
                "mlp": self.spec.mlp,
                "final_norm": self.spec.final_norm,
                "embed": self.spec.embed,
                "unembed": self.spec.unembed,
            },
            "notes": list(self.spec.notes),
        }


def _dims(config: Any) -> tuple[int, int, int, int, int]:
    cfg = config.get_text_config() if hasattr(config, "get_text_config") else config
    n_layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", None)
    d_model = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None)
    n_heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", None)
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_heads
    d_head = getattr(cfg, "head_dim", None) or (d_model // n_heads if d_model and n_heads else None)
    if not all((n_layers, d_model, n_heads, d_head)):
        raise UnsupportedModelError(
            f"Could not read the model's shape from its config ({type(cfg).__name__}): "
            "expected num_hidden_layers, hidden_size and num_attention_heads."
        )
    return int(n_layers), int(d_model), int(n_heads), int(n_kv or n_heads), int(d_head)  # type: ignore[arg-type]


def check_not_moe(config: Any) -> None:
    found = [h for h in _MOE_HINTS if getattr(config, h, None)]
    if found:
        raise UnsupportedModelError(
            f"{getattr(config, 'model_type', 'This model')} is a mixture-of-experts model "
            f"(config has {', '.join(found)}). Mixture-of-experts models are not supported yet: "
            "their MLP sites are routed per token. Use a dense model."
        )


def adapter_for(model: Any) -> Adapter:
    """The adapter for a loaded Hugging Face causal LM."""
    config = model.config
    check_not_moe(config)
    n_layers, d_model, n_heads, n_kv, d_head = _dims(config)
    spec = SPECS.get(getattr(config, "model_type", ""))
    discovered = False
    if spec is None or not has_path(model, spec.blocks):
        spec = discover_spec(model)
        discovered = True
    return Adapter(spec, model, n_layers, n_heads, n_kv, d_head, d_model, discovered)


def discover_spec(model: Any) -> AdapterSpec:
    """Best-effort search for blocks, attention, o_proj, MLP and norms in an unknown model."""
    import torch.nn as nn

    blocks_path = None
    n_layers = _dims(model.config)[0]
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            blocks_path = name
            break
    if blocks_path is None:
        raise UnsupportedModelError(
            f"Could not find the transformer blocks of {type(model).__name__}: no list of "
            f"{n_layers} modules. Supported families: {', '.join(SUPPORTED_FAMILIES)}."
        )
    block = get_path(model, blocks_path)[0]
    children = dict(block.named_children())

    def pick(cands: tuple[str, ...], what: str) -> str:
        for c in cands:
            if c in children:
                return c
        raise UnsupportedModelError(
            f"Found blocks at {blocks_path} but no {what} among {sorted(children)}. "
            f"Supported families: {', '.join(SUPPORTED_FAMILIES)}."
        )

    attn = pick(("self_attn", "attn", "attention", "self_attention"), "attention module")
    attn_children = dict(get_path(block, attn).named_children())
    o = next((c for c in ("o_proj", "out_proj", "c_proj", "dense") if c in attn_children), None)
    if o is None:
        raise UnsupportedModelError(f"No attention output projection in {sorted(attn_children)}.")
    mlp = pick(("mlp", "feed_forward", "ffn"), "MLP")
    ln = next((c for c in ("post_attention_layernorm", "ln_2") if c in children), None)
    prefix = blocks_path.rsplit(".", 1)[0] if "." in blocks_path else ""
    base = get_path(model, prefix) if prefix else model
    base_children = dict(base.named_children())
    norm = next(
        (c for c in ("norm", "ln_f", "final_layernorm", "final_layer_norm") if c in base_children),
        None,
    )
    emb = next((c for c in ("embed_tokens", "wte", "embed_in") if c in base_children), None)
    if norm is None or emb is None:
        raise UnsupportedModelError(
            f"Found blocks at {blocks_path} but not the final norm or embedding among "
            f"{sorted(base_children)}."
        )
    join = (lambda c: f"{prefix}.{c}") if prefix else (lambda c: c)
    unembed = "lm_head" if hasattr(model, "lm_head") else "embed_out"
    return AdapterSpec(
        family=f"discovered:{getattr(model.config, 'model_type', '?')}",
        blocks=blocks_path,
        attn=attn,
        o_proj=f"{attn}.{o}",
        mlp=mlp,
        ln_mlp=ln,
        final_norm=join(norm),
        embed=join(emb),
        unembed=unembed,
        notes=(f"discovered: blocks={blocks_path}, attn={attn}.{o}, mlp={mlp}, norm={norm}",),
    )
