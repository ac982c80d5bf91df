"""Concept algebra: expressions over named concepts, parsed safely and evaluated site by site.

>>> evaluate("happy - 0.5*sad + formal", {"happy": h, "sad": s, "formal": f}, name="cheerful")
>>> evaluate(Sum((Term("king"), Scaled(-1.0, Term("man")), Term("woman"))), concepts)

Text is parsed with :mod:`ast` against a whitelist (names, numbers, ``+ - * /``, parentheses
and the functions in :data:`FUNCTIONS`); nothing is ever ``eval``-ed. The parse gives a small
tree of frozen dataclasses (:class:`Term`, :class:`Scaled`, :class:`Sum`, :class:`Func`) that the
window's canvas can also build directly; ``node.to_text()`` prints it back so that
``parse(node.to_text()) == node`` for every tree :func:`parse` returns.

Evaluation is per site: every concept in an expression must live in the same model space
(:meth:`ModelRef.same_space`), have exactly the same sites, and the same tensor shape at each
site; anything else raises :class:`ShapeMismatchError`, never a silent broadcast. Sums and
scalings work for any shape (``[d_model]``, a diffusion ``[seq, dim]``, ...); the geometric
functions (``normalize``, ``project_out``, ``slerp``) act on the last dimension, row by row, so a
``[seq, dim]`` text-encoder output is treated as ``seq`` separate token vectors.

Functions
---------
``normalize(x)``             unit norm (a zero row stays zero).
``normalize_to(x)``          norm equal to ``target_norms[site]`` given to :func:`evaluate`
                             (e.g. the typical residual norm at that layer).
``normalize_to(x, 8)``       norm 8 at every site.
``project_out(x, y, ...)``   x minus its component in span(y, ...) (Gram-Schmidt).
``orthogonalize(x, y, ...)`` the same as ``project_out``.
``project_onto(x, y)``       the component of x along y.
``mean(x, y, ...)``          arithmetic mean.
``slerp(x, y, t)``           spherical interpolation of directions, linear of norms (t in [0, 1]).

Names that are not Python identifiers (``"love vs hate"``) are written as quoted strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from workbench.concepts.expression import (
    FUNCTIONS,
    ExpressionError,
    Func,
    Node,
    Scaled,
    Sum,
    Term,
    as_node,
    linear_terms,
    names,
    parse,
    scale,
)
from workbench.errors import ShapeMismatchError, SiteError

if TYPE_CHECKING:
    import torch

    from workbench.concepts.concept import Concept

__all__ = [
    "FUNCTIONS",
    "ExpressionError",
    "Func",
    "Node",
    "Scaled",
    "Sum",
    "Term",
    "as_node",
    "check_same_space",
    "combine",
    "describe_sites",
    "evaluate",
    "gram_schmidt",
    "linear_terms",
    "names",
    "parse",
    "remove_span",
    "scale",
    "slerp",
]


# -------------------------------------------------------------------------- evaluating
def describe_sites(sites: Sequence[str]) -> str:
    """A short reading of a site list: ``blocks.3.hook_resid_post`` or ``29 sites (resid_post
    at layers 0-9, 11-29)``."""
    from workbench.models.sites import parse_site

    sites = list(sites)
    if not sites:
        return "none"
    if len(sites) <= 3:
        return ", ".join(sites)
    by_kind: dict[str, list[int]] = {}
    other = []
    for s in sites:
        try:
            p = parse_site(s)
        except SiteError:  # shown as written
            other.append(s)
            continue
        if p.layer is None:
            other.append(s)
        else:
            by_kind.setdefault(p.kind, []).append(p.layer)
    parts = [f"{kind} at layers {_ranges(sorted(set(ls)))}" for kind, ls in by_kind.items()]
    return f"{len(sites)} sites ({'; '.join(parts + other)})"


def _ranges(xs: list[int]) -> str:
    out, start = [], None
    for i, x in enumerate(xs):
        if start is None:
            start = x
        if i + 1 == len(xs) or xs[i + 1] != x + 1:
            out.append(str(start) if start == x else f"{start}-{x}")
            start = None
    return ", ".join(out)


def check_same_space(concepts: Sequence[Concept], sites_rule: str = "same") -> list[str]:
    """Raise :class:`ShapeMismatchError` unless all concepts share model and shapes, and their
    sites: all of them (``sites_rule="same"``) or at least one (``"shared"``: the result lives
    at the sites every concept has). Return those sites (in the first concept's order)."""
    if sites_rule not in ("same", "shared"):
        raise ValueError(f"sites_rule must be same or shared, not {sites_rule!r}")
    if not concepts:
        raise ShapeMismatchError("no concepts to combine; add at least one.")
    first = concepts[0]
    sites = [s for s in first.vectors if all(s in c.vectors for c in concepts)]
    for c in concepts[1:]:
        first.check_compatible(c)
        if sites_rule == "same" and set(c.vectors) != set(first.vectors):
            only_a = [s for s in first.vectors if s not in c.vectors]
            only_b = [s for s in c.vectors if s not in first.vectors]
            raise ShapeMismatchError(
                f"{first.name!r} and {c.name!r} have different sites (only in {first.name!r}: "
                f"{describe_sites(only_a)}; only in {c.name!r}: {describe_sites(only_b)}). "
                "Combine concepts made at the same sites, or re-extract one of them at the "
                "other's sites."
            )
    if not sites:
        listing = "; ".join(f"{c.name!r}: {describe_sites(list(c.vectors))}" for c in concepts)
        raise ShapeMismatchError(
            f"These concepts share no site ({listing}), so there is nowhere to combine them. "
            "Re-extract one of them at a site of the other."
        )
    for c in concepts[1:]:
        for s in sites:
            a, b = first.vectors[s], c.vectors[s]
            if tuple(a.shape) != tuple(b.shape):
                raise ShapeMismatchError(
                    f"at {s}, {first.name!r} has shape {tuple(a.shape)} and {c.name!r} has "
                    f"{tuple(b.shape)}: vectors of different sizes cannot be combined."
                )
    return sites


def combine(terms: Sequence[tuple[float, Concept]]) -> dict[str, torch.Tensor]:
    """``Σ wᵢ·vᵢ`` per site in float32, after :func:`check_same_space`."""
    sites = check_same_space([c for _, c in terms])
    out = {}
    for s in sites:
        w0, c0 = terms[0]
        acc = c0.vectors[s].float() * float(w0)
        for w, c in terms[1:]:
            acc = acc + c.vectors[s].float() * float(w)
        out[s] = acc
    return out


def evaluate(
    expr: str | Node,
    concepts: Mapping[str, Concept],
    *,
    name: str | None = None,
    target_norms: Mapping[str, float] | None = None,
    description: str = "",
    sites_rule: str = "same",
) -> Concept:
    """Evaluate an expression over named concepts into a new :class:`Concept`.

    Parameters
    ----------
    expr
        Text (``"king - man + woman"``) or a tree of nodes.
    concepts
        Name -> concept for every name the expression uses.
    name
        The result's name (default: the expression's text).
    target_norms
        Site -> norm used by ``normalize_to(x)`` with no number.
    sites_rule
        ``same``: every concept must have the same sites; ``shared``: the result lives at the
        sites all of them have (the vector canvas combines this way and says what it dropped).

    Returns
    -------
    Concept
        Float32 vectors at the same sites; ``recipe`` = ``{"method": "expression",
        "expression", "terms": {name: id}, "version", "library_version"}``.

    Raises
    ------
    ExpressionError
        On a parse error or an unknown name.
    ShapeMismatchError
        If the concepts differ in model, sites or shape.
    """
    from workbench import __version__
    from workbench.concepts.concept import RECIPE_VERSION, Concept

    node = as_node(expr)
    used = names(node)
    missing = [n for n in used if n not in concepts]
    if missing:
        known = ", ".join(sorted(concepts)) or "none"
        raise ExpressionError(f"unknown concept(s) {', '.join(missing)}; known: {known}.")
    env = {n: concepts[n] for n in used}
    sites = check_same_space(list(env.values()), sites_rule)
    vectors = {s: _eval(node, s, env, target_norms) for s in sites}
    text = node.to_text()
    recipe = {
        "method": "expression",
        "expression": text,
        "terms": {n: c.id for n, c in env.items()},
        "version": RECIPE_VERSION,
        "library_version": __version__,
    }
    first = env[used[0]]
    result = Concept(name or text, vectors, first.model, recipe, description=description)
    result.check_finite(f"the result of {text}")
    return result


def _eval(node: Node, site: str, env: Mapping[str, Concept], norms: Mapping[str, float] | None):
    if isinstance(node, Term):
        return env[node.name].vectors[site].float()
    if isinstance(node, Scaled):
        return _eval(node.node, site, env, norms) * float(node.coef)
    if isinstance(node, Sum):
        acc = _eval(node.items[0], site, env, norms)
        for it in node.items[1:]:
            acc = acc + _eval(it, site, env, norms)
        return acc
    if isinstance(node, Func):
        vs = [_eval(a, site, env, norms) for a in node.args if not isinstance(a, (int, float))]
        nums = [float(a) for a in node.args if isinstance(a, (int, float))]
        return _apply(node.name, vs, nums, site, norms)
    raise ExpressionError(f"not an expression node: {node!r}")


def _unit(x: torch.Tensor) -> torch.Tensor:
    n = x.norm(dim=-1, keepdim=True)
    return x / n.clamp_min(1e-30) * (n > 0)


def remove_span(
    x: torch.Tensor, others: Sequence[torch.Tensor], rtol: float = 1e-6
) -> torch.Tensor:
    """``x`` minus its projection on span(others), row-wise on the last dimension.

    Gram-Schmidt; a vector (nearly) inside the span of the previous ones adds nothing.
    """
    basis: list[torch.Tensor] = []
    for o in others:
        r = o.float().clone()
        for q in basis:
            r = r - (r * q).sum(-1, keepdim=True) * q
        ok = r.norm(dim=-1, keepdim=True) > rtol * o.float().norm(dim=-1, keepdim=True).clamp_min(
            1e-30
        )
        basis.append(_unit(r) * ok)
    for q in basis:
        x = x - (x * q).sum(-1, keepdim=True) * q
    return x


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of the directions of ``a`` and ``b`` (row-wise), with the norm
    interpolated linearly; falls back to linear interpolation for (anti)parallel rows."""
    import torch

    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = _unit(a), _unit(b)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    wa = torch.where(safe, torch.sin((1 - t) * omega) / so.where(safe, torch.ones_like(so)), 1 - t)
    wb = torch.where(safe, torch.sin(t * omega) / so.where(safe, torch.ones_like(so)), t)
    direction = _unit(wa * ua + wb * ub)
    return direction * ((1 - t) * na + t * nb)


def _apply(fn: str, vs: list, nums: list[float], site: str, norms: Mapping[str, float] | None):
    if fn == "normalize":
        return _unit(vs[0])
    if fn == "normalize_to":
        if nums:
            target = nums[0]
        elif norms is not None and site in norms:
            target = float(norms[site])
        else:
            raise ExpressionError(
                f"normalize_to(x) needs a target norm for {site}: pass target_norms to evaluate "
                "(e.g. the typical residual norm per layer) or write normalize_to(x, 8)."
            )
        return _unit(vs[0]) * target
    if fn in ("project_out", "orthogonalize"):
        return remove_span(vs[0], vs[1:])
    if fn == "project_onto":
        u = _unit(vs[1])
        return (vs[0] * u).sum(-1, keepdim=True) * u
    if fn == "mean":
        acc = vs[0]
        for v in vs[1:]:
            acc = acc + v
        return acc / len(vs)
    if fn == "slerp":
        t = nums[0]
        if not 0.0 <= t <= 1.0 or math.isnan(t):
            raise ExpressionError(f"slerp(a, b, t) needs 0 <= t <= 1, got {t}.")
        return slerp(vs[0], vs[1], t)
    raise ExpressionError(f"unknown function {fn}()")


def gram_schmidt(concepts: Sequence[Concept]) -> list[Concept]:
    """Orthogonalise concepts in order, site by site: each loses its components along the
    previous ones (the first is unchanged). Names get a ``⊥`` suffix; recipes are expressions."""
    check_same_space(list(concepts))
    out = []
    for i, c in enumerate(concepts):
        env = {f"c{j}": concepts[j] for j in range(i + 1)}
        node: Node = (
            Term(f"c{i}")
            if i == 0
            else Func("project_out", [Term(f"c{j}") for j in [i, *range(i)]])
        )
        r = evaluate(node, env, name=c.name if i == 0 else f"{c.name}⊥")
        r.recipe["expression"] = _rename(
            node, {f"c{j}": concepts[j].name for j in range(i + 1)}
        ).to_text()
        r.recipe["terms"] = {concepts[j].name: concepts[j].id for j in range(i + 1)}
        out.append(r)
    return out


def _rename(n: Node, mapping: Mapping[str, str]) -> Node:
    if isinstance(n, Term):
        return Term(mapping.get(n.name, n.name))
    if isinstance(n, Scaled):
        return Scaled(n.coef, _rename(n.node, mapping))
    if isinstance(n, Sum):
        return Sum([_rename(i, mapping) for i in n.items])
    return Func(n.name, [a if isinstance(a, (int, float)) else _rename(a, mapping) for a in n.args])
