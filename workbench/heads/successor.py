"""Successor heads as Gould et al. (2023) study them: one head's OV table, mod-10 features and
vector arithmetic on them.

Everything here lives in the *effective embedding* space, ``e(t) = E(t) + MLP0(norm(E(t)))``
(:func:`workbench.heads._model.effective_embeddings`), read through one head's effective OV
circuit (:func:`head_ov_logits`, the same map as :func:`workbench.heads.ov_scores.ov_logits`).
A head of layer 0 reads the plain embedding instead (MLP0 runs after attention 0; see
:func:`head_inputs`). Families that normalise the attention output before the residual
(Gemma 2 and 3) are refused: a head's OV output is not what joins the stream there.

OV table
    For each token of an ordinal sequence (numbers, days, months, letters), the head's top output
    tokens over the whole vocabulary, and its top token among the sequence (a hit when that is
    the successor).
Mod-10 features
    Number tokens ``0..max_number-1`` in every single-token form the tokenizer has (digits,
    `` seven``, ``Seven``, `` seventh``...). The feature of last digit ``d`` is the difference of
    means ``f_d = mean(e | n mod 10 = d) - mean(e)``. Whether such directions exist is checked on
    *held-out numbers*: every fold leaves one number out (all its forms), builds the features (or
    a logistic-regression probe) on the rest, and classifies the left-out number's last digit
    (``diff_of_means``: the nearest class mean, ``argmax_d x·μ_d − ‖μ_d‖²/2``).
Vector arithmetic
    ``e' = e(n) - f_{n mod 10} + f_b`` should make the head output the successor of
    ``m = n - (n mod 10) + b`` (e.g. "3" with the feature of 7 → "8"). The success rate counts the
    edits whose top output among the number tokens has the value ``m + 1``, over every number and
    ``b``; beside it the head's unedited successor rate and a control edit by a random direction
    of the same size. The features of an edit are built leaving the edited number out (all its
    forms), as the probe does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from workbench.errors import PromptSetError, WorkbenchError
from workbench.heads._model import (
    _single_tokens,
    check_additive_heads,
    effective_embeddings,
    final_norm_affine,
    ov_outputs,
    unembed_weight,
)
from workbench.heads.data import ordinal_sequences
from workbench.jobs import Job, Progress, finite_or_none, run
from workbench.models.hooked import HookedModel
from workbench.models.sites import resid_pre
from workbench.models.tokens import single_token_id

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORD_ONES = [
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
]
_ORD_TENS = [
    "twentieth",
    "thirtieth",
    "fortieth",
    "fiftieth",
    "sixtieth",
    "seventieth",
    "eightieth",
    "ninetieth",
]
FORMS = ("digits", "words", "ordinals")
METHODS = ("diff_of_means", "linear")


def number_words(n: int) -> tuple[str, str]:
    """English cardinal and ordinal of ``0 <= n < 100`` (``twenty-one``, ``twenty-first``)."""
    if n < 20:
        return _ONES[n], _ORD_ONES[n]
    t, o = divmod(n, 10)
    if o == 0:
        return _TENS[t - 2], _ORD_TENS[t - 2]
    return f"{_TENS[t - 2]}-{_ONES[o]}", f"{_TENS[t - 2]}-{_ORD_ONES[o]}"


@dataclass(frozen=True)
class NumberToken:
    value: int
    token_id: int
    text: str


def number_tokens(
    tokenizer: Any, max_number: int = 100, forms: Sequence[str] = FORMS
) -> list[NumberToken]:
    """Every single-token form of the numbers ``0..max_number-1``: digits (``7``, `` 7``), words
    (`` seven``, ``seven``, `` Seven``, ``Seven``), ordinals (`` seventh``...). A token id is
    kept once."""
    unknown = [f for f in forms if f not in FORMS]
    if unknown:
        raise WorkbenchError(f"number forms {unknown}: use {', '.join(FORMS)}.")
    if not 2 <= max_number <= 100:
        raise WorkbenchError(f"max_number {max_number}: give 2 to 100.")
    unk = getattr(tokenizer, "unk_token_id", None)
    seen: set[int] = set()
    out = []
    for n in range(max_number):
        word, ordinal = number_words(n)
        texts: list[str] = []
        if "digits" in forms:
            texts += [str(n), " " + str(n)]
        for w, on in ((word, "words"), (ordinal, "ordinals")):
            if on in forms:
                texts += [" " + w, w, " " + w.capitalize(), w.capitalize()]
        for t in texts:
            ids = tokenizer(t, add_special_tokens=False)["input_ids"]
            if len(ids) == 1 and ids[0] != unk and ids[0] not in seen:
                seen.add(int(ids[0]))
                out.append(NumberToken(n, int(ids[0]), t))
    return out


@torch.no_grad()
def head_inputs(hm: HookedModel, ids: torch.Tensor, layer: int) -> torch.Tensor:
    """What a head of ``layer`` reads for single tokens ``ids``: ``[n, d_model]``.

    Layers 1 and up: the effective (MLP0-extended) embedding. Layer 0: the embedding as block 0
    receives it (``blocks.0.hook_resid_pre`` of the token alone), since MLP0 runs after
    attention 0."""
    if layer > 0:
        return effective_embeddings(hm, ids)
    enc = _single_tokens(hm, ids)
    out: dict[str, torch.Tensor] = {}
    site = resid_pre(0)
    hm.forward(
        enc["input_ids"],
        enc["attention_mask"],
        [],
        {site: [lambda x: out.setdefault("e", x[:, 0].clone())]},
        use_cache=False,
    )
    return out["e"]


@torch.no_grad()
def head_ov_logits(
    hm: HookedModel, x: torch.Tensor, layer: int, head: int, candidate_ids: torch.Tensor | None
) -> torch.Tensor:
    """Head ``(layer, head)``'s effective OV logits ``[n, c]`` for residual inputs ``x``
    ``[n, d_model]`` (effective embeddings, possibly edited), over ``candidate_ids`` (None:
    the whole vocabulary). Refuses families whose attention output is normalised before it
    joins the residual (Gemma 2 and 3)."""
    check_additive_heads(hm, "A head's OV view")
    norm = final_norm_affine(hm)
    W_U, _ = unembed_weight(hm)
    U = (W_U if candidate_ids is None else W_U[candidate_ids.to(W_U.device)]).float()
    o = ov_outputs(hm, x, layers=[layer])[:, 0, head].float()  # [n, d_model]
    if norm.center:
        o = o - o.mean(-1, keepdim=True)
    o = o * norm.weight.to(o.device)
    return (o @ U.T.to(o.device)).cpu()


# ------------------------------------------------------------------------ results
@dataclass(frozen=True)
class OVRow:
    """One input token of an ordinal sequence through the head's OV circuit."""

    sequence: str
    token: str
    top_tokens: list[str]  # over the whole vocabulary
    top_in_sequence: str  # the top token among the sequence's own tokens
    successor: str | None  # the next item (None for the last)
    correct: bool | None


