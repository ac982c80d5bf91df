"""Extracting concepts from a model: jobs that turn prompt sets into vectors, one per site.

Every method is a job (a generator yielding :class:`~workbench.jobs.Progress`, cancellable at
each yield) that returns a :class:`~workbench.concepts.concept.Concept` whose ``recipe`` says how
to make it again: method, model (name, file hash), prompts, position rule, sites, parameters and
the library version.

=================  =====================================================================
method             vector at each site
=================  =====================================================================
``mean``           mean activation over the prompts (a contrastive set's ``pole``, or all)
``diff_of_means``  mean(positive) - mean(negative)  (ActAdd / CAA)
``pca_diff``       first principal direction of the pairs' differences pos_i - neg_i
``pca_center``     first principal direction of the activations centred on each pair's mean
``icv``            in-context vector: latents of the demonstrations' outputs minus inputs
``task_vector``    shift of the query's latent caused by k demonstrations in the context
``probe``          logistic-regression weight vector on raw activations (unit norm);
                   held-out accuracy in the recipe
``embedding``      mean of a word's token rows of W_E (hook_embed by default)
``unembedding``    mean of a word's token rows of W_U (last resid_post by default)
=================  =====================================================================

PCA follows repeng: directions are unit vectors, and the sign is chosen so that in most pairs
the positive prompt projects higher than its negative (ties broken by the means). ``pca_diff``
centres the differences as repeng's scikit-learn PCA does (``params={"center": False}`` keeps the
uncentred first singular vector instead).

ICV (Liu et al., 2024): for each demonstration pair (x, y), the last-token latent of y minus that
of x (contrastive sets: x = negative, y = positive). ``aggregate="pca"`` (default) follows the
authors' code (``obtain_icv`` in shengliu66/ICV): the differences of all chosen sites are
concatenated, and the ICV is the first principal component of the centred differences (unit
norm over the concatenation) plus their mean, split back per site. Their sign comes from
``svd_flip``; ours is the one that agrees with the mean difference. ``aggregate="mean"`` is the
plain mean difference. ``task_vector`` is the other reading of "the
shift demonstrations cause": the query's last-token latent with k random demonstrations before it
minus the latent of the query alone, averaged over queries (Hendel et al. / function vectors).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from workbench.concepts.concept import RECIPE_VERSION, Concept
from workbench.concepts.methods import METHOD_PARAMS, METHODS, check_params  # noqa: F401 - re-exported
from workbench.concepts.prompt_sets import PromptSet
from workbench.errors import PromptSetError
from workbench.jobs import Job, Progress
from workbench.models.sites import resid_post

if TYPE_CHECKING:
    from workbench.models.hooked import HookedModel

_NEEDS = {
    "diff_of_means": ("contrastive",),
    "pca_diff": ("contrastive",),
    "pca_center": ("contrastive",),
    "icv": ("contrastive", "demonstrations"),
    "task_vector": ("demonstrations",),
    "probe": ("contrastive", "labelled"),
}


@dataclass
class ExtractionSpec:
    """What to extract. ``layers`` is a shorthand for ``blocks.L.hook_resid_post`` sites.

    ``params`` by method: mean: ``pole`` (positive/negative/all); pca_*: ``center``; icv:
    ``aggregate`` (pca/mean); task_vector: ``k`` (demonstrations, 5), ``n_queries`` (32),
    ``seed``; probe: ``test_fraction`` (0.25), ``C`` (1.0), ``positive_label``, ``seed``.
    """

    method: str
    sites: list[str] = field(default_factory=list)
    layers: list[int] = field(default_factory=list)
    position: str = "last"
    prompts: PromptSet | None = None
    words: list[str] = field(default_factory=list)
    name: str = ""
    batch_size: int = 16
    chat: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def resolved_sites(self, hm: HookedModel) -> list[str]:
        sites = list(self.sites) + [
            resid_post(L) for L in self.layers if resid_post(L) not in self.sites
        ]
        if not sites and self.method == "embedding":
            sites = ["hook_embed"]
        if not sites and self.method == "unembedding":
            sites = [resid_post(hm.n_layers - 1)]
        if not sites:
            raise PromptSetError(f"{self.method}: choose at least one layer or site.")
        for s in sites:
            hm.check_site(s)
        return sites


def extract_job(hm: HookedModel, spec: ExtractionSpec, cluster: Any = None) -> Job[Concept]:
    """Run ``spec.method`` and return the concept (a job).

    ``cluster``: an address or :class:`workbench.cluster.Cluster`; the prompt batches are
    captured on its workers (:mod:`workbench.concepts.capture_distributed`), with the same
    vectors as here.
    """
    if spec.method not in METHODS:
        raise ValueError(f"unknown method {spec.method!r}; use one of {', '.join(METHODS)}")
    if spec.position not in ("last", "mean", "mean_skip_first"):
        raise ValueError(f"position must be last, mean or mean_skip_first, not {spec.position!r}")
    check_params(spec.method, spec.params)
    sites = spec.resolved_sites(hm)
    ps = spec.prompts
    if spec.method in ("embedding", "unembedding"):
        if not spec.words:
            raise PromptSetError(f"{spec.method}: give at least one word.")
    elif ps is None:
        raise PromptSetError(f"{spec.method} needs a prompt set.")
    elif spec.method in _NEEDS and ps.kind not in _NEEDS[spec.method]:
        need = " or ".join(_NEEDS[spec.method])
        raise PromptSetError(f"{spec.method} needs a {need} prompt set; {ps.name!r} is {ps.kind}.")
    fn = {
        "mean": _mean,
        "diff_of_means": _diff_of_means,
        "pca_diff": _pca,
        "pca_center": _pca,
        "icv": _icv,
        "task_vector": _task_vector,
        "probe": _probe,
        "embedding": _token_rows,
        "unembedding": _token_rows,
    }[spec.method]
    if cluster is not None and fn is not _token_rows:
        from workbench.cluster import opened
        from workbench.concepts.capture_distributed import ClusterCapture

        with opened(cluster) as cl:
            vectors, extra = yield from fn(ClusterCapture(hm, cl), spec, sites)
    else:
        vectors, extra = yield from fn(hm, spec, sites)
    from workbench.concepts.norm_check import norm_warnings

    texts = ps.all_texts() if ps is not None and spec.method not in _WORD_METHODS else []
    warnings = norm_warnings(hm, vectors, texts)
    if warnings:  # kept with the recipe; the command line and the window show them
        extra = {**extra, "warnings": warnings}
    return _concept(hm, spec, sites, vectors, extra)


_WORD_METHODS = ("embedding", "unembedding")


def _concept(hm, spec: ExtractionSpec, sites, vectors, extra) -> Concept:
    from workbench import __version__

    ps = spec.prompts
    recipe = {
        "method": spec.method,
        "model": {"name": hm.ref.name, "file_hash": hm.ref.file_hash, "source": hm.ref.source},
        "prompts": None
        if ps is None or spec.method in ("embedding", "unembedding")
        else ps.to_dict() | {"source": ps.source},
        "words": list(spec.words) or None,
        "position": spec.position,
        "sites": sites,
        "params": dict(spec.params),
        "chat": spec.chat,
        "version": RECIPE_VERSION,
        "library_version": __version__,
        **extra,
    }
    name = spec.name or _default_name(spec)
    return Concept(name, {s: vectors[s].float().contiguous() for s in sites}, hm.ref, recipe)


def _default_name(spec: ExtractionSpec) -> str:
    """One rule for every automatic name: ``<source> (<method>)``, the source being the words
    or the prompt set's name (a set's named poles are in the recipe, not the name: names made
    two ways, "sentiment (diff_of_means)" and "formal - informal (…)", read as two kinds)."""
    ps = spec.prompts
    if spec.method in ("embedding", "unembedding"):
        return f"{'+'.join(spec.words)} ({spec.method})"
    return f"{ps.name if ps else 'concept'} ({spec.method})"


def _capture(
    hm, texts: list[str], sites, spec: ExtractionSpec, position: str | None = None
) -> Job[dict[str, torch.Tensor]]:
    cap = yield from hm.capture_job(
        texts, sites, position=position or spec.position, batch_size=spec.batch_size, chat=spec.chat
    )
    return cap.acts


def _contrastive_acts(hm, spec, sites) -> Job[tuple[dict, dict]]:
    ps = spec.prompts
    acts = yield from _capture(hm, ps.positive + ps.negative, sites, spec)
    n = len(ps.positive)
    return {s: a[:n] for s, a in acts.items()}, {s: a[n:] for s, a in acts.items()}


# --------------------------------------------------------------------------- methods
def _mean(hm, spec, sites):
    ps = spec.prompts
    pole = spec.params.get("pole", "all")
    if ps.kind == "contrastive" and pole in ("positive", "negative"):
        texts = ps.positive if pole == "positive" else ps.negative
    elif ps.kind == "demonstrations":
        texts = [ps.demo_text([i]) for i in range(len(ps))]
    else:
        texts = ps.all_texts()
    acts = yield from _capture(hm, texts, sites, spec)
    return {s: a.mean(0) for s, a in acts.items()}, {"n_prompts": len(texts)}


def _diff_of_means(hm, spec, sites):
    pos, neg = yield from _contrastive_acts(hm, spec, sites)
    return {s: pos[s].mean(0) - neg[s].mean(0) for s in sites}, {}


def first_direction(x: torch.Tensor, center: bool = True) -> tuple[torch.Tensor, float]:
    """The first principal direction of rows ``x`` [n, d] (unit) and its explained-variance
    ratio (of the centred data when ``center``, else of the raw second moment)."""
    x = x.double()
    if center:
        x = x - x.mean(0)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    var = s**2
    ratio = float(var[0] / var.sum()) if float(var.sum()) > 0 else 0.0
    return vh[0].float(), ratio


def orient(direction: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Flip ``direction`` so that positives project above their negatives in most pairs."""
    p, n = pos.float() @ direction, neg.float() @ direction
    wins = float((p > n).float().mean())
    if wins < 0.5 or (wins == 0.5 and float(p.mean() - n.mean()) < 0):
        return -direction
    return direction


