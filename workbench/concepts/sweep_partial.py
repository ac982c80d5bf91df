"""A steering sweep stopped part-way keeps the cells it finished.

:class:`PartialSweep` collects a sweep job's progress payloads (``("baseline", texts,
metrics)`` and ``("cell", i, j, texts, metrics)``, see
:func:`workbench.concepts.steering_sweep.steering_sweep_job`); :meth:`PartialSweep.result` is a
:class:`SteeringSweepResult` whose ``computed`` marks the finished cells. Their texts and
metrics are exactly the full run's; the other cells are empty and NaN, and saving the result
names the run partial and stores generations for the finished cells only.
"""

from __future__ import annotations

import math

from workbench.concepts.concept import Concept
from workbench.concepts.steering_sweep import SteeringSweepResult, SteeringSweepSpec
from workbench.jobs import Progress


class PartialSweep:
    """What a sweep job has finished so far (``add`` every :class:`Progress` it yields)."""

    def __init__(self, concept: Concept, spec: SteeringSweepSpec):
        L, C, P = len(spec.layers), len(spec.coefficients), len(spec.prompts)
        self.spec = spec
        self.concept = {"id": concept.id, "name": concept.name}
        self.baselines: list[str] | None = None
        self.baseline_metrics: dict[str, float] = {}
        self.texts: list[list[list[str]]] = [[[""] * P for _ in range(C)] for _ in range(L)]
        self.metrics: dict[str, list[list[float]]] = {}
        self.computed = [[False] * C for _ in range(L)]

    def add(self, p: Progress) -> None:
        if not p.payload:
            return
        if p.payload[0] == "baseline":
            self.baselines = list(p.payload[1])
            self.baseline_metrics = dict(p.payload[2]) if len(p.payload) > 2 else {}
        elif p.payload[0] == "cell":
            _, i, j, texts, cell = p.payload
            L, C = len(self.spec.layers), len(self.spec.coefficients)
            self.texts[i][j] = list(texts)
            for k, v in cell.items():
                self.metrics.setdefault(k, [[math.nan] * C for _ in range(L)])[i][j] = v
            self.computed[i][j] = True

    def cells_done(self) -> int:
        return sum(sum(row) for row in self.computed)

    def result(self) -> SteeringSweepResult | None:
        """The finished cells as a result (None before the baseline and one cell are done)."""
        if self.baselines is None or not self.cells_done():
            return None
        return SteeringSweepResult(
            self.spec,
            dict(self.concept),
            list(self.baselines),
            [[list(t) for t in row] for row in self.texts],
            {k: [list(row) for row in g] for k, g in self.metrics.items()},
            dict(self.baseline_metrics),
            computed=[list(row) for row in self.computed],
        )