@dataclass(frozen=True)
class Mod10Probe:
    """Held-out last-digit accuracy in the effective embedding space (leave one number out)."""

    accuracy: dict[str, float]  # method -> accuracy over held-out tokens
    chance: float  # the majority class's share of the tokens
    n_tokens: int
    n_numbers: int
    per_digit: dict[str, list[float]]  # method -> held-out accuracy for digits 0..9 (NaN: none)


@dataclass(frozen=True)
class Arithmetic:
    """``e - f_a + f_b`` through the head: does its top output follow to ``m + 1``?"""

    success_rate: float
    n_edits: int
    successor_rate: float  # unedited: top output is n + 1
    n_unedited: int
    control_rate: float  # random direction of the same size instead of f_b - f_a
    by_digits: list[list[float | None]]  # [a][b] success rate (None where no edit)
    example: dict[str, Any]  # the "3" -> "7" case


@dataclass(frozen=True)
class SuccessorAnalysis:
    layer: int
    head: int
    score: float | None  # the head's successor score (when it was computed here)
    table: list[OVRow]
    probe: Mod10Probe
    arithmetic: Arithmetic
    numbers: list[tuple[int, str]]  # (value, token text) of the number tokens used
    settings: dict[str, Any] = field(default_factory=dict)
    heatmap: dict[str, Any] = field(default_factory=dict)  # OV logits of the first sequence

    kind = "successor"  # the project run's analysis

    @property
    def label(self) -> str:
        return f"L{self.layer}H{self.head}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["label"] = self.label
        return finite_or_none(d)

    def figure_spec(self) -> dict[str, Any]:
        """The head's OV map over its best ordinal sequence: row = input token, column = output
        token, each row's logits standardised (a successor head lights the cells just right of
        the diagonal)."""
        h = self.heatmap
        return {
            "kind": "heatmap",
            "title": f"{self.label} effective OV logits (z-scored per input token)",
            "xlabel": "output token",
            "ylabel": "input token",
            "rows": h.get("tokens", []),
            "cols": h.get("tokens", []),
            "values": h.get("z", []),
            "cmap": "RdBu_r",
            "center": 0.0,
            "value_label": "z-score among the sequence",
        }

    def arithmetic_figure_spec(self) -> dict[str, Any]:
        rows = [str(a) for a in range(10)]
        return {
            "kind": "heatmap",
            "title": f"{self.label}: e - f_a + f_b gives successor of (.. b)",
            "xlabel": "new last digit b",
            "ylabel": "last digit a",
            "rows": rows,
            "cols": rows,
            "values": self.arithmetic.by_digits,
            "cmap": "viridis",
            "value_label": "success rate",
        }


