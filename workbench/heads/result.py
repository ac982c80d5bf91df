"""The result of every head score: a layer × head matrix plus the settings that made it.

A :class:`HeadScores` is what a score job returns, what the command line writes (JSON or CSV),
what a project stores (``add_run(analysis="head_scores", ...)``) and what a heat-map panel draws.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from workbench.heads.kinds import KIND_DOC  # what each score means, one line (into JSON)

FORMAT = "workbench.head_scores"
FORMAT_VERSION = 1


@dataclass
class HeadScores:
    """Scores of every head: ``scores[layer, head]``.

    Attributes
    ----------
    kind
        One of :data:`KIND_DOC` (``induction``, ``previous``, ...).
    scores
        ``[n_layers, n_heads]`` float32 tensor.
    settings
        Everything needed to compute it again (JSON-serialisable).
    model
        :meth:`ModelRef.to_dict` of the model.
    extras
        Other results of the same run, e.g. the baseline metric (JSON-serialisable).
    """

    kind: str
    scores: torch.Tensor  # [layer, head]
    settings: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return int(self.scores.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.scores.shape[1])

    def top(self, k: int = 10, order: str = "highest") -> list[tuple[int, int, float]]:
        """The ``k`` best heads as ``(layer, head, score)``.

        Parameters
        ----------
        k
            How many.
        order
            ``highest`` (largest first), ``lowest`` (most negative first) or ``abs`` (largest
            magnitude first).
        """
        s = self.scores.float()
        key = {"highest": s, "lowest": -s, "abs": s.abs()}.get(order)
        if key is None:
            raise ValueError(f"order must be highest, lowest or abs, not {order!r}")
        flat = torch.nan_to_num(key.flatten(), nan=float("-inf"))
        idx = torch.argsort(flat, descending=True, stable=True)[: max(0, k)]
        H = self.n_heads
        return [(int(i) // H, int(i) % H, float(s.flatten()[i])) for i in idx]

    # ------------------------------------------------------------------ io
    def to_dict(self) -> dict[str, Any]:
        """JSON form: the matrix as nested lists plus kind, settings, model and extras."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "description": KIND_DOC.get(self.kind, ""),
            "shape": [self.n_layers, self.n_heads],
            "scores": [[float(v) for v in row] for row in self.scores.float().tolist()],
            "settings": self.settings,
            "model": self.model,
            "extras": self.extras,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadScores:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a head-scores file (format {d.get('format')!r})")
        return cls(
            kind=d["kind"],
            scores=torch.tensor(d["scores"], dtype=torch.float32),
            settings=d.get("settings", {}),
            model=d.get("model", {}),
            extras=d.get("extras", {}),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str)

    def to_csv(self) -> str:
        """Long form: one ``layer,head,score`` row per head."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["layer", "head", "score"])
        for L, row in enumerate(self.scores.float().tolist()):
            for h, v in enumerate(row):
                w.writerow([L, h, repr(float(v))])
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        """Write JSON (``.json``) or CSV (``.csv``)."""
        p = Path(path)
        text = self.to_csv() if p.suffix.lower() == ".csv" else self.to_json() + "\n"
        p.write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> HeadScores:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def save_to_project(self, project: Any, name: str | None = None) -> int:
        """Store in an open :class:`workbench.store.Project` as a ``head_scores`` run."""
        d = self.to_dict()
        result = {k: d[k] for k in ("kind", "description", "shape", "extras")}
        result["top"] = [list(t) for t in self.top(10)]
        return project.add_run(
            analysis="head_scores",
            name=name or self.kind,
            settings={"kind": self.kind, **self.settings, "model": self.model},
            result=result,
            tensors={"scores": self.scores.float().contiguous()},
        )

    @classmethod
    def from_run(cls, run: Any) -> HeadScores:
        """The scores of a stored ``head_scores`` run (a :class:`workbench.store.StoredRun`), as
        :meth:`save_to_project` stored them."""
        st = dict(run.settings)
        model = st.pop("model", {})
        if "scores" not in run.tensors:
            raise ValueError(f"run #{run.id} ({run.analysis}) holds no head scores")
        return cls(
            st.get("kind", run.name),
            run.tensors["scores"],
            st,
            model,
            dict(run.result.get("extras", {})),
        )

    def __repr__(self) -> str:
        top = ", ".join(f"L{L}H{h}={v:.3f}" for L, h, v in self.top(3))
        return f"HeadScores({self.kind!r}, {self.n_layers}x{self.n_heads}, top: {top})"
