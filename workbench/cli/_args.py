"""Argument types for the ``workbench`` command: a wrong value is refused while the command line
is parsed (exit code 2, argparse's usage line and one sentence), before any model loads.

Ranges that depend on the model (a layer or head index, a run's length against the context, a
top-k against the vocabulary) are checked after it loads, by :func:`check_layer`,
:func:`check_head`, :func:`check_tokens` and :func:`check_top_k`; everything else is checked
before (tests/integration/test_cli_checks_before_load.py).
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

from workbench.errors import WorkbenchError


class ArgumentError(WorkbenchError):
    """An argument that makes no sense for the model that was loaded."""


def positive_int(text: str) -> int:
    """An integer >= 1 (``--batch-size``, ``--n-seqs``, ``--steps``...)."""
    v = _int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number of at least 1")
    return v


def nonneg_int(text: str) -> int:
    """An integer >= 0 (``--folds`` where 0 means one held-out split, ``--top-k``...)."""
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number of 0 or more")
    return v


def count_up_to(maximum: int, what: str) -> Any:
    """A type for a whole number from 1 to ``maximum`` (a top-k that is listed and drawn:
    ``analysis head-ov -k``); the refusal names the range and what the number counts."""

    def parse(text: str) -> int:
        v = _int(text)
        if not 1 <= v <= maximum:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give a whole number from 1 to {maximum} ({what})"
            )
        return v

    parse.__name__ = "count"
    return parse


def prompt_text(text: str) -> str:
    """A prompt: any text but the empty string (the model has nothing to read)."""
    if text == "":
        raise argparse.ArgumentTypeError("Empty prompt: every prompt needs at least one character")
    return text


def word(text: str) -> str:
    """A target or foil word: not empty or blank (``--target " Paris"`` keeps its space)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r}: a target word is empty; give a word such as ' Paris'"
        )
    return text


def index(text: str) -> int:
    """A layer or head index: an integer, negative ones counting from the end (``-1`` is the
    last), resolved against the model once it is loaded (:func:`check_layer`)."""
    return _int(text)


def finite_float(text: str) -> float:
    """A finite number (``--coefficient``): nan and inf are refused, since they would turn every
    activation they touch into NaN."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(
            f"{text!r}: must be a finite number (nan and inf would turn the activations into NaN)"
        )
    return v


def positive_float(text: str) -> float:
    """A finite number > 0 (``--temperature``, ``--guidance``)."""
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be greater than 0")
    return v


def probability(text: str) -> float:
    """A number in (0, 1]."""
    v = finite_float(text)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be greater than 0 and at most 1")
    return v


def figure_file(text: str) -> str:
    """A figure path: .png, .svg or .pdf in a folder that exists (checked before the run, not
    after minutes of computing)."""
    from pathlib import Path

    path = Path(text)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise argparse.ArgumentTypeError(f"{text!r}: write the figure as .png, .svg or .pdf")
    if not path.resolve().parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {path.parent} does not exist; create it first")
    return text


def held_out_fraction(text: str) -> float:
    """A fraction in (0, 1): the part of a task held out, the rest being trained on."""
    v = finite_float(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a fraction between 0 and 1, e.g. 0.3 (that part of the pairs is "
            "held out, the rest is trained on)"
        )
    return v


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not _DEVICE.match(text.strip()):
        raise argparse.ArgumentTypeError(
            f"{text!r}: choose auto, cpu, cuda, cuda:N (e.g. cuda:1) or mps"
        )
    return text.strip()


DTYPES = ("auto", "float32", "float16", "bfloat16")


def dtype(text: str) -> str:
    t = text.strip().lower()
    if t not in DTYPES:
        raise argparse.ArgumentTypeError(f"{text!r}: choose one of {', '.join(DTYPES)}")
    return t


def choice(*names: str) -> Any:
    """A type that accepts one of ``names`` and lists them all when it gets another."""

    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"{text!r}: choose one of {', '.join(names)}")
        return text

    parse.__name__ = "choice"
    return parse


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


# ------------------------------------------------------------------ checks against the model
def resolve(i: int, n: int, what: str, flag: str) -> int:
    """``i`` in ``0..n-1``; a negative ``i`` counts from the end, as in Python (``-1`` is
    ``n - 1``). Anything else is refused with the valid range."""
    if -n <= i < n:
        return i % n
    raise ArgumentError(
        f"{flag} {i}: this model has {n} {what}s, numbered 0..{n - 1} (or -{n}..-1 from the end)."
    )


def check_layer(hm: Any, layer: int, flag: str = "--layer") -> int:
    return resolve(layer, hm.n_layers, "layer", flag)


def check_head(hm: Any, head: int, flag: str = "--head") -> int:
    return resolve(head, hm.n_heads, "head", flag)


def check_top_k(hm: Any, k: int, flag: str = "-k") -> int:
    """Refuse a top-k larger than the model's vocabulary (the rest of the list would be
    silently cut to it)."""
    n = len(hm.tokenizer)
    if k > n:
        raise ArgumentError(
            f"{flag} {k}: this model's vocabulary has {n} tokens; give {flag} {n} or fewer."
        )
    return k


def check_tokens(hm: Any, n: int, what: str) -> None:
    """Refuse a run of ``n`` tokens when the model's context is shorter."""
    ctx = hm.context_length
    if ctx is not None and n > ctx:
        raise ArgumentError(
            f"{what} is {n} tokens, longer than the {ctx} tokens this model's context holds; "
            "use fewer tokens."
        )
