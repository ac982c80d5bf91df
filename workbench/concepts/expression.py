"""Concept expressions as data: a small tree of frozen dataclasses, parsed safely from text.

``parse("happy - 0.5*sad")`` uses :mod:`ast` with a whitelist (names, quoted names, numbers,
``+ - * /``, parentheses, the functions in :data:`FUNCTIONS`); nothing is ever ``eval``-ed. The
window's canvas builds the same nodes directly; ``node.to_text()`` prints them back so that
``parse(node.to_text()) == node`` for every tree :func:`parse` returns. Evaluation lives in
:mod:`workbench.concepts.algebra`.
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.errors import WorkbenchError


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
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"The expression is {len(text):,} characters long; the limit is {MAX_LENGTH:,}. "
            "Combine concepts step by step and save the intermediate results."
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
        node = _node(tree.body, text)
    except SyntaxError as e:
        raise ExpressionError(
            f"cannot parse {_short(text)}: {e.msg} at column {e.offset}."
        ) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            f"{_short(text)} has too many terms or parentheses to read; combine it in steps and save the intermediate results."
        ) from None
    return node


MAX_LENGTH = 10_000  # characters: far beyond any hand-written expression


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _number(n: ast.AST) -> float | None:
    """The value of a numbers-only subexpression, else None."""
    if (
        isinstance(n, ast.Constant)
        and isinstance(n.value, (int, float))
        and not isinstance(n.value, bool)
    ):
        value = float(n.value)
        if not math.isfinite(value):
            raise ExpressionError(
                f"{ast.unparse(n)} is not a finite number; coefficients must be finite."
            )
        return value
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
            r = a + b
        elif isinstance(n.op, ast.Sub):
            r = a - b
        else:
            r = a * b if isinstance(n.op, ast.Mult) else a / b
        return _finite(r, ast.unparse(n))
    return None


def _finite(v: float, what: str) -> float:
    if not math.isfinite(v):
        raise ExpressionError(f"{what} is not a finite number ({v}); coefficients must be finite.")
    return v


def scale(coef: float, node: Node) -> Node:
    """``coef * node``, folding nested scalings; ``1 * node`` is ``node``."""
    if isinstance(node, Scaled):
        coef, node = coef * node.coef, node.node
    _finite(coef, f"the coefficient of {node.to_text()}")
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