def _pca(hm, spec, sites):
    pos, neg = yield from _contrastive_acts(hm, spec, sites)
    out, ratios = {}, {}
    for s in sites:
        if spec.method == "pca_diff":
            train = pos[s] - neg[s]
            center = bool(spec.params.get("center", True))
        else:
            mid = (pos[s] + neg[s]) / 2
            train = torch.cat([pos[s] - mid, neg[s] - mid])
            center = True
        d, ratios[s] = first_direction(train, center=center)
        out[s] = orient(d, pos[s], neg[s])
    return out, {"explained_variance": ratios}


def _icv(hm, spec, sites):
    ps = spec.prompts
    xs, ys = (ps.negative, ps.positive) if ps.kind == "contrastive" else (ps.inputs, ps.outputs)
    from workbench.concepts.norm_check import off_first_token

    # One-word demonstrations ("hot" -> "cold") are one token each: read at position 0 they
    # would give the attention sink's latent, so a start token goes before them.
    texts, prefix = off_first_token(hm, list(xs) + list(ys), chat=spec.chat)
    acts = yield from _capture(hm, texts, sites, spec)
    n = len(xs)
    agg = spec.params.get("aggregate", "pca")
    if agg not in ("pca", "mean"):
        raise ValueError(f"icv aggregate must be pca or mean, not {agg!r}")
    diffs = {s: (acts[s][n:] - acts[s][:n]).flatten(1) for s in sites}  # [n, width] each
    out = {s: d.mean(0) for s, d in diffs.items()}
    if agg == "pca" and n > 1:
        # one principal direction over all sites at once, as the authors' code does
        joint = torch.cat([diffs[s] for s in sites], dim=1)
        d, _ = first_direction(joint, center=True)
        if float(d @ joint.mean(0)) < 0:
            d = -d
        for s, part in zip(sites, torch.split(d, [diffs[s].shape[1] for s in sites]), strict=True):
            out[s] = out[s] + part
    out = {s: v.reshape(acts[s].shape[1:]) for s, v in out.items()}
    return out, {"n_pairs": n} | ({"context_prefix": prefix} if prefix else {})


