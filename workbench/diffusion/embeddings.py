"""Prompt conditioning as concepts, at two levels of the text path.

- ``text_encoder``: what ``pipe.encode_prompt`` returns: the token sequence the denoiser attends to
  (site ``text_encoder.hidden``, [seq, dim]) and, for SDXL/SD3/Flux, the pooled vector (site
  ``text_encoder.pooled``, [dim]). For SDXL the sequence is both CLIP encoders' penultimate
  states concatenated and the pooled vector is the second encoder's projection, exactly as
  diffusers builds them. The two sites always travel (and combine) together.
- ``token_embeds``: the input embeddings of every text encoder (site
  ``<encoder>.token_embeds``, [seq, dim], e.g. ``text_encoder_2.token_embeds``), captured and
  replaced with forward hooks on ``get_input_embeddings()``, so that positions, masks and pooling
  stay the pipeline's own. A combination is pushed through the encoders with a *base prompt*
  whose token ids decide what ids alone decide: CLIP's EOS pooling position.

Concept vectors are stored in float32 on the CPU (a lossless round trip for fp16/bf16 models).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.concepts.algebra import combine
from workbench.concepts.concept import RECIPE_VERSION, Concept
from workbench.errors import ShapeMismatchError, WorkbenchError

if TYPE_CHECKING:
    import torch

    from workbench.diffusion.loading import DiffusionModel

HIDDEN = "text_encoder.hidden"
POOLED = "text_encoder.pooled"
TOKEN_SUFFIX = ".token_embeds"
# "neurons": the prompt (combined as at text_encoder) with cross-attention key/value neurons
# switched off or scaled (workbench.diffusion.cones.NeuronEdit)
LEVELS = ("text_encoder", "token_embeds", "noise", "neurons")

Item = Concept | str  # a library concept or a raw prompt
Term = tuple[float, Item]


@dataclass
class Conditioning:
    """Pipeline-ready text conditioning: ``hidden`` [batch, seq, dim], ``pooled`` [batch, dim]."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return int(self.hidden.shape[0])

    def repeat(self, n: int) -> Conditioning:
        pooled = None if self.pooled is None else self.pooled.repeat(n, 1)
        return Conditioning(self.hidden.repeat(n, 1, 1), pooled)

    @staticmethod
    def cat(items: Sequence[Conditioning]) -> Conditioning:
        import torch

        pooled = None
        if items[0].pooled is not None:
            pooled = torch.cat([c.pooled for c in items])  # type: ignore[misc]
        return Conditioning(torch.cat([c.hidden for c in items]), pooled)

    def to(self, device: Any, dtype: Any) -> Conditioning:
        pooled = None if self.pooled is None else self.pooled.to(device=device, dtype=dtype)
        return Conditioning(self.hidden.to(device=device, dtype=dtype), pooled)


# ---------------------------------------------------------------------------------- encoding
def _device(dm: DiffusionModel) -> Any:
    return dm.execution_device


def encode_prompts(dm: DiffusionModel, prompt: str) -> Conditioning:
    """The pipeline's own positive conditioning for ``prompt`` (no guidance branch), batch 1."""
    import torch

    pipe, dev = dm.pipe, _device(dm)
    with torch.no_grad():
        if dm.family == "sd":
            hidden, _ = pipe.encode_prompt(prompt, dev, 1, False)
            return Conditioning(hidden)
        if dm.family == "sdxl":
            hidden, _, pooled, _ = pipe.encode_prompt(
                prompt=prompt,
                device=dev,
                num_images_per_prompt=1,
                do_classifier_free_guidance=False,
            )
        elif dm.family == "sd3":
            hidden, _, pooled, _ = pipe.encode_prompt(
                prompt=prompt, prompt_2=None, prompt_3=None, device=dev,
                num_images_per_prompt=1, do_classifier_free_guidance=False,
            )  # fmt: skip
        else:  # flux
            hidden, pooled, _ = pipe.encode_prompt(prompt=prompt, prompt_2=None, device=dev)
    return Conditioning(hidden, pooled)