# ------------------------------------------------------------------------ pieces
def ov_table(
    hm: HookedModel,
    layer: int,
    head: int,
    sequences: Sequence[Sequence[str]] | None = None,
    k: int = 5,
) -> tuple[list[OVRow], dict[str, Any]]:
    """The head's OV table over ordinal sequences, and the map of the sequence it gets most
    successors right in (each row's logits among the sequence, standardised)."""
    rows: list[OVRow] = []
    heatmap: dict[str, Any] = {}
    dec = hm.tokenizer.decode
    for words in sequences or ordinal_sequences():
        # (index in the sequence, word, token id) of the single-token items; a successor is the
        # item at index + 1 of the sequence, None when that item is not one token here
        found = [(j, w, single_token_id(hm.tokenizer, w)) for j, w in enumerate(words)]
        kept = [(j, w, i) for j, w, i in found if i is not None]
        if len(kept) < 3:
            continue
        where = {j: r for r, (j, _, _) in enumerate(kept)}
        ids = torch.tensor([i for _, _, i in kept])
        e = head_inputs(hm, ids, layer)
        full = head_ov_logits(hm, e, layer, head, None)  # [n, vocab]
        own = full[:, ids]  # [n, n]
        name = " ".join(words[:3]) + " ..."
        for r, (j, w, _) in enumerate(kept):
            top = full[r].topk(k).indices.tolist()
            pick = int(own[r].argmax())
            nxt_r = where.get(j + 1)
            rows.append(
                OVRow(
                    name,
                    w,
                    [dec([t]) for t in top],
                    kept[pick][1],
                    None if nxt_r is None else kept[nxt_r][1],
                    None if nxt_r is None else pick == nxt_r,
                )
            )
        hits = sum(bool(r.correct) for r in rows if r.sequence == name)
        if not heatmap or hits > heatmap["hits"]:
            z = (own - own.mean(-1, keepdim=True)) / own.std(-1, keepdim=True).clamp_min(1e-12)
            heatmap = {
                "sequence": name,
                "tokens": [w for _, w, _ in kept],
                "z": z.tolist(),
                "hits": hits,
            }
    if not rows:
        raise PromptSetError("no ordinal sequence has three or more single-token items here.")
    return rows, heatmap


def mod10_probe(
    x: np.ndarray, values: Sequence[int], methods: Sequence[str] = METHODS, C: float = 1.0
) -> Mod10Probe:
    """Leave-one-number-out accuracy of the last digit from effective embeddings ``x``."""
    return run(mod10_probe_job(x, values, methods, C))