def _task_vector(hm, spec, sites):
    ps = spec.prompts
    k = int(spec.params.get("k", 5))
    n_q = min(int(spec.params.get("n_queries", 32)), len(ps))
    if len(ps) < k + 1:
        raise PromptSetError(
            f"task_vector with k={k} needs at least {k + 1} demonstrations; {ps.name!r} has {len(ps)}."
        )
    rng = random.Random(int(spec.params.get("seed", 0)))
    queries = rng.sample(range(len(ps)), n_q)
    with_demos, alone = [], []
    for q in queries:
        demos = rng.sample([i for i in range(len(ps)) if i != q], k)
        with_demos.append(ps.demo_text(demos, query=ps.inputs[q]))
        alone.append(ps.demo_text([], query=ps.inputs[q]))
    acts = yield from _capture(hm, with_demos + alone, sites, spec, position="last")
    return {s: (acts[s][:n_q] - acts[s][n_q:]).mean(0) for s in sites}, {
        "example_prompt": with_demos[0],
        "position": "last",
    }


def _probe(hm, spec, sites):
    from sklearn.linear_model import LogisticRegression

    ps = spec.prompts
    train, test = ps.split(
        float(spec.params.get("test_fraction", 0.25)), int(spec.params.get("seed", 0))
    )
    xtr, ytr = train.labelled()
    xte, yte = test.labelled()
    positive = spec.params.get("positive_label") or (
        ps.poles[0] if ps.kind == "contrastive" else ps.labels[0]
    )
    ytr = [int(y == positive) for y in ytr]
    yte = [int(y == positive) for y in yte]
    if len(set(ytr)) < 2:
        raise PromptSetError(
            f"the training split of {ps.name!r} has one class only; add more examples of each label."
        )
    acts = yield from _capture(hm, xtr + xte, sites, spec)
    out, acc = {}, {}
    for s in sites:
        a = acts[s].double().numpy()
        clf = LogisticRegression(C=float(spec.params.get("C", 1.0)), max_iter=2000)
        clf.fit(a[: len(xtr)], ytr)
        acc[s] = float(clf.score(a[len(xtr) :], yte))
        w = torch.tensor(clf.coef_[0], dtype=torch.float32)
        out[s] = w / w.norm().clamp_min(1e-12)
    return out, {
        "accuracy": acc,
        "positive_label": positive,
        "n_train": len(xtr),
        "n_test": len(xte),
    }


