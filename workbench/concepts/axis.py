"""Axis projection ("Labor Space"): many items placed on an A–B axis at one site.

A pole is either a stored concept (its vector at the site) or a group of texts (the mean of
their activations at the site, read like the items). An item ``x`` sits at

``t = (x - A) · (B - A) / |B - A|²``

(:func:`workbench.concepts.diagnostics.axis_coordinates`): 0 at pole A, 1 at pole B, whatever the
scale of the site. A second axis (C–D) makes it a 2-D scatter.

The projection is only meaningful when poles and items live in the same space, so the result
carries warnings (the command line prints them, the window shows them) when a concept pole's
vector was read at another site than the items, at another token position, lives in the
(un)embedding space, or is a *direction* (a difference of means, a probe...) rather than a point
in activation space: then the order along the axis still means "more like B than A", but 0 and 1
do not mark the poles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from workbench.concepts.diagnostics import axis_coordinates
from workbench.errors import PromptSetError, ShapeMismatchError
from workbench.jobs import Job, Progress

if TYPE_CHECKING:
    from workbench.concepts.concept import Concept
    from workbench.models.hooked import HookedModel

# Methods whose vector is a difference, a classifier weight or a learned/added steering vector
# (trained vectors, head offsets, function vectors, SAE decoder rows), not an activation.
DIRECTION_METHODS = (
    "diff_of_means",
    "pca_diff",
    "pca_center",
    "icv",
    "task_vector",
    "probe",
    "trained_vector",
    "head_offsets",
    "function_vector",
    "sae_feature",
)
OTHER_SPACE_METHODS = ("embedding", "unembedding")


@dataclass(frozen=True)
class Pole:
    """One end of an axis: ``concept`` (its vector at the site) or ``texts`` (their mean
    activation at the site)."""

    name: str
    concept: Concept | None = field(default=None, compare=False)
    texts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", tuple(t for t in self.texts if t.strip()))
        if (self.concept is None) == (not self.texts):
            raise PromptSetError(
                f"pole {self.name!r}: give a concept or a group of texts (one of the two)."
            )

    def describe(self) -> dict[str, Any]:
        if self.concept is not None:
            return {"name": self.name, "concept": self.concept.name}
        return {"name": self.name, "texts": list(self.texts)}


def concept_pole(concept: Concept) -> Pole:
    return Pole(concept.name, concept=concept)


def text_pole(name: str, texts: Sequence[str]) -> Pole:
    return Pole(name, texts=tuple(texts))


@dataclass(frozen=True)
class AxisResult:
    """``x[i]`` (and ``y[i]``) is ``items[i]``'s place on each axis (0 = A, 1 = B)."""

    items: list[str]
    x: list[float]
    y: list[float] | None
    x_poles: tuple[str, str]
    y_poles: tuple[str, str] | None
    site: str
    position: str
    warnings: list[str]
    poles: list[dict[str, Any]]
    # Where each pole sits on its own axis (0 and 1 for text poles; other values show that a
    # concept pole is a direction or comes from another space).
    pole_coordinates: dict[str, float] = field(default_factory=dict)
    template: str = "{item}"
    kind = "axis"  # the project run's analysis

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["settings"] = {"site": self.site, "position": self.position, "poles": self.poles,
                         "template": self.template}  # fmt: skip
        return d

    def figure_spec(self) -> dict[str, Any]:
        """A labelled 1-D strip (one axis) or a 2-D scatter (two)."""
        xa, xb = self.x_poles
        spec: dict[str, Any] = {
            "kind": "scatter",
            "title": f"{xa} → {xb}"
            + (f" × {self.y_poles[0]} → {self.y_poles[1]}" if self.y_poles else "")
            + f" at {self.site}",
            "xlabel": f"0 = {xa}, 1 = {xb}",
            "ylabel": ""
            if self.y_poles is None
            else f"0 = {self.y_poles[0]}, 1 = {self.y_poles[1]}",
            "x": list(self.x),
            "y": None if self.y is None else list(self.y),
            "labels": list(self.items),
            "marks": [0.0, 1.0],
        }
        if self.warnings:
            spec["note"] = self.warnings[0]
        return spec