def mod10_probe_job(
    x: np.ndarray, values: Sequence[int], methods: Sequence[str] = METHODS, C: float = 1.0
) -> Job[Mod10Probe]:
    """:func:`mod10_probe` as a job: a progress report (and a point to cancel) per number."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    vals = np.asarray(values)
    y = vals % 10
    numbers = sorted(set(vals.tolist()))
    right: dict[str, np.ndarray] = {m: np.zeros(len(y), dtype=bool) for m in methods}
    tested = np.zeros(len(y), dtype=bool)
    for i, n in enumerate(numbers):
        yield Progress(i, len(numbers), f"mod-10 probe: number {n} held out")
        te = vals == n
        tr = ~te
        if y[te][0] not in set(y[tr].tolist()):
            continue  # no other number with this last digit to learn it from
        tested |= te
        if "diff_of_means" in methods:
            f, digits = _features(x[tr], y[tr])
            # nearest class mean: argmax_d (x - mu)·f_d - |f_d|^2 / 2 (f_d = mu_d - mu); a bare
            # (x - mu)·f_d would favour the digits whose features are longest
            score = (x[te] - x[tr].mean(0)) @ f.T - 0.5 * (f**2).sum(1)  # [t, classes]
            right["diff_of_means"][te] = digits[score.argmax(1)] == y[te]
        if "linear" in methods:
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
            clf.fit(x[tr], y[tr])
            right["linear"][te] = clf.predict(x[te]) == y[te]
    if not tested.any():
        raise PromptSetError(
            "no last digit appears in two different numbers: use more numbers (max_number)."
        )
    counts = np.bincount(y[tested], minlength=10)
    per_digit = {
        m: [
            float(right[m][tested & (y == d)].mean()) if (tested & (y == d)).any() else float("nan")
            for d in range(10)
        ]
        for m in methods
    }
    return Mod10Probe(
        {m: float(right[m][tested].mean()) for m in methods},
        float(counts.max() / counts.sum()),
        int(tested.sum()),
        len({int(v) for v in vals[tested]}),
        per_digit,
    )


def _features(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Difference-of-means feature of each last digit present: ``[classes, d]``, digits."""
    digits = np.array(sorted(set(y.tolist())))
    mu = x.mean(0)
    return np.stack([x[y == d].mean(0) - mu for d in digits]), digits


def mod10_arithmetic(
    hm: HookedModel,
    layer: int,
    head: int,
    nums: Sequence[NumberToken],
    e: torch.Tensor,
    seed: int = 0,
) -> Arithmetic:
    """Replace each number's mod-10 feature with another digit's; see the module docstring."""
    vals = np.array([t.value for t in nums])
    x64 = e.numpy().astype(np.float64)
    digits = np.unique(vals % 10)
    if len(digits) < 10:
        raise PromptSetError(
            f"only last digits {digits.tolist()} occur among the number tokens; the arithmetic "
            "needs all ten."
        )
    feats: dict[int, dict[int, torch.Tensor]] = {}  # value -> digit -> feature without it

    def features_without(v: int) -> dict[int, torch.Tensor]:
        if v not in feats:
            keep = vals != v
            f_np, ds = _features(x64[keep], vals[keep] % 10)
            f_t = torch.tensor(f_np, dtype=torch.float32)
            feats[v] = {int(d): f_t[c] for c, d in enumerate(ds)}
        return feats[v]

    cand = torch.tensor([t.token_id for t in nums])
    present = set(vals.tolist())
    top_value = lambda logits: vals[logits.argmax(-1).numpy()]  # noqa: E731

    base = top_value(head_ov_logits(hm, e, layer, head, cand))
    has_next = np.array([v + 1 in present for v in vals])
    successor_rate = float((base[has_next] == vals[has_next] + 1).mean()) if has_next.any() else 0.0

    src, want, pairs, deltas = [], [], [], []
    for i, t in enumerate(nums):
        a = t.value % 10
        f = features_without(t.value)  # leave the edited number out, as the probe does
        for b in range(10):
            m = t.value - a + b
            if b == a or m + 1 not in present or a not in f or b not in f:
                continue
            src.append(i)
            want.append(m + 1)
            pairs.append((a, b))
            deltas.append(f[b] - f[a])
    if not src:
        raise PromptSetError("no edit has a successor among the number tokens.")
    delta = torch.stack(deltas)
    edited = e[src] + delta
    g = torch.Generator().manual_seed(seed)
    rnd = torch.randn(delta.shape, generator=g)
    rnd = rnd / rnd.norm(dim=-1, keepdim=True) * delta.norm(dim=-1, keepdim=True)
    got = top_value(head_ov_logits(hm, edited, layer, head, cand))
    ctl = top_value(head_ov_logits(hm, e[src] + rnd, layer, head, cand))
    want_a = np.array(want)
    ok = got == want_a
    grid: list[list[list[bool]]] = [[[] for _ in range(10)] for _ in range(10)]
    for (a, b), hit in zip(pairs, ok.tolist(), strict=True):
        grid[a][b].append(hit)
    example = [k for k, i in enumerate(src) if nums[i].value == 3 and pairs[k][1] == 7]
    return Arithmetic(
        float(ok.mean()),
        len(src),
        successor_rate,
        int(has_next.sum()),
        float((ctl == want_a).mean()),
        [[(sum(c) / len(c)) if c else None for c in row] for row in grid],
        {
            "edits": [
                {
                    "token": nums[src[k]].text,
                    "top_value": int(got[k]),
                    "wanted": 8,
                    "success": bool(ok[k]),
                }
                for k in example
            ]
        },
    )


