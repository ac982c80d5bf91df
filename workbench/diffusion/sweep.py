"""Sweeps over a term's coefficient (and a second axis), rendered as a labelled grid.

Axis kinds: ``coefficient`` (of term ``term`` of the base spec), ``steps``, ``guidance``,
``neuron_scale`` (the scale of the base spec's concept-neuron edit: 0 off, 1 unchanged). Every
cell uses the base spec's seed, so the grid shows the effect of the swept value alone. Cells
that can share a pipeline call (same steps, guidance, ... see ``generate_batch``) are batched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.diffusion.generate import ImageResult, ImageSpec, generate_batch
from workbench.diffusion.grid import labelled_grid
from workbench.diffusion.provenance import item_name, png_with_provenance
from workbench.errors import WorkbenchError
from workbench.jobs import Job

if TYPE_CHECKING:
    from PIL import Image

    from workbench.diffusion.loading import DiffusionModel

AXIS_KINDS = ("coefficient", "steps", "guidance", "neuron_scale")


@dataclass(frozen=True)
class SweepAxis:
    kind: str  # "coefficient" | "steps" | "guidance" | "neuron_scale"
    values: tuple[float, ...]
    term: int = 0  # for "coefficient": index into the base spec's terms

    def __post_init__(self) -> None:
        if self.kind not in AXIS_KINDS:
            raise WorkbenchError(f"sweep axis {self.kind!r}; choose one of {', '.join(AXIS_KINDS)}")
        if not self.values:
            raise WorkbenchError("a sweep axis needs at least one value")
        object.__setattr__(self, "values", tuple(self.values))

    def name(self, base: ImageSpec) -> str:
        if self.kind == "coefficient":
            return f"{item_name(base.effective_terms[self.term][1])} coefficient"
        return self.kind

    def apply(self, spec: ImageSpec, value: float) -> ImageSpec:
        if self.kind == "steps":
            return spec.replace(steps=int(value))
        if self.kind == "guidance":
            return spec.replace(guidance=float(value))
        if self.kind == "neuron_scale":
            if spec.neurons is None:
                raise WorkbenchError(
                    "a neuron-scale axis needs concept neurons in the spec (neurons=...); score "
                    "them first (workbench.diffusion.cones)"
                )
            return spec.replace(neurons=spec.neurons.with_scale(float(value)))
        terms = list(spec.effective_terms)
        if not 0 <= self.term < len(terms):
            raise WorkbenchError(
                f"term {self.term} does not exist; the spec has {len(terms)} terms"
            )
        terms[self.term] = (float(value), terms[self.term][1])
        return spec.replace(terms=tuple(terms), expression=None)

    def to_dict(self, base: ImageSpec) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name(base), "term": self.term,
                "values": list(self.values)}  # fmt: skip


@dataclass(frozen=True)
class SweepSpec:
    base: ImageSpec
    x: SweepAxis  # columns
    y: SweepAxis | None = None  # rows

    def __post_init__(self) -> None:
        y = self.y
        if (
            y is not None
            and y.kind == self.x.kind
            and (y.kind != "coefficient" or y.term == self.x.term)
        ):
            what = self.x.name(self.base) if self.x.kind == "coefficient" else self.x.kind
            raise WorkbenchError(
                f"Rows and columns both sweep {what}: the columns' values would overwrite the "
                "rows'. Sweep another term (or steps, or guidance) along the rows, or leave "
                "the rows empty."
            )

    def cells(self) -> list[list[ImageSpec]]:
        ys = self.y.values if self.y else (None,)
        rows = []
        for yv in ys:
            row_base = self.y.apply(self.base, yv) if self.y and yv is not None else self.base
            rows.append([self.x.apply(row_base, xv) for xv in self.x.values])
        return rows


@dataclass
class SweepResult:
    images: list[list[ImageResult]]  # [row][column]
    grid: Image.Image
    info: dict[str, Any]

    def png_bytes(self) -> bytes:
        return png_with_provenance(self.grid, self.info)


def run_sweep(
    dm: DiffusionModel, sweep: SweepSpec, batched: bool = True, max_batch: int = 8
) -> Job[SweepResult]:
    """Render every cell (batched into shared pipeline calls unless ``batched=False``) and the
    labelled grid. The grid's provenance is the first cell's plus a ``sweep`` entry."""
    cells = sweep.cells()
    flat = [s for row in cells for s in row]
    results = yield from generate_batch(dm, flat, max_batch=max_batch if batched else 1)
    ncol = len(sweep.x.values)
    rows = [results[r * ncol : (r + 1) * ncol] for r in range(len(cells))]
    col_labels = [f"{v:g}" for v in sweep.x.values]
    row_labels = [f"{v:g}" for v in sweep.y.values] if sweep.y else None
    title = f"columns: {sweep.x.name(sweep.base)}"
    if sweep.y:
        title += f"   rows: {sweep.y.name(sweep.base)}"
    grid = labelled_grid([[r.image for r in row] for row in rows], col_labels, row_labels, title)
    info = dict(results[0].info)
    info["sweep"] = {
        "x": sweep.x.to_dict(sweep.base),
        "y": sweep.y.to_dict(sweep.base) if sweep.y else None,
        "batched": batched,
        "cells": [
            [
                {
                    "expression": r.info["expression"],
                    "steps": r.spec.steps,
                    "guidance": r.spec.guidance,
                    "seed": r.spec.seed,
                    "coefficients": [t["coefficient"] for t in r.info["terms"]],
                    "neuron_scale": r.spec.neurons.scale if r.spec.neurons else None,
                    "batch": r.info["batch"],
                }
                for r in row
            ]  # fmt: skip
            for row in rows
        ],
    }
    info["sweep"]["grid_size"] = [grid.width, grid.height]
    return SweepResult(rows, grid, info)