def _pole_vector(
    pole: Pole, site: str, pole_site: str | None, position: str, warnings: list[str]
) -> torch.Tensor | None:
    """A concept pole's vector (warnings added for a different space); None for text poles."""
    c = pole.concept
    if c is None:
        return None
    where = pole_site or site
    if where not in c.vectors:
        raise ShapeMismatchError(
            f"pole {pole.name!r} ({c.name}) has no vector at {where}; it has "
            f"{', '.join(c.sites[:6])}{' …' if len(c.sites) > 6 else ''}. Read the items at one "
            "of those sites, or give --pole-site."
        )
    if where != site:
        warnings.append(
            f"pole {pole.name!r} comes from {where} but the items are read at {site}: "
            "different spaces, so the positions are not comparable to the poles."
        )
    recipe = c.recipe if isinstance(c.recipe, dict) else {}
    method = recipe.get("method")
    if method in OTHER_SPACE_METHODS:
        warnings.append(
            f"pole {pole.name!r} is an {method} vector (the model's token "
            f"{'input' if method == 'embedding' else 'output'} space), not an activation at {site}."
        )
    elif method in DIRECTION_METHODS:
        warnings.append(
            f"pole {pole.name!r} is a direction ({method}), not a point in activation space: "
            "items are ordered by their projection on B − A, but 0 and 1 do not mark the poles."
        )
    made_at = recipe.get("position")
    if made_at and made_at != position and method not in OTHER_SPACE_METHODS:
        warnings.append(
            f"pole {pole.name!r} was read at token position {made_at!r}, the items at {position!r}."
        )
    return c.vector(where).float()


def axis_projection_job(
    hm: HookedModel,
    items: Sequence[str],
    x_poles: tuple[Pole, Pole],
    y_poles: tuple[Pole, Pole] | None = None,
    *,
    site: str,
    position: str = "last",
    pole_site: str | None = None,
    batch_size: int = 16,
    template: str = "{item}",
) -> Job[AxisResult]:
    """Place ``items`` on the axis ``x_poles`` (and ``y_poles``) at ``site`` (a job).

    Parameters
    ----------
    pole_site
        Read concept poles here instead of at ``site`` (the result then warns).
    template
        Each item and pole text is read inside this text (``"{item}"``: as it is), e.g.
        ``"A person who works as a {item}"``: a one-token item read alone sits on the first
        position, which most models use as an attention sink (the result warns).
    """
    if "{item}" not in template:
        raise PromptSetError(
            f"template {template!r} must contain {{item}}, e.g. 'I work as a {{item}}'."
        )
    items = [t for t in items if t.strip()]
    if not items:
        raise PromptSetError("no items to place: give a list, a file or a prompt set.")
    hm.check_site(site)
    poles = [*x_poles, *(y_poles or ())]
    for p in poles:
        if p.concept is not None and not p.concept.model.same_space(hm.ref):
            raise ShapeMismatchError(
                f"pole {p.name!r} belongs to {p.concept.model.name}, not to the loaded {hm.ref.name}."
            )
    warnings: list[str] = []
    vecs = [_pole_vector(p, site, pole_site, position, warnings) for p in poles]
    groups = [list(p.texts) for p in poles if p.concept is None]
    texts = [template.replace("{item}", t) for t in items + [t for g in groups for t in g]]
    yield Progress(0, len(texts), "reading items and poles")
    cap = yield from hm.capture_job(texts, [site], position=position, batch_size=batch_size)
    alone = sum(n == 1 for n in cap.lengths)
    if alone:
        warnings.append(
            f"{alone} of the {len(texts)} texts read are one token long: read at the first "
            "position, which most models use as an attention sink, they all look alike. Give "
            "a template that puts each item in context."
        )
    acts = cap.acts[site].float()
    x_acts, rest = acts[: len(items)], acts[len(items) :]
    k = 0
    for i, p in enumerate(poles):
        if vecs[i] is None:
            n = len(p.texts)
            vecs[i] = rest[k : k + n].mean(0)
            k += n
    ends = [v for v in vecs if v is not None]
    for a, b, axis in ((0, 1, "x"), (2, 3, "y")):
        if b < len(ends) and torch.equal(ends[a], ends[b]):
            raise PromptSetError(f"the two poles of the {axis} axis are the same vector.")

    def coords(a: int, b: int, x: torch.Tensor) -> list[float]:
        return axis_coordinates(x, ends[a], ends[b]).tolist()

    pole_xy = {}
    for i, p in enumerate(poles):
        a = 0 if i < 2 else 2
        pole_xy[p.name] = coords(a, a + 1, ends[i][None])[0]
    return AxisResult(
        items,
        coords(0, 1, x_acts),
        None if y_poles is None else coords(2, 3, x_acts),
        (x_poles[0].name, x_poles[1].name),
        None if y_poles is None else (y_poles[0].name, y_poles[1].name),
        site,
        position,
        warnings,
        [p.describe() for p in poles],
        pole_xy,
        template,
    )
