"""A Hugging Face causal LM with named hook sites: capture activations and intervene.

>>> hm = HookedModel(model, tokenizer)
>>> acts = hm.capture(["The capital of France is"], ["blocks.3.hook_resid_post"])
>>> with hm.intervene(AddVector("blocks.3.hook_resid_post", vector=v, coefficient=4.0)):
...     logits = hm.logits(["I feel"])

Hooks are plain PyTorch forward (pre-)hooks registered only for the sites asked for and always
removed on exit, so a forward with no sites costs nothing extra.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench import compat
from workbench.errors import NonFiniteError, PromptSetError, ShapeMismatchError, SiteError
from workbench.jobs import Job, Progress, run
from workbench.models import attention
from workbench.models.adapters import Adapter, adapter_for
from workbench.models.context import ForwardContext
from workbench.models.interventions import Intervention
from workbench.models.ref import ModelRef, check_finite_vectors
from workbench.models.sites import Site, all_sites, parse_site

Reader = Callable[[torch.Tensor], Any]


@dataclass
class Captured:
    """Activations from :meth:`HookedModel.capture`.

    ``acts[site]`` is ``[n_prompts, ...]`` for the ``last`` and ``mean`` rules and
    ``[total_tokens, ...]`` (prompts one after another) for ``all``; ``lengths`` holds each
    prompt's token count.
    """

    acts: dict[str, torch.Tensor]
    lengths: list[int]
    position: str
    tokens: list[list[str]] = field(default_factory=list)

    def __getitem__(self, site: str) -> torch.Tensor:
        return self.acts[site]

    def __contains__(self, site: object) -> bool:
        return site in self.acts

    def __iter__(self) -> Iterator[str]:
        return iter(self.acts)

    def keys(self) -> Any:
        return self.acts.keys()

    def items(self) -> Any:
        return self.acts.items()

    def per_prompt(self, site: str) -> list[torch.Tensor]:
        if self.position != "all":
            return list(self.acts[site])
        return list(torch.split(self.acts[site], self.lengths))


# Token positions a capture can read (see HookedModel.capture_job).
POSITIONS = ("last", "mean", "mean_skip_first", "all")


class HookedModel:
    """A loaded causal LM, its tokenizer, its adapter and its :class:`ModelRef`."""

    def __init__(
        self, model: Any, tokenizer: Any, ref: ModelRef | None = None, info: dict | None = None
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.adapter: Adapter = adapter_for(model)
        if tokenizer is not None and tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        cfg = model.config
        self.ref = ref or ModelRef(
            name=compat.name_or_path(cfg) or cfg.model_type,
            architecture=(cfg.architectures or [type(model).__name__])[0],
            d_model=self.adapter.d_model,
            n_layers=self.adapter.n_layers,
            model_type=cfg.model_type,
        )
        self.info = info or {}
        self._ctx = ForwardContext()

    # ------------------------------------------------------------------ shape
    @property
    def n_layers(self) -> int:
        return self.adapter.n_layers

    @property
    def n_heads(self) -> int:
        return self.adapter.n_heads

    @property
    def d_head(self) -> int:
        return self.adapter.d_head

    @property
    def d_model(self) -> int:
        return self.adapter.d_model

    @property
    def device(self) -> torch.device:
        """Where inputs go: the model's device, or with a device map (accelerate) the first
        accelerator it uses, else the CPU (offloaded weights sit on ``meta`` until a forward
        brings them in; accelerate's hooks move activations between devices)."""
        placed = getattr(self.model, "hf_device_map", None)
        if placed:
            first = next((d for d in placed.values() if d not in ("cpu", "disk")), "cpu")
            return torch.device(f"cuda:{first}" if isinstance(first, int) else first)
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def sites(self) -> list[str]:
        """Every site this model has, in forward order."""
        out = all_sites(self.n_layers)
        if self.adapter.ln_mlp(0) is None:
            out = [s for s in out if not s.endswith("hook_resid_mid")]
        return out

    def check_site(self, name: str) -> Site:
        site = parse_site(name)
        if site.layer is not None and not 0 <= site.layer < self.n_layers:
            raise SiteError(f"{name}: this model has blocks 0..{self.n_layers - 1}.")
        if site.kind == "resid_mid" and self.adapter.ln_mlp(site.block) is None:
            raise SiteError(
                f"{name}: {self.adapter.family} runs attention and MLP in parallel, so there is "
                "no residual stream between them. Use resid_pre or resid_post."
            )
        return site

    # ------------------------------------------------------------------ hooks
    @contextlib.contextmanager
    def hooks(
        self,
        interventions: Sequence[Intervention] = (),
        readers: dict[str, list[Reader]] | None = None,
    ) -> Iterator[None]:
        """Register hooks for ``interventions`` and ``readers`` (site -> callbacks) and remove
        them all on exit, whatever happens inside."""
        writers: dict[str, list[Intervention]] = defaultdict(list)
        for iv in interventions:
            site = self.check_site(iv.site)
            self._check_width(iv, site)
            writers[site.name].append(iv)
        readers = readers or {}
        for s in readers:
            self.check_site(s)
        handles: list[Any] = []
        pattern_modules: list[Any] = []
        needs_pattern = False
        try:
            for name in sorted(set(writers) | set(readers)):
                site = parse_site(name)
                ws, rs = writers.get(name, []), readers.get(name, [])
                if site.kind == "pattern":
                    needs_pattern = True
                    mod = self.adapter.attn(site.block)
                    # Nest with an outer block's pattern hook: it runs first, ours after it,
                    # and it is put back on exit.
                    outer = getattr(mod, "_workbench_pattern_hook", None)
                    mod._workbench_pattern_hook = self._pattern_fn(ws, rs, outer)
                    pattern_modules.append((mod, outer))
                else:
                    handles.append(self._register(site, ws, rs))
            with (
                attention.pattern_attention(self.model)
                if needs_pattern
                else contextlib.nullcontext()
            ):
                yield
        finally:
            for h in handles:
                h.remove()
            for mod, outer in reversed(pattern_modules):
                if outer is not None:
                    mod._workbench_pattern_hook = outer
                else:
                    with contextlib.suppress(AttributeError):
                        del mod._workbench_pattern_hook

    @contextlib.contextmanager
    def intervene(self, *interventions: Intervention) -> Iterator[None]:
        """Apply interventions to every forward inside the block."""
        with self.hooks(interventions=list(interventions)):
            yield

    def _transform(
        self, ws: list[Intervention], rs: list[Reader]
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        ctx = self._ctx

        def fn(x: torch.Tensor) -> torch.Tensor:
            for w in ws:
                mask = ctx.mask(w.positions, x.shape[0], x.shape[1], x.device, w.rows)
                if getattr(w, "token_weights", None) is not None:  # AddVector weighted per token
                    pos = ctx.absolute_positions(x.shape[0], x.shape[1], x.device)
                    x = w.apply(x, mask, pos)  # type: ignore[call-arg]
                else:
                    x = w.apply(x, mask)
            for r in rs:
                r(x)
            return x

        return fn

    def _pattern_fn(
        self, ws: list[Intervention], rs: list[Reader], outer: Callable | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        ctx = self._ctx

        def fn(p: torch.Tensor) -> torch.Tensor:  # [batch, head, query, key]
            if outer is not None:
                p = outer(p)
            for w in ws:
                mask = ctx.mask(w.positions, p.shape[0], p.shape[2], p.device, w.rows)
                new = w.apply(p, None)
                p = new if mask is None else torch.where(mask[:, None, :, None], new, p)
            for r in rs:
                r(p)
            return p

        return fn

    def _register(self, site: Site, ws: list[Intervention], rs: list[Reader]) -> Any:
        fn = self._transform(ws, rs)
        a, kind = self.adapter, site.kind
        L = site.layer if site.layer is not None else -1
        if kind == "embed":
            return a.embed().register_forward_hook(lambda m, i, o: fn(o))
        if kind == "resid_pre":

            def pre(m, args, kwargs):
                if args:
                    return (fn(args[0]), *args[1:]), kwargs
                kwargs["hidden_states"] = fn(kwargs["hidden_states"])
                return args, kwargs

            return a.block(L).register_forward_pre_hook(pre, with_kwargs=True)
        if kind in ("resid_post", "attn_out", "mlp_out"):
            mod = {"resid_post": a.block, "attn_out": a.attn, "mlp_out": a.mlp}[kind](L)

            def post(m, i, o):
                if isinstance(o, tuple):
                    return (fn(o[0]), *o[1:])
                return fn(o)

            return mod.register_forward_hook(post)
        if kind == "resid_mid":
            # The MLP norm's input is the very tensor the block adds back after the MLP, so a
            # write must happen in place to reach both.
            def mid(m, args):
                x = args[0]
                new = fn(x)
                if new is not x:
                    x.copy_(new)

            ln = a.ln_mlp(L)
            assert ln is not None  # check_site refused resid_mid for parallel blocks
            return ln.register_forward_pre_hook(mid)
        if kind == "z":
            n_heads, d_head = a.n_heads, a.d_head

            def z(m, args):
                x = args[0]  # [batch, pos, head * d_head]
                zz = fn(x.view(*x.shape[:-1], n_heads, d_head))
                return (zz.reshape(x.shape), *args[1:])

            return a.o_proj(L).register_forward_pre_hook(z)
        raise SiteError(f"no hook for {site.name}")

    def _check_width(self, iv: Intervention, site: Site) -> None:
        """A vector of the wrong size is an error that says so, never a silent broadcast; a
        NaN, an infinity or an integer dtype is refused too (a NaN in a steered row would
        spread through every later position)."""
        for attr in ("coefficient", "factor"):
            c = getattr(iv, attr, None)
            if c is not None and not math.isfinite(float(c)):
                raise NonFiniteError(
                    f"The {attr} for {site.name} is {c}; it must be a finite number."
                )
        for attr in ("vector", "direction", "value", "offset"):
            t = getattr(iv, attr, None)
            if t is None or not hasattr(t, "shape") or site.kind == "pattern":
                continue
            if not t.dtype.is_floating_point:
                raise ShapeMismatchError(
                    f"The {attr} for {site.name} has dtype {t.dtype}; it must hold floats "
                    "(convert it with .float())."
                )
            if t.dim() > (2 if site.kind == "z" else 1) and attr != "value":
                raise ShapeMismatchError(
                    f"The {attr} for {site.name} has shape {tuple(t.shape)}; it must be one "
                    f"vector of shape [{self.d_head if site.kind == 'z' else self.d_model}]."
                )
            check_finite_vectors({site.name: t}, f"The {attr}")
            width = self.d_head if site.kind == "z" else self.d_model
            if t.dim() == 0 or t.shape[-1] != width:
                what = "d_head" if site.kind == "z" else "d_model"
                raise ShapeMismatchError(
                    f"The {attr} for {site.name} has shape {tuple(t.shape)}, but this model's "
                    f"{what} is {width} ({self.ref.name}). It was probably made on another "
                    "model: extract it again on this one, or load the model it came from."
                )

    # ------------------------------------------------------------- tokenising
    def encode(
        self, prompts: Sequence[str], padding_side: str = "right", chat: bool = False
    ) -> dict[str, torch.Tensor]:
        if isinstance(prompts, str):
            prompts = [prompts]
        if not prompts or any(not isinstance(p, str) or p == "" for p in prompts):
            raise PromptSetError("Empty prompt: every prompt needs at least one character.")
        if chat:
            prompts = [self.apply_chat_template(p) for p in prompts]
        tok = self.tokenizer
        old = tok.padding_side
        tok.padding_side = padding_side
        try:
            enc = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=not chat)
        finally:
            tok.padding_side = old
        ctx = self.context_length
        longest = int(enc["attention_mask"].sum(-1).max())
        if ctx is not None and longest > ctx:
            i = int(enc["attention_mask"].sum(-1).argmax())
            raise PromptSetError(
                f"Prompt {i + 1} ({prompts[i][:40]!r}...) is {longest} tokens, longer than the "
                f"{ctx} tokens this model's context holds; shorten it."
            )
        return {
            k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")
        }

    @property
    def context_length(self) -> int | None:
        """The longest sequence the model was made for (None when its config does not say)."""
        cfg = self.model.config
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            v = getattr(cfg, key, None)
            if isinstance(v, int) and v > 0:
                return v
        return None

    def apply_chat_template(self, prompt: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return prompt

    def to_str_tokens(self, text: str) -> list[str]:
        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        return [self.tokenizer.decode([i]) for i in ids]

    # ---------------------------------------------------------------- forward
    @torch.no_grad()
    def logits(
        self, prompts: Sequence[str] | str, interventions: Sequence[Intervention] = ()
    ) -> torch.Tensor:
        """Logits ``[batch, pos, vocab]`` (right-padded) with interventions applied."""
        enc = self.encode(prompts)
        return self.forward(enc["input_ids"], enc["attention_mask"], interventions).logits

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        interventions: Sequence[Intervention] = (),
        readers: dict[str, list[Reader]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One forward pass of right-padded ids with hooks; returns the HF output."""
        with self.prompt_context(attention_mask), self.hooks(interventions, readers):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    @contextlib.contextmanager
    def generation_context(self, attention_mask: torch.Tensor) -> Iterator[Callable[[int], None]]:
        """Tell the hooks the rows are left-padded prompts being continued a token at a time.

        Parameters
        ----------
        attention_mask
            The prompts' ``[batch, pos]`` mask, 0 on each row's left padding.

        Yields
        ------
        Callable[[int], None]
            ``cache_offset(n)``: call it before each forward with the number of tokens already
            in the KV cache (0 for a forward over the whole sequence), so that position rules
            count from each row's first real token. The previous context is restored on exit.
        """
        ctx = self._ctx
        saved = (ctx.pad_left, ctx.prompt_len, ctx.offset)
        ctx.pad_left = (attention_mask == 0).sum(-1)  # [batch]
        ctx.prompt_len = attention_mask.sum(-1)  # [batch]
        ctx.offset = 0

        def cache_offset(n: int) -> None:
            ctx.offset = n

        try:
            yield cache_offset
        finally:
            ctx.pad_left, ctx.prompt_len, ctx.offset = saved

    @contextlib.contextmanager
    def prompt_context(self, attention_mask: torch.Tensor | None) -> Iterator[None]:
        """Tell the hooks the rows are right-padded prompts with this ``[batch, pos]`` mask.

        :meth:`forward` does this itself; code that calls blocks one by one (the head sweeps)
        wraps each call so that position rules see the batch in flight.
        """
        prompt_len = attention_mask.sum(-1) if attention_mask is not None else None
        saved = (self._ctx.pad_left, self._ctx.prompt_len, self._ctx.offset)
        self._ctx.pad_left, self._ctx.prompt_len, self._ctx.offset = None, prompt_len, 0
        try:
            yield
        finally:
            self._ctx.pad_left, self._ctx.prompt_len, self._ctx.offset = saved

    @torch.no_grad()
    def run_with_cache(
        self, prompt: str, sites: Sequence[str], interventions: Sequence[Intervention] = ()
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits ``[1, pos, vocab]`` and full activations ``[1, pos, ...]`` of one prompt."""
        cache: dict[str, torch.Tensor] = {}
        readers = {s: [self._store(cache, s)] for s in sites}
        enc = self.encode([prompt])
        out = self.forward(enc["input_ids"], enc["attention_mask"], interventions, readers)
        return out.logits, cache

    @staticmethod
    def _store(cache: dict[str, torch.Tensor], site: str) -> Reader:
        def read(x: torch.Tensor) -> None:
            cache[site] = x.detach().clone()

        return read

    # ---------------------------------------------------------------- capture
    def capture_job(
        self,
        prompts: Sequence[str],
        sites: Sequence[str],
        position: str = "last",
        batch_size: int = 16,
        interventions: Sequence[Intervention] = (),
        chat: bool = False,
    ) -> Job[Captured]:
        """Activations at ``sites`` for each prompt, batched and right-padded.

        ``position`` is ``last`` (the last real token), ``mean`` (mean over real tokens),
        ``mean_skip_first`` (mean over real tokens but the first, which in most models is an
        attention sink whose residual norm dwarfs the others from the middle layers on; a
        one-token prompt keeps its token) or ``all`` (every real token). Pattern sites are read
        with :meth:`run_with_cache`.
        """
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}, not {position!r}")
        prompts = list(prompts)
        if not prompts:
            raise PromptSetError("The prompt set is empty: add at least one prompt.")
        for s in sites:
            if self.check_site(s).kind == "pattern":
                raise SiteError(f"{s}: capture patterns one prompt at a time with run_with_cache.")
        chunks: dict[str, list[torch.Tensor]] = {s: [] for s in sites}
        lengths: list[int] = []
        total = len(prompts)
        yield Progress(0, total, "capturing")
        for start in range(0, total, batch_size):
            batch = prompts[start : start + batch_size]
            enc = self.encode(batch, chat=chat)
            mask = enc["attention_mask"]
            lens = mask.sum(-1)
            lengths += lens.tolist()
            store: dict[str, torch.Tensor] = {}
            readers = {s: [self._reducer(store, s, position, mask, lens)] for s in sites}
            with torch.no_grad():
                self.forward(enc["input_ids"], mask, interventions, readers, use_cache=False)
            for s in sites:
                chunks[s].append(store[s])
            yield Progress(
                min(start + batch_size, total),
                total,
                f"{min(start + batch_size, total)}/{total} prompts",
            )
        acts = {s: torch.cat(v) for s, v in chunks.items()}
        return Captured(acts, lengths, position)

    def capture(
        self, prompts: Sequence[str], sites: Sequence[str], position: str = "last", **kw: Any
    ) -> Captured:
        return run(self.capture_job(prompts, sites, position, **kw))

    @staticmethod
    def _reducer(
        store: dict, site: str, position: str, mask: torch.Tensor, lens: torch.Tensor
    ) -> Reader:
        def read(x: torch.Tensor) -> None:  # [batch, pos, ...]
            x = x.detach()
            if position == "last":
                store[site] = x[torch.arange(x.shape[0], device=x.device), lens - 1].float().cpu()
            elif position in ("mean", "mean_skip_first"):
                keep = mask.bool()
                if position == "mean_skip_first":
                    # right-padded: column 0 is each row's first real token
                    keep = keep.clone()
                    keep[lens > 1, 0] = False
                m = keep.reshape(keep.shape + (1,) * (x.dim() - 2)).to(x.dtype)
                store[site] = ((x * m).sum(1) / m.sum(1)).float().cpu()
            else:
                store[site] = x[mask.bool()].float().cpu()

        return read