# ------------------------------------------------------------------------ the job
def successor_analysis_job(
    hm: HookedModel,
    layer: int | None = None,
    head: int | None = None,
    *,
    max_number: int = 100,
    forms: Sequence[str] = FORMS,
    methods: Sequence[str] = METHODS,
    k: int = 5,
    sequences: Sequence[Sequence[str]] | None = None,
    seed: int = 0,
) -> Job[SuccessorAnalysis]:
    """OV table, mod-10 features and vector arithmetic for one head (a job).

    Parameters
    ----------
    layer, head
        The head; both None: the head with the highest successor score (computed first).
    max_number, forms
        The number tokens (:func:`number_tokens`).
    methods
        ``diff_of_means`` and/or ``linear`` probes of the last digit on held-out numbers.
    """
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise WorkbenchError(f"probe methods {list(methods)}: use {', '.join(METHODS)}.")
    if k < 1:
        raise WorkbenchError(f"k {k}: give 1 or more top tokens.")
    check_additive_heads(hm, "The successor-head analysis (a head's OV view)")
    score = None
    if (layer is None) != (head is None):
        raise WorkbenchError("give both the layer and the head, or neither (the best head).")
    if layer is None or head is None:
        from workbench.heads.ov_scores import successor_score_job

        scores = yield from successor_score_job(hm, sequences)
        flat = int(scores.scores.argmax())
        layer, head = divmod(flat, hm.n_heads)
        score = float(scores.scores[layer, head])
    if not 0 <= layer < hm.n_layers or not 0 <= head < hm.n_heads:
        raise WorkbenchError(
            f"L{layer}H{head}: this model has layers 0-{hm.n_layers - 1} and heads "
            f"0-{hm.n_heads - 1}."
        )
    yield Progress(0, 3, f"L{layer}H{head}: OV table")
    table, heatmap = ov_table(hm, layer, head, sequences, k)
    nums = number_tokens(hm.tokenizer, max_number, forms)
    if len({t.value for t in nums}) < 3:
        raise PromptSetError(
            f"this tokenizer has single tokens for only {len(nums)} number forms; the mod-10 "
            "features need more (try forms digits, words and ordinals)."
        )
    yield Progress(1, 3, f"mod-10 probe on {len(nums)} number tokens")
    e = head_inputs(hm, torch.tensor([t.token_id for t in nums]), layer).float().cpu()
    probe = yield from mod10_probe_job(
        e.numpy().astype(np.float64), [t.value for t in nums], methods
    )
    yield Progress(2, 3, "vector arithmetic")
    arith = mod10_arithmetic(hm, layer, head, nums, e, seed)
    yield Progress(3, 3, "done")
    settings = {
        "layer": layer, "head": head, "max_number": max_number, "forms": list(forms),
        "methods": list(methods), "k": k, "seed": seed, "model": hm.ref.to_dict(),
        "effective_embedding": "E + MLP0(norm(E))" if layer > 0 else "E (layer 0: before MLP0)",
    }  # fmt: skip
    return SuccessorAnalysis(
        layer,
        head,
        score,
        table,
        probe,
        arith,
        [(t.value, t.text) for t in nums],
        settings,
        heatmap,
    )
