"""Prompt sets: the inputs concepts are extracted from, probed on and evaluated with.

Five kinds:

=================  ==================================================  =======================
kind               what it holds                                        fields
=================  ==================================================  =======================
``contrastive``    pairs of a positive and a negative prompt            ``positive, negative``
``labelled``       texts with a class label                             ``texts, labels``
``plain``          texts                                                ``texts``
``demonstrations`` (input, output) examples of an in-context task       ``inputs, outputs``
``ordinal``        ordered sequences (1..20, Monday..Sunday)            ``sequences``
=================  ==================================================  =======================

Files: JSON (this module's format, see :meth:`PromptSet.to_dict`, or a list of records),
JSON Lines, CSV/TSV with a header (``positive,negative`` / ``text,label`` / ``input,output`` /
``text``) and plain text (one prompt per line; for ``ordinal``, one comma-separated sequence
per line). Built-in sets live in ``resources/prompt_sets/*.json`` at the repository root
(installed from a wheel as ``workbench/_resources/prompt_sets``), found by :func:`resources_dir`
(``WORKBENCH_RESOURCES`` overrides it).
"""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.errors import PromptSetError
from workbench.paths import resources_dir

KINDS = ("contrastive", "labelled", "plain", "demonstrations", "ordinal")
FORMAT = "workbench.prompt_set"
FORMAT_VERSION = 1
_COLUMNS = {
    "contrastive": ("positive", "negative"),
    "labelled": ("text", "label"),
    "demonstrations": ("input", "output"),
    "plain": ("text",),
}


def check_template(template: str, where: str = "the template") -> str:
    """Refuse a demonstration template that is not ``...{input}...{output}...`` (a typo such as
    ``{question}``, a missing ``{output}``, an unbalanced brace); return it."""
    import string

    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise PromptSetError(
            f"{where}: template {template!r} cannot be read ({e}); write e.g. "
            "'Q: {input}\\nA: {output}' (double a brace to mean a brace)."
        ) from None
    if sorted(set(fields)) != ["input", "output"] or fields.count("output") != 1:
        raise PromptSetError(
            f"{where}: template {template!r} must hold {{input}} and {{output}} (once) and no "
            f"other field; it has {', '.join('{' + f + '}' for f in fields) or 'none'}."
        )
    if template.index("{output}") < template.index("{input}"):
        raise PromptSetError(f"{where}: template {template!r} puts {{output}} before {{input}}.")
    return template