def negative_conditioning(
    dm: DiffusionModel, negative_prompt: str | None, like: Conditioning
) -> Conditioning | None:
    """The unconditional branch exactly as the pipeline would build it for ``negative_prompt``
    (``None``: the pipeline's default, e.g. zeros for SDXL's ``force_zeros_for_empty_prompt``).
    ``None`` for Flux, which is guidance-distilled and has no unconditional branch."""
    import torch

    if dm.family == "flux":
        if negative_prompt:
            raise WorkbenchError(
                "Flux is guidance-distilled and takes no negative prompt here; leave it empty."
            )
        return None
    pipe, dev = dm.pipe, _device(dm)
    one = Conditioning(like.hidden[:1], None if like.pooled is None else like.pooled[:1])
    with torch.no_grad():
        if dm.family == "sd":
            _, neg = pipe.encode_prompt(
                None, dev, 1, True, negative_prompt=negative_prompt, prompt_embeds=one.hidden
            )
            return Conditioning(neg)
        extra = {"prompt_2": None} if dm.family == "sdxl" else {"prompt_2": None, "prompt_3": None}
        _, neg, _, neg_pooled = pipe.encode_prompt(
            prompt=None, device=dev, num_images_per_prompt=1, do_classifier_free_guidance=True,
            negative_prompt=negative_prompt, prompt_embeds=one.hidden,
            pooled_prompt_embeds=one.pooled, **extra,
        )  # fmt: skip
    return Conditioning(neg, neg_pooled)


# ----------------------------------------------------------------------- token-embedding hooks
def _input_embeddings(dm: DiffusionModel) -> dict[str, Any]:
    """The embedding module each text encoder actually calls on its token ids."""
    out = {}
    for name in dm.text_encoder_names:
        model = getattr(dm.pipe, name)
        # T5EncoderModel ties ``shared`` (what get_input_embeddings returns) to a distinct module,
        # ``encoder.embed_tokens``, and only the latter runs in forward (transformers 5).
        stack = getattr(model, "encoder", None)
        module = getattr(stack, "embed_tokens", None) if stack is not None else None
        out[name] = module if module is not None else model.get_input_embeddings()
    return out


@contextmanager
def _token_hooks(
    dm: DiffusionModel, replace: Mapping[str, torch.Tensor] | None = None
) -> Iterator[dict[str, torch.Tensor]]:
    """Record (and, with ``replace``, substitute) each text encoder's token embeddings."""
    seen: dict[str, torch.Tensor] = {}
    handles = []

    def make(name: str):
        def hook(module: Any, args: Any, output: torch.Tensor) -> torch.Tensor | None:
            if replace is None:
                seen[name] = output[0].detach().float().cpu()
                return None
            new = replace[name]
            if tuple(new.shape) != tuple(output.shape[1:]):
                raise ShapeMismatchError(
                    f"{name}.token_embeds has shape {tuple(new.shape)} but this prompt's token "
                    f"embeddings are {tuple(output.shape[1:])}; re-encode the concepts with this model."
                )
            seen[name] = new
            return new.to(device=output.device, dtype=output.dtype).unsqueeze(0).expand_as(output)

        return hook

    try:
        for name, module in _input_embeddings(dm).items():
            handles.append(module.register_forward_hook(make(name)))
        yield seen
    finally:
        for h in handles:
            h.remove()


def token_embeddings(dm: DiffusionModel, prompt: str) -> dict[str, torch.Tensor]:
    """Each text encoder's input embeddings for ``prompt`` as the pipeline tokenises it."""
    with _token_hooks(dm) as seen:
        encode_prompts(dm, prompt)
    return {f"{name}{TOKEN_SUFFIX}": t for name, t in seen.items()}


def encode_token_embeds(
    dm: DiffusionModel, vectors: Mapping[str, torch.Tensor], base_prompt: str
) -> Conditioning:
    """Run the text encoders on given token embeddings (positions and pooling of ``base_prompt``)."""
    replace = {site[: -len(TOKEN_SUFFIX)]: v for site, v in vectors.items()}
    missing = set(dm.text_encoder_names) - set(replace)
    if missing:
        raise ShapeMismatchError(
            f"token-level vectors lack {sorted(missing)}; this model has {dm.text_encoder_names}"
        )
    with _token_hooks(dm, replace=replace):
        return encode_prompts(dm, base_prompt)


# ------------------------------------------------------------------------------------ concepts
def concept_level(concept: Concept) -> str:
    if HIDDEN in concept.vectors:
        return "text_encoder"
    if concept.vectors and all(s.endswith(TOKEN_SUFFIX) for s in concept.vectors):
        return "token_embeds"
    raise ShapeMismatchError(
        f"{concept.name!r} is not a diffusion prompt concept (sites: {', '.join(concept.sites)})"
    )


