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

import ast
import keyword
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.errors import ShapeMismatchError, WorkbenchError

if TYPE_CHECKING:
    import torch

    from workbench.concepts.concept import Concept


class ExpressionError(WorkbenchError, ValueError):
    """An expression that cannot be parsed or names a concept that does not exist."""


# ----------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class Term:
    """A named concept."""

    name: str

    def to_text(self) -> str:
        if self.name.isidentifier() and not keyword.iskeyword(self.name):
            return self.name
        return '"' + self.name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Scaled:
    """``coef * node``."""

    coef: float
    node: Node

    def to_text(self) -> str:
        inner = self.node.to_text()
        if isinstance(self.node, Sum):
            inner = f"({inner})"
        if self.coef == -1.0:
            return f"-{inner}"
        return f"{_num(self.coef)}*{inner}"


@dataclass(frozen=True)
class Sum:
    """``items[0] + items[1] + ...``; a subtraction is an item ``Scaled(-c, x)``."""

    items: tuple[Node, ...]

    def __init__(self, items: Sequence[Node]):
        object.__setattr__(self, "items", tuple(items))

    def to_text(self) -> str:
        parts: list[str] = []
        for i, item in enumerate(self.items):
            neg = isinstance(item, Scaled) and item.coef < 0
            if isinstance(item, Scaled) and neg:
                text = _wrap(scale(-item.coef, item.node))
                parts.append(("-" if i == 0 else "- ") + text)
            else:
                parts.append(_wrap(item) if i == 0 else f"+ {_wrap(item)}")
        return " ".join(parts)


@dataclass(frozen=True)
class Func:
    """A function of nodes and numbers, e.g. ``Func("slerp", (Term("a"), Term("b"), 0.3))``."""

    name: str
    args: tuple[Node | float, ...]

    def __init__(self, name: str, args: Sequence[Node | float]):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "args", tuple(args))

    def to_text(self) -> str:
        parts = [_num(a) if isinstance(a, (int, float)) else a.to_text() for a in self.args]
        return f"{self.name}({', '.join(parts)})"


Node = Term | Scaled | Sum | Func

# name -> (number of node args: (min, max or None), number args allowed: (min, max))
FUNCTIONS: dict[str, tuple[tuple[int, int | None], tuple[int, int]]] = {
    "normalize": ((1, 1), (0, 0)),
    "normalize_to": ((1, 1), (0, 1)),
    "project_out": ((2, None), (0, 0)),
    "orthogonalize": ((2, None), (0, 0)),
    "project_onto": ((2, 2), (0, 0)),
    "mean": ((1, None), (0, 0)),
    "slerp": ((2, 2), (1, 1)),
}


def _num(x: float) -> str:
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _wrap(node: Node) -> str:
    return f"({node.to_text()})" if isinstance(node, Sum) else node.to_text()