@dataclass
class PromptSet:
    """A named prompt set of one :data:`KINDS` kind (only that kind's fields are filled)."""

    name: str
    kind: str
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    sequences: list[list[str]] = field(default_factory=list)
    poles: tuple[str, str] = ("positive", "negative")
    template: str = "{input} -> {output}"
    separator: str = "\n"
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def __len__(self) -> int:
        return {
            "contrastive": len(self.positive),
            "labelled": len(self.texts),
            "plain": len(self.texts),
            "demonstrations": len(self.inputs),
            "ordinal": len(self.sequences),
        }[self.kind]

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`PromptSetError` for an unknown kind, an empty set, unequal pairs or
        empty prompts."""
        where = f"prompt set {self.name!r}" + (f" ({self.source})" if self.source else "")
        if self.kind not in KINDS:
            raise PromptSetError(
                f"{where}: unknown kind {self.kind!r}; use one of {', '.join(KINDS)}."
            )
        if self.kind == "contrastive" and len(self.positive) != len(self.negative):
            raise PromptSetError(
                f"{where}: {len(self.positive)} positive but {len(self.negative)} negative prompts; "
                "a contrastive set needs one negative for each positive."
            )
        if self.kind == "labelled" and len(self.texts) != len(self.labels):
            raise PromptSetError(f"{where}: {len(self.texts)} texts but {len(self.labels)} labels.")
        if self.kind == "demonstrations" and len(self.inputs) != len(self.outputs):
            raise PromptSetError(
                f"{where}: {len(self.inputs)} inputs but {len(self.outputs)} outputs."
            )
        if self.kind == "demonstrations":
            check_template(self.template, where)
        if len(self) == 0:
            raise PromptSetError(f"{where} is empty: a {self.kind} set needs at least one item.")
        for i, t in enumerate(self.all_texts()):
            if not isinstance(t, str) or not t.strip():
                raise PromptSetError(f"{where}: item {i + 1} is empty; remove it or fill it in.")

    def all_texts(self) -> list[str]:
        if self.kind == "contrastive":
            return self.positive + self.negative
        if self.kind == "demonstrations":
            return self.inputs + self.outputs
        if self.kind == "ordinal":
            return [t for s in self.sequences for t in s]
        return list(self.texts)

    # --------------------------------------------------------------- views
    def labelled(self) -> tuple[list[str], list[str]]:
        """(texts, labels): contrastive sets give the positive pole's name to positives."""
        if self.kind == "labelled":
            return list(self.texts), list(self.labels)
        if self.kind == "contrastive":
            return self.positive + self.negative, [self.poles[0]] * len(self) + [
                self.poles[1]
            ] * len(self)
        raise PromptSetError(
            f"prompt set {self.name!r} is {self.kind}; a probe needs a labelled or contrastive set."
        )

    def demo_text(self, indices: list[int], query: str | None = None) -> str:
        """Demonstrations ``indices`` in the template, then ``query`` with its output left open."""
        parts = [
            self.template.format(input=self.inputs[i], output=self.outputs[i]) for i in indices
        ]
        if query is not None:
            parts.append(self.template.split("{output}")[0].format(input=query).rstrip())
        return self.separator.join(parts)

    def split(self, test_fraction: float = 0.25, seed: int = 0) -> tuple[PromptSet, PromptSet]:
        """A (train, test) split of items (pairs stay together), shuffled with ``seed``."""
        n = len(self)
        idx = list(range(n))
        random.Random(seed).shuffle(idx)
        k = max(1, round(n * test_fraction)) if n > 1 else 0
        if k >= n:
            raise PromptSetError(
                f"prompt set {self.name!r} has {n} item(s): too few to hold some out."
            )
        return self.subset(sorted(idx[k:]), "train"), self.subset(sorted(idx[:k]), "test")

    def subset(self, indices: list[int], suffix: str = "") -> PromptSet:
        def pick(xs: list) -> list:
            return [xs[i] for i in indices] if xs else []

        fields = ("positive", "negative", "inputs", "outputs", "sequences")
        text_fields = ("texts", "labels")
        kw: dict[str, Any] = {f: pick(getattr(self, f)) for f in fields + text_fields}
        return replace(self, name=f"{self.name}:{suffix}" if suffix else self.name, **kw)

    # ------------------------------------------------------------------- io
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
        }
        if self.kind == "contrastive":
            d["poles"] = list(self.poles)
            d["pairs"] = [[p, n] for p, n in zip(self.positive, self.negative, strict=True)]
        elif self.kind == "labelled":
            d["items"] = [[t, lab] for t, lab in zip(self.texts, self.labels, strict=True)]
        elif self.kind == "demonstrations":
            d["template"], d["separator"] = self.template, self.separator
            d["pairs"] = [[i, o] for i, o in zip(self.inputs, self.outputs, strict=True)]
        elif self.kind == "ordinal":
            d["sequences"] = [list(s) for s in self.sequences]
        else:
            d["texts"] = list(self.texts)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "") -> PromptSet:
        name = str(d.get("name") or Path(source).stem or "prompts")
        kind = d.get("kind")
        if kind not in KINDS:
            raise PromptSetError(
                f"{source or name}: 'kind' is {kind!r}; use one of {', '.join(KINDS)}."
            )
        kw: dict[str, Any] = {"description": str(d.get("description", "")), "source": source}
        try:
            if kind == "contrastive":
                pairs = _require(d, "pairs", source)
                kw["positive"], kw["negative"] = (
                    [str(p[0]) for p in pairs],
                    [str(p[1]) for p in pairs],
                )
                kw["poles"] = tuple(d.get("poles", ("positive", "negative")))
            elif kind == "labelled":
                items = _require(d, "items", source)
                kw["texts"], kw["labels"] = [str(i[0]) for i in items], [str(i[1]) for i in items]
            elif kind == "demonstrations":
                pairs = _require(d, "pairs", source)
                kw["inputs"], kw["outputs"] = [str(p[0]) for p in pairs], [str(p[1]) for p in pairs]
                kw["template"] = d.get("template", cls.template)
                kw["separator"] = d.get("separator", cls.separator)
            elif kind == "ordinal":
                kw["sequences"] = [[str(t) for t in s] for s in _require(d, "sequences", source)]
            else:
                kw["texts"] = [str(t) for t in _require(d, "texts", source)]
        except (IndexError, TypeError, KeyError):
            raise PromptSetError(
                f"{source or name}: malformed items; pairs are two-element lists like "
                '["I loved it", "I hated it"].'
            ) from None
        return cls(name, kind, **kw)

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(
            json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def _require(d: dict, key: str, source: str) -> list:
    if key not in d:
        raise PromptSetError(
            f"{source or d.get('name')}: a {d.get('kind')} set needs a {key!r} list; found keys {sorted(d)}."
        )
    v = d[key]
    if not isinstance(v, list):
        raise PromptSetError(f"{source}: {key!r} must be a list, not {type(v).__name__}.")
    return v


# ------------------------------------------------------------------------- loaders
def _from_records(
    rows: list[dict[str, Any]], name: str, source: str, kind: str | None
) -> PromptSet:
    if not rows:
        raise PromptSetError(f"{source}: the file has no rows; add at least one prompt.")
    cols = set(rows[0])
    if kind is None:
        kind = next((k for k, need in _COLUMNS.items() if set(need) <= cols), None)
        if kind is None:
            raise PromptSetError(
                f"{source}: found columns {sorted(cols)}; expected positive,negative (contrastive), "
                "text,label (labelled), input,output (demonstrations) or text (plain)."
            )
    if kind not in _COLUMNS:
        raise PromptSetError(
            f"{source}: a {kind} set cannot be read from columns; use JSON or plain text."
        )
    need = _COLUMNS[kind]
    missing = [c for c in need if c not in cols]
    if missing:
        raise PromptSetError(
            f"{source}: a {kind} set needs columns {', '.join(need)}; missing {', '.join(missing)} (found {sorted(cols)})."
        )
    for i, r in enumerate(rows):
        for c in need:
            if r.get(c) is None or not str(r[c]).strip():
                raise PromptSetError(
                    f"{source}: row {i + 1} has an empty {c!r}; fill it in or remove the row."
                )
    col = {c: [str(r[c]) for r in rows] for c in need}
    if kind == "contrastive":
        return PromptSet(
            name, kind, positive=col["positive"], negative=col["negative"], source=source
        )
    if kind == "labelled":
        return PromptSet(name, kind, texts=col["text"], labels=col["label"], source=source)
    if kind == "demonstrations":
        return PromptSet(name, kind, inputs=col["input"], outputs=col["output"], source=source)
    return PromptSet(name, kind, texts=col["text"], source=source)


def load_prompt_set(
    path: str | os.PathLike, kind: str | None = None, name: str | None = None
) -> PromptSet:
    """Read a prompt set from JSON, JSON Lines, CSV, TSV or plain text.

    Parameters
    ----------
    path
        The file. Its suffix picks the reader.
    kind
        Force a kind (needed for plain text other than ``plain``); by default it is read from
        the JSON or guessed from the CSV columns.
    name
        The set's name (default: the JSON's ``name`` or the file name).

    Raises
    ------
    PromptSetError
        The file is missing, empty, malformed or lacks the columns its kind needs.
    """
    p = Path(path)
    src = str(p)
    if not p.is_file():
        raise PromptSetError(f"{src}: no such file.")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise PromptSetError(f"{src}: not UTF-8 text; save it as UTF-8.") from None
    if not text.strip():
        raise PromptSetError(f"{src} is empty: add at least one prompt.")
    stem = name or p.stem
    suffix = p.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise PromptSetError(f"{src}: not valid JSON ({e.msg}, line {e.lineno}).") from None
        except RecursionError:
            raise PromptSetError(f"{src} is nested too deeply to be a prompt set.") from None
        if isinstance(data, dict):
            if kind:
                data = {**data, "kind": kind}
            ps = PromptSet.from_dict(data, source=src)
            return replace(ps, name=name) if name else ps
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return (
                PromptSet(stem, kind or "plain", texts=data, source=src)
                if (kind or "plain") == "plain"
                else _bad(src, kind)
            )
        if isinstance(data, list) and all(isinstance(x, dict) for x in data):
            return _from_records(data, stem, src, kind)
        raise PromptSetError(
            f"{src}: expected a prompt-set object, a list of strings or a list of records."
        )
    if suffix == ".jsonl":
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise PromptSetError(f"{src}: a line is not valid JSON ({e.msg}).") from None
        except RecursionError:
            raise PromptSetError(f"{src}: a line is nested too deeply to be a record.") from None
        return _from_records(rows, stem, src, kind)
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        rows = [{(k or "").strip().lower(): v for k, v in r.items()} for r in reader]
        if reader.fieldnames is None:
            raise PromptSetError(f"{src}: no header row; the first line names the columns.")
        if not rows:
            raise PromptSetError(f"{src}: a header but no rows; add at least one prompt.")
        return _from_records(rows, stem, src, kind)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    kind = kind or "plain"
    if kind == "ordinal":
        return PromptSet(
            stem,
            kind,
            sequences=[[t.strip() for t in ln.split(",") if t.strip()] for ln in lines],
            source=src,
        )
    if kind != "plain":
        _bad(src, kind)
    return PromptSet(stem, kind, texts=lines, source=src)


def _bad(src: str, kind: str | None) -> PromptSet:
    raise PromptSetError(
        f"{src}: a {kind} set cannot be read from a plain list; use CSV with a header or this format's JSON."
    )


def builtin_sets() -> dict[str, PromptSet]:
    """Every built-in set in ``resources/prompt_sets``, by name."""
    folder = resources_dir() / "prompt_sets"
    out: dict[str, PromptSet] = {}
    for f in sorted(folder.glob("*.json")):
        ps = load_prompt_set(f)
        out[ps.name] = replace(ps, source=f"builtin:{ps.name}")
    return out


def builtin_set(name: str) -> PromptSet:
    sets = builtin_sets()
    if name not in sets:
        raise PromptSetError(
            f"no built-in prompt set {name!r}; there are {', '.join(sets) or 'none'} (resources: {resources_dir()})."
        )
    return sets[name]


def resolve_prompt_set(name_or_path: str, kind: str | None = None) -> PromptSet:
    """A built-in set by name, or a file by path."""
    path = Path(name_or_path)
    if path.is_file():
        return load_prompt_set(name_or_path, kind=kind)
    if ("/" in name_or_path or "\\" in name_or_path or path.suffix) and (
        name_or_path not in builtin_sets()
    ):
        raise PromptSetError(
            f"{name_or_path}: no such file. Give a prompt-set file that exists, or the name of "
            f"a built-in set: {', '.join(builtin_sets()) or 'none'}."
        )
    return builtin_set(name_or_path)