def encode_concept(
    dm: DiffusionModel, prompt: str, name: str | None = None, level: str = "text_encoder"
) -> Concept:
    """A prompt's conditioning as a :class:`Concept` marked with this model.

    ``level="text_encoder"``: sites ``text_encoder.hidden`` [seq, dim] and, where the family has
    one, ``text_encoder.pooled`` [dim]. ``level="token_embeds"``: one ``<encoder>.token_embeds``
    [seq, dim] per text encoder.
    """
    if level == "text_encoder":
        cond = encode_prompts(dm, prompt)
        vectors = {HIDDEN: cond.hidden[0].detach().float().cpu()}
        if cond.pooled is not None:
            vectors[POOLED] = cond.pooled[0].detach().float().cpu()
    elif level == "token_embeds":
        vectors = token_embeddings(dm, prompt)
    else:
        raise WorkbenchError(
            f"level {level!r}: a concept is made at 'text_encoder' or 'token_embeds'"
        )
    recipe = {
        "method": "prompt_embedding",
        "prompt": prompt,
        "level": level,
        "family": dm.family,
        "version": RECIPE_VERSION,
    }
    return Concept(name=name or prompt, vectors=vectors, model=dm.ref, recipe=recipe)


def check_item(dm: DiffusionModel, item: Item, level: str) -> None:
    """Refuse a term that cannot be used at ``level`` with this model, before anything is
    rendered (the same checks encoding makes, without encoding)."""
    if isinstance(item, str):
        return
    if not item.model.same_space(dm.ref):
        raise ShapeMismatchError(
            f"{item.name!r} was made with {item.model.name}, not {dm.ref.name}; re-encode its "
            "prompt with the loaded model."
        )
    if level == "token_embeds" and concept_level(item) != "token_embeds":
        raise ShapeMismatchError(
            f"{item.name!r} lives at the text-encoder output and cannot be taken back to token "
            "embeddings; re-encode its prompt at level 'token_embeds'."
        )


def _as_concept(dm: DiffusionModel, item: Item, level: str) -> Concept:
    if isinstance(item, str):
        return encode_concept(dm, item, level=level)
    check_item(dm, item, level)
    if concept_level(item) == level:
        return item
    return _to_text_level(dm, item)  # token level -> push through the encoders


def _base_prompt(item: Item) -> str | None:
    return item if isinstance(item, str) else item.recipe.get("prompt")


def _to_text_level(dm: DiffusionModel, concept: Concept, base: str | None = None) -> Concept:
    base = base or _base_prompt(concept)
    if base is None:
        raise WorkbenchError(
            f"{concept.name!r} holds token embeddings without a prompt to take positions from; "
            "give a base prompt."
        )
    cond = encode_token_embeds(dm, concept.vectors, base)
    vectors = {HIDDEN: cond.hidden[0].float().cpu()}
    if cond.pooled is not None:
        vectors[POOLED] = cond.pooled[0].float().cpu()
    return Concept(concept.name, vectors, dm.ref, {**concept.recipe, "level": "text_encoder"})


def _vectors_to_conditioning(vectors: Mapping[str, torch.Tensor]) -> Conditioning:
    pooled = vectors.get(POOLED)
    return Conditioning(
        vectors[HIDDEN].unsqueeze(0), None if pooled is None else pooled.unsqueeze(0)
    )


def combined_conditioning(
    dm: DiffusionModel, terms: Sequence[Term], level: str, base_prompt: str | None = None
) -> Conditioning:
    """``Σ wᵢ·cᵢ`` at ``level`` (text_encoder or token_embeds), as pipeline conditioning."""
    concepts = [(w, _as_concept(dm, item, level)) for w, item in terms]
    vectors = combine(concepts)
    if level == "token_embeds":
        base = base_prompt or next((b for _, i in terms if (b := _base_prompt(i))), None)
        if base is None:
            raise WorkbenchError(
                "token-level arithmetic needs a base prompt whose token ids set the positions "
                "(and CLIP's pooling position); set ImageSpec.base_prompt."
            )
        return encode_token_embeds(dm, vectors, base)
    return _vectors_to_conditioning(vectors)


def term_conditionings(dm: DiffusionModel, items: Sequence[Item]) -> list[Conditioning]:
    """Each item's own text-encoder conditioning (noise-level composition needs them apart)."""
    return [_vectors_to_conditioning(_as_concept(dm, i, "text_encoder").vectors) for i in items]