def token_ids(hm: HookedModel, word: str) -> list[int]:
    """The token ids of ``word`` as the tokenizer splits it (no special tokens). BPE tokenizers
    tell ``" great"`` (after a space, as a next token usually is) from ``"great"``."""
    ids = hm.tokenizer(word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise PromptSetError(f"{word!r} has no tokens in this tokenizer.")
    return list(ids)


def token_direction(hm: HookedModel, words: list[str], which: str = "embedding") -> torch.Tensor:
    """Mean over ``words`` of the mean of each word's token rows of W_E (``embedding``) or
    W_U (``unembedding``): [d_model]."""
    w = (
        (hm.adapter.embed() if which == "embedding" else hm.adapter.unembed())
        .weight.detach()
        .float()
        .cpu()
    )
    rows = [w[token_ids(hm, word)].mean(0) for word in words]
    return torch.stack(rows).mean(0)


def _token_rows(hm, spec, sites):
    yield Progress(0, 1, "reading token rows")
    v = token_direction(hm, list(spec.words), spec.method)
    yield Progress(1, 1, "done")
    toks = {w: [hm.tokenizer.decode([i]) for i in token_ids(hm, w)] for w in spec.words}
    return {s: v.clone() for s in sites}, {"tokens": toks}


def extract(
    hm: HookedModel,
    prompts: PromptSet | str | None,
    method: str = "diff_of_means",
    layers: Sequence[int] | None = None,
    *,
    sites: Sequence[str] = (),
    position: str = "last",
    name: str = "",
    words: Sequence[str] = (),
    **params: Any,
) -> Concept:
    """Extract a concept now (the notebook form of :func:`extract_job`).

    ``prompts`` is a :class:`PromptSet`, the name of a built-in set (``"sentiment"``) or a
    prompt-set file; ``layers`` picks ``blocks.L.hook_resid_post`` sites (``sites`` names any
    others); extra keyword arguments are the method's ``params``.

    >>> happy = extract(hm, "sentiment", layers=[12])
    """
    from workbench.concepts.prompt_sets import resolve_prompt_set
    from workbench.jobs import run

    ps = resolve_prompt_set(prompts) if isinstance(prompts, str) else prompts
    spec = ExtractionSpec(
        method=method, sites=list(sites), layers=list(layers or []), position=position,
        prompts=ps, words=list(words), name=name, params=dict(params),
    )  # fmt: skip
    return run(extract_job(hm, spec))
