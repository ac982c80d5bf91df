"""Layer-wise linear probing ("Exploring Concept Depth"): how well a concept can be read out
linearly at each layer, as an accuracy-by-layer curve.

One forward pass per batch reads every layer at once; a standardised logistic regression is then
scored at each site by k-fold cross-validation (pairs of a contrastive set stay in the same fold,
so a probe is never tested on the twin of a training sentence) or on a held-out split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.concepts.prompt_sets import PromptSet
from workbench.errors import PromptSetError
from workbench.jobs import Job, Progress
from workbench.models.sites import site_name

if TYPE_CHECKING:
    import torch

    from workbench.models.hooked import HookedModel
    from workbench.models.interventions import Intervention


@dataclass
class ProbeCurve:
    """Accuracy by layer. ``points`` is ``[(layer, accuracy), ...]``; ``std`` the spread over
    folds (0 for a single split); ``chance`` the majority-class rate."""

    prompt_set: str
    site_kind: str
    position: str
    points: list[tuple[int, float]]
    std: list[float]
    chance: float
    n_examples: int
    folds: int
    classes: list[str] = field(default_factory=list)

    @property
    def best(self) -> tuple[int, float]:
        return max(self.points, key=lambda p: p[1])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["points"] = [list(p) for p in self.points]
        return d


def probe_accuracy(
    x: np.ndarray | torch.Tensor,
    y: Sequence[Any],
    *,
    folds: int | None = 5,
    groups: Sequence[int] | None = None,
    test_fraction: float = 0.25,
    C: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean and std accuracy of a standardised logistic-regression probe of ``y`` from ``x``.

    Parameters
    ----------
    x
        Features ``[n, d]``.
    y
        Labels (any hashable).
    folds
        k for k-fold cross-validation (stratified, or grouped when ``groups`` is given); None
        for one held-out split of ``test_fraction``.
    groups
        Items with the same group id never straddle train and test (e.g. the two halves of a
        contrastive pair).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import (
        GroupKFold,
        GroupShuffleSplit,
        StratifiedKFold,
        StratifiedShuffleSplit,
    )
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    y_arr = np.asarray([str(v) for v in y])
    if len(set(y_arr)) < 2:
        raise PromptSetError("every example has the same label; a probe needs two or more classes.")
    g = None if groups is None else np.asarray(groups)
    if folds is not None:
        splitter = (
            GroupKFold(n_splits=folds)
            if g is not None
            else StratifiedKFold(folds, shuffle=True, random_state=seed)
        )
    elif g is not None:
        splitter = GroupShuffleSplit(1, test_size=test_fraction, random_state=seed)
    else:
        splitter = StratifiedShuffleSplit(1, test_size=test_fraction, random_state=seed)
    scores = []
    for tr, te in splitter.split(x, y_arr, g):
        if len(set(y_arr[tr])) < 2:
            continue
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
        clf.fit(x[tr], y_arr[tr])
        scores.append(float(clf.score(x[te], y_arr[te])))
    if not scores:
        raise PromptSetError(
            "no split had two classes to train on; add more examples of each label."
        )
    return float(np.mean(scores)), float(np.std(scores))


def probe_layers_job(
    hm: HookedModel,
    prompts: PromptSet,
    *,
    layers: Sequence[int] | None = None,
    site_kind: str = "resid_post",
    position: str = "last",
    folds: int | None = 5,
    test_fraction: float = 0.25,
    C: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    chat: bool = False,
    interventions: Sequence[Intervention] = (),
    cluster: Any = None,
) -> Job[ProbeCurve]:
    """Probe accuracy at every layer (default: all) for a labelled or contrastive set (a job).

    ``interventions`` act on every forward that reads the activations (input noise, say:
    :mod:`workbench.concepts.depth`). ``cluster``: an address or
    :class:`workbench.cluster.Cluster` whose workers capture the prompt batches (the same
    activations; the probes are fitted here).

    Returns
    -------
    ProbeCurve
        ``points`` = ``[(layer, accuracy)]`` in layer order.
    """
    texts, labels = prompts.labelled()
    groups = list(range(len(prompts))) * 2 if prompts.kind == "contrastive" else None
    n_classes = len(set(labels))
    if n_classes < 2:
        raise PromptSetError(
            f"every text in {prompts.name!r} has the label {labels[0]!r}; a probe needs two or more classes."
        )
    if folds is not None:
        smallest = min(labels.count(c) for c in set(labels))
        folds = max(2, min(folds, len(prompts) if groups else smallest))
    layers = list(range(hm.n_layers)) if layers is None else list(layers)
    sites = [site_name(site_kind, L) for L in layers]
    if cluster is not None:
        from workbench.cluster import opened
        from workbench.concepts.capture_distributed import ClusterCapture

        with opened(cluster) as cl:
            cap = yield from ClusterCapture(hm, cl).capture_job(
                texts, sites, position, batch_size, interventions, chat
            )
    else:
        cap = yield from hm.capture_job(
            texts,
            sites,
            position=position,
            batch_size=batch_size,
            chat=chat,
            interventions=interventions,
        )
    points, std = [], []
    for i, (L, s) in enumerate(zip(layers, sites, strict=True)):
        acc, sd = probe_accuracy(
            cap.acts[s],
            labels,
            folds=folds,
            groups=groups,
            test_fraction=test_fraction,
            C=C,
            seed=seed,
        )
        points.append((L, acc))
        std.append(sd)
        yield Progress(i + 1, len(sites), f"probed layer {L}: {acc:.2f}")
    chance = max(labels.count(c) for c in set(labels)) / len(labels)
    return ProbeCurve(
        prompts.name,
        site_kind,
        position,
        points,
        std,
        chance,
        len(texts),
        folds or 1,
        sorted(set(labels)),
    )
