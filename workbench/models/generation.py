"""Steered generation: greedy or sampled, seeded, streaming token by token, KV cache on.

``generate_job`` runs a left-padded batch with our own decoding loop, so interventions see
correct absolute positions with and without the cache. ``steered_generate`` puts the baseline
and the steered continuation of one prompt in one batch of two (the interventions act on row 1
only), so one call yields both, side by side, from the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from workbench.errors import WorkbenchError
from workbench.jobs import Job, Progress, run
from workbench.models.hooked import HookedModel
from workbench.models.interventions import Intervention


@dataclass(frozen=True)
class SamplingSettings:
    """How to pick the next token. ``do_sample=False`` is greedy."""

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    use_cache: bool = True
    chat: bool = False  # wrap the prompt in the tokenizer's chat template
    stop_at_eos: bool = True

    def __post_init__(self) -> None:
        """Nonsense is refused here, not silently clamped in the decoding loop."""
        problems = []
        if int(self.max_new_tokens) < 0:
            problems.append(f"max_new_tokens is {self.max_new_tokens}; give 0 or more")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            problems.append(f"temperature is {self.temperature}; give a number greater than 0")
        if int(self.top_k) < 0:
            problems.append(f"top_k is {self.top_k}; give 0 (off) or more")
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            problems.append(f"top_p is {self.top_p}; give a number in (0, 1]")
        if int(self.seed) < 0:
            problems.append(f"seed is {self.seed}; give 0 or more")
        if problems:
            raise WorkbenchError("Sampling settings refused: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Generation:
    """Texts and token ids of a batch of continuations."""

    prompts: list[str]
    texts: list[str]
    token_ids: list[list[int]]
    settings: SamplingSettings
    step_logits: torch.Tensor | None = None  # [steps, batch, vocab] when asked for
    interventions: list[dict] = field(default_factory=list)


@dataclass
class Comparison:
    """Baseline and steered continuation of one prompt."""

    prompt: str
    baseline: str
    steered: str
    generation: Generation


def _pick(logits: torch.Tensor, s: SamplingSettings, gens: list[torch.Generator]) -> torch.Tensor:
    """Next token per row from ``logits`` [batch, vocab] (float32)."""
    if not s.do_sample:
        return logits.argmax(-1)
    logits = logits / max(s.temperature, 1e-6)
    if s.top_k and s.top_k > 0:
        kth = torch.topk(logits, min(s.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, -1)
    if s.top_p < 1.0:
        sp, si = probs.sort(-1, descending=True)
        drop = sp.cumsum(-1) - sp > s.top_p
        sp = sp.masked_fill(drop, 0)
        probs = torch.zeros_like(probs).scatter(-1, si, sp)
    # One generator per row: a row's draws do not depend on what else is in the batch.
    return torch.stack(
        [torch.multinomial(probs[i].cpu(), 1, generator=g)[0] for i, g in enumerate(gens)]
    ).to(logits.device)


REPLACEMENT = "\ufffd"  # what a tokenizer decodes an incomplete or invalid byte sequence to


def generate_job(
    hm: HookedModel,
    prompts: Sequence[str],
    interventions: Sequence[Intervention] = (),
    settings: SamplingSettings | None = None,
    return_logits: bool | int = False,
) -> Job[Generation]:
    """Generate continuations of ``prompts`` with ``interventions`` applied.

    Yields a :class:`Progress` per token whose ``payload`` is the list of new text pieces, one
    per row (for streaming); returns a :class:`Generation`. ``return_logits`` keeps every
    step's logits (True) or those of the first ``n`` steps (an int).
    """
    s = settings or SamplingSettings()
    prompts = list(prompts)
    enc = hm.encode(prompts, padding_side="left", chat=s.chat)
    ids, attn = enc["input_ids"], enc["attention_mask"]
    batch = ids.shape[0]
    gens = [torch.Generator("cpu").manual_seed(s.seed) for _ in range(batch)]
    eos = hm.tokenizer.eos_token_id
    pad = hm.tokenizer.pad_token_id if hm.tokenizer.pad_token_id is not None else eos
    new_ids: list[list[int]] = [[] for _ in range(batch)]
    done = torch.zeros(batch, dtype=torch.bool, device=ids.device)
    texts = [""] * batch
    shown = [""] * batch  # streamed so far (never the U+FFFD of a character still incomplete)
    logits_log: list[torch.Tensor] = []
    keep = s.max_new_tokens if return_logits is True else int(return_logits)
    cache = None
    if s.use_cache:
        from transformers import DynamicCache

        cache = DynamicCache(config=hm.model.config)
    cache_arg = _cache_argument(hm.model)
    yield Progress(0, s.max_new_tokens, "prompt")
    with hm.generation_context(attn) as cache_offset, hm.hooks(interventions), torch.no_grad():
        for step in range(s.max_new_tokens):
            position_ids = (attn.cumsum(-1) - 1).clamp(min=0)
            if s.use_cache and step > 0:
                inp, pos = ids[:, -1:], position_ids[:, -1:]
                cache_offset(ids.shape[1] - 1)
            else:
                inp, pos = ids, position_ids
                cache_offset(0)
            out = hm.model(
                input_ids=inp,
                attention_mask=attn,
                position_ids=pos,
                use_cache=s.use_cache,
                **{cache_arg: cache},
            )
            last = out.logits[:, -1].float()
            if step < keep:
                logits_log.append(last.cpu())
            nxt = _pick(last, s, gens)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            pieces = []
            for i in range(batch):
                if done[i]:
                    pieces.append("")
                    continue
                new_ids[i].append(int(nxt[i]))
                # The whole sequence decoded, every step: a character whose bytes come in two
                # tokens reads as U+FFFD until its second token arrives.
                full = hm.tokenizer.decode(new_ids[i], skip_special_tokens=True)
                texts[i] = full
                stable = full.rstrip(REPLACEMENT)  # hold back an unfinished character
                if stable.startswith(shown[i]):
                    pieces.append(stable[len(shown[i]) :])
                    shown[i] = stable
                else:  # the decode rewrote earlier text: the final text replaces the stream
                    pieces.append("")
            if s.stop_at_eos and eos is not None:
                done |= nxt == eos
            ids = torch.cat([ids, nxt[:, None]], -1)
            attn = torch.cat([attn, torch.ones_like(attn[:, :1])], -1)
            yield Progress(step + 1, s.max_new_tokens, "generating", payload=pieces)
            if bool(done.all()):
                break
    return Generation(
        prompts=prompts,
        # A U+FFFD left at the end is a character cut by max_new_tokens before its last byte
        # came: not text the model wrote. One inside the text stays (the model emitted an
        # invalid byte sequence there, and the stored text says so).
        texts=[t.rstrip(REPLACEMENT) for t in texts],
        token_ids=new_ids,
        settings=s,
        step_logits=torch.stack(logits_log) if logits_log else None,
        interventions=[iv.describe() for iv in interventions],
    )


def _cache_argument(model: Any) -> str:
    """The name the model's forward takes its KV cache by: ``cache`` from transformers 5.x
    (which warns on ``past_key_values``), ``past_key_values`` before."""
    import inspect

    params = inspect.signature(type(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def generate(
    hm: HookedModel,
    prompts: Sequence[str],
    interventions: Sequence[Intervention] = (),
    settings: SamplingSettings | None = None,
    **kw: Any,
) -> Generation:
    return run(generate_job(hm, prompts, interventions, settings, **kw))


def steered_generate_job(
    hm: HookedModel,
    prompt: str,
    interventions: Sequence[Intervention],
    settings: SamplingSettings | None = None,
) -> Job[Comparison]:
    """Baseline (row 0) and steered (row 1) continuations of ``prompt`` from one batch.

    Progress payloads are ``[baseline_piece, steered_piece]``.
    """
    steered_only = [replace(iv, rows=[1]) for iv in interventions]
    gen = yield from generate_job(hm, [prompt, prompt], steered_only, settings)
    return Comparison(prompt, gen.texts[0], gen.texts[1], gen)


def steered_generate(
    hm: HookedModel,
    prompt: str,
    interventions: Sequence[Intervention],
    settings: SamplingSettings | None = None,
) -> Comparison:
    return run(steered_generate_job(hm, prompt, interventions, settings))
