"""Concept-arithmetic terms of an image edit: parse and write them, check a concept against the
loaded pipeline, and build the edit's :class:`~workbench.diffusion.generate.ImageSpec` (the
prompt at weight 1 plus the weighted terms; its baseline is the prompt alone, same seed).

The window's Diffusion panel and the notebook API build their edits here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.errors import ShapeMismatchError


def format_terms(rows: Sequence[tuple[float, str]]) -> str:
    """``[(0.6, "winter"), (-0.4, "summer")]`` -> ``0.6*winter - 0.4*summer`` (algebra spelling)."""
    from workbench.concepts.algebra import Sum, Term, scale

    nodes = [scale(float(w), Term(name)) for w, name in rows if name.strip()]
    if not nodes:
        return ""
    return (nodes[0] if len(nodes) == 1 else Sum(nodes)).to_text()


def parse_terms(text: str) -> list[tuple[float, str]]:
    """An edit expression (``0.6*winter - 0.4*"a hot summer"``) -> ``[(weight, name)]``.

    Only weighted sums: a non-linear combination (``normalize``, ``slerp``...) is made on the
    vector canvas and saved as a concept first.
    """
    from workbench.concepts.algebra import ExpressionError, linear_terms

    text = text.strip()
    if not text:
        return []
    try:
        weights = linear_terms(text)
    except ExpressionError as e:
        raise ExpressionError(
            f"{e} Only weighted sums of concepts or prompts work here (e.g. 0.6*winter - "
            '0.4*"hot summer"); combine non-linearly on the Vector canvas and save the result '
            "as a concept."
        ) from e
    return [(w, name) for name, w in weights.items()]


def check_term_concept(name: str, model: Any, ref: Any, prompt: str | None = None) -> None:
    """Refuse a concept term that the pipeline ``ref`` cannot use: a language model's concept,
    or a prompt concept encoded with another pipeline (``model``: the concept's ModelRef)."""
    if getattr(model, "kind", "lm") != "diffusion":
        raise ShapeMismatchError(
            f"{name!r} is a language-model concept ({model.name}); this panel takes "
            "prompt concepts of a diffusion model. Reword the term (a library concept's name "
            "means that concept), or make a diffusion concept with 'Encode as concept'."
        )
    if not model.same_space(ref):
        raise ShapeMismatchError(
            f"{name!r} was encoded with {model.name}, not with the loaded {ref.name}. Load "
            f"{model.name}, or write its prompt ({prompt!r}) as a term and press 'Encode as "
            "concept'."
        )


def edit_spec(prompt: str, items: Sequence[tuple[float, Any]], level: str, **settings: Any) -> Any:
    """The edited image's spec: ``prompt`` at weight 1 plus the ``(weight, concept or prompt)``
    items, at ``level``; its baseline is the prompt alone (same seed)."""
    from workbench.diffusion.generate import ImageSpec
    from workbench.diffusion.provenance import format_expression

    terms = ((1.0, prompt), *((float(w), i) for w, i in items))
    return ImageSpec(
        terms=terms,
        prompt=prompt,
        level=level,
        expression=format_expression(terms),
        base_prompt=prompt if level == "token_embeds" else None,
        **settings,
    )