# ---------------------------------------------------------------------------- parsing
def parse(text: str) -> Node:
    """Parse an expression into a canonical tree.

    Canonical: ``a - b`` is ``Sum((a, Scaled(-1, b)))``; nested sums are flattened; numbers that
    multiply or divide are folded into one :class:`Scaled`; ``1*x`` is ``x``.

    Raises
    ------
    ExpressionError
        On a syntax error or anything outside the whitelist (products of concepts, powers,
        attributes, unknown functions, ...).
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("The expression is empty: write e.g. `happy - 0.5*sad`.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"cannot parse {text!r}: {e.msg} at column {e.offset}.") from None
    return _node(tree.body, text)


def _number(n: ast.AST) -> float | None:
    """The value of a numbers-only subexpression, else None."""
    if (
        isinstance(n, ast.Constant)
        and isinstance(n.value, (int, float))
        and not isinstance(n.value, bool)
    ):
        return float(n.value)
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
        v = _number(n.operand)
        return None if v is None else (-v if isinstance(n.op, ast.USub) else v)
    if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        a, b = _number(n.left), _number(n.right)
        if a is None or b is None:
            return None
        if isinstance(n.op, ast.Div) and b == 0:
            raise ExpressionError("division by zero in the expression.")
        if isinstance(n.op, ast.Add):
            return a + b
        if isinstance(n.op, ast.Sub):
            return a - b
        return a * b if isinstance(n.op, ast.Mult) else a / b
    return None


def scale(coef: float, node: Node) -> Node:
    """``coef * node``, folding nested scalings; ``1 * node`` is ``node``."""
    if isinstance(node, Scaled):
        coef, node = coef * node.coef, node.node
    return node if coef == 1.0 else Scaled(float(coef), node)


def _add(items: list[Node]) -> Node:
    flat: list[Node] = []
    for it in items:
        flat.extend(it.items if isinstance(it, Sum) else [it])
    return flat[0] if len(flat) == 1 else Sum(flat)


def _node(n: ast.AST, text: str) -> Node:
    if _number(n) is not None:
        raise ExpressionError(
            f"{ast.unparse(n)!r} is a number where a concept was expected; write e.g. `2*happy`."
        )
    if isinstance(n, ast.Name):
        return Term(n.id)
    if isinstance(n, ast.Constant) and isinstance(n.value, str):
        if not n.value.strip():
            raise ExpressionError("an empty quoted name: write the concept's name between quotes.")
        return Term(n.value)
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
        inner = _node(n.operand, text)
        return scale(-1.0, inner) if isinstance(n.op, ast.USub) else inner
    if isinstance(n, ast.BinOp):
        if isinstance(n.op, (ast.Add, ast.Sub)):
            right = _node(n.right, text)
            if isinstance(n.op, ast.Sub):
                right = scale(-1.0, right)
            return _add([_node(n.left, text), right])
        if isinstance(n.op, ast.Mult):
            a, b = _number(n.left), _number(n.right)
            if a is not None:
                return scale(a, _node(n.right, text))
            if b is not None:
                return scale(b, _node(n.left, text))
            raise ExpressionError(
                f"{ast.unparse(n)!r} multiplies two concepts; only a number may multiply a concept."
            )
        if isinstance(n.op, ast.Div):
            b = _number(n.right)
            if b is None:
                raise ExpressionError(
                    f"{ast.unparse(n)!r}: a concept can only be divided by a number."
                )
            if b == 0:
                raise ExpressionError("division by zero in the expression.")
            return scale(1.0 / b, _node(n.left, text))
    if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and not n.keywords:
        return _call(n.func.id, n.args, text)
    raise ExpressionError(
        f"{ast.unparse(n)!r} is not allowed in a concept expression. Use names, numbers, + - * /, "
        f"parentheses and the functions {', '.join(FUNCTIONS)}."
    )


def _call(name: str, args: list[ast.expr], text: str) -> Node:
    if name not in FUNCTIONS:
        raise ExpressionError(
            f"unknown function {name}(); the functions are {', '.join(FUNCTIONS)}."
        )
    (nmin, nmax), (kmin, kmax) = FUNCTIONS[name]
    nodes: list[Node | float] = []
    numbers: list[float] = []
    for a in args:
        v = _number(a)
        if v is not None:
            numbers.append(v)
            nodes.append(v)
        else:
            if numbers:
                raise ExpressionError(f"{name}(): concepts come first, then numbers.")
            nodes.append(_node(a, text))
    n_nodes = len(nodes) - len(numbers)
    if n_nodes < nmin or (nmax is not None and n_nodes > nmax) or not kmin <= len(numbers) <= kmax:
        raise ExpressionError(f"{name}() takes {_usage(name)}; got {len(args)} arguments.")
    return Func(name, nodes)


def _usage(name: str) -> str:
    return {
        "normalize": "one concept",
        "normalize_to": "a concept and optionally a target norm",
        "project_out": "a concept and the concepts to remove from it",
        "orthogonalize": "a concept and the concepts to remove from it",
        "project_onto": "two concepts",
        "mean": "one or more concepts",
        "slerp": "two concepts and a number t",
    }[name]


# -------------------------------------------------------------------------- inspecting
def as_node(expr: str | Node) -> Node:
    return parse(expr) if isinstance(expr, str) else expr


def names(expr: str | Node) -> list[str]:
    """Concept names an expression uses, in order of first appearance."""
    out: list[str] = []

    def walk(n: Node | float) -> None:
        if isinstance(n, Term):
            if n.name not in out:
                out.append(n.name)
        elif isinstance(n, Scaled):
            walk(n.node)
        elif isinstance(n, Sum):
            for it in n.items:
                walk(it)
        elif isinstance(n, Func):
            for a in n.args:
                walk(a)

    walk(as_node(expr))
    return out


def linear_terms(expr: str | Node) -> dict[str, float]:
    """The weights of a linear expression (``a - 0.5*b + a`` -> ``{"a": 2.0, "b": -0.5}``),
    e.g. for composing noise predictions ``Σ wᵢ·ε(cᵢ)``. ``mean`` counts as linear.

    Raises
    ------
    ExpressionError
        If the expression uses a non-linear function (normalize, project_out, slerp, ...).
    """
    out: dict[str, float] = {}

    def walk(n: Node, w: float) -> None:
        if isinstance(n, Term):
            out[n.name] = out.get(n.name, 0.0) + w
        elif isinstance(n, Scaled):
            walk(n.node, w * n.coef)
        elif isinstance(n, Sum):
            for it in n.items:
                walk(it, w)
        elif isinstance(n, Func) and n.name == "mean":
            for a in n.args:
                walk(a, w / len(n.args))  # type: ignore[arg-type]
        else:
            raise ExpressionError(f"{n.to_text()} is not a weighted sum of concepts.")

    walk(as_node(expr), 1.0)
    return out


# -------------------------------------------------------------------------- evaluating
def check_same_space(concepts: Sequence[Concept]) -> list[str]:
    """Raise :class:`ShapeMismatchError` unless all concepts share model, sites and shapes;
    return the common sites (in the first concept's order)."""
    if not concepts:
        raise ShapeMismatchError("no concepts to combine; add at least one.")
    first = concepts[0]
    sites = list(first.vectors)
    for c in concepts[1:]:
        first.check_compatible(c)
        if set(c.vectors) != set(sites):
            only_a = sorted(set(sites) - set(c.vectors))
            only_b = sorted(set(c.vectors) - set(sites))
            raise ShapeMismatchError(
                f"{first.name!r} and {c.name!r} have different sites (only in {first.name!r}: "
                f"{only_a or 'none'}; only in {c.name!r}: {only_b or 'none'}). Combine concepts "
                "made at the same sites, or re-extract one of them at the other's sites."
            )
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
        acc = None
        for w, c in terms:
            v = c.vectors[s].float() * float(w)
            acc = v if acc is None else acc + v
        out[s] = acc
    return out


def evaluate(
    expr: str | Node,
    concepts: Mapping[str, Concept],
    *,
    name: str | None = None,
    target_norms: Mapping[str, float] | None = None,
    description: str = "",
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
    sites = check_same_space(list(env.values()))
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
    return Concept(name or text, vectors, first.model, recipe, description=description)


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
