"""Coefficient sweeps (with a second axis) and their labelled grids."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.diffusion.generate import generate_image
from workbench.diffusion.provenance import read_provenance
from workbench.diffusion.sweep import SweepAxis, SweepSpec, run_sweep
from workbench.errors import WorkbenchError
from workbench.jobs import Progress, run


def test_coefficient_by_guidance_grid(sd_dm, make_spec):
    base = make_spec(terms=[(1.0, "castle"), (0.0, "winter")], seed=5)
    sweep = SweepSpec(
        base,
        x=SweepAxis("coefficient", (0.0, 0.5, 1.0), term=1),
        y=SweepAxis("guidance", (3.0, 7.5)),
    )
    reports: list[Progress] = []
    result = run(run_sweep(sd_dm, sweep), on_progress=reports.append)
    assert len(result.images) == 2 and all(len(r) == 3 for r in result.images)
    # two guidance values -> two batched calls of three images, two steps each
    assert [p.done for p in reports] == [1, 2, 3, 4] and reports[0].total == 4
    assert [len(p.payload.images) for p in reports] == [3, 3, 3, 3]
    cell = result.images[1][2]
    assert cell.spec.guidance == 7.5 and cell.spec.terms[1][0] == 1.0
    assert cell.info["expression"] == "castle + winter"
    single = run(generate_image(sd_dm, cell.spec))
    np.testing.assert_allclose(cell.array, single.array, rtol=0, atol=1e-5)
    # the grid is labelled: wider and taller than the bare 3 x 2 cells
    assert result.grid.width > 3 * 64 and result.grid.height > 2 * 64
    meta = read_provenance(result.png_bytes())["workbench"]
    assert meta["sweep"]["x"] == {
        "kind": "coefficient", "name": "winter coefficient", "term": 1, "values": [0.0, 0.5, 1.0]
    }  # fmt: skip
    assert meta["sweep"]["y"]["kind"] == "guidance"
    assert [c["coefficients"] for c in meta["sweep"]["cells"][0]] == [[1, 0], [1, 0.5], [1, 1]]


def test_batched_equals_one_call_per_image(sd_dm, make_spec):
    sweep = SweepSpec(
        make_spec(terms=[(1.0, "castle"), (0.5, "winter")], level="noise"),
        x=SweepAxis("coefficient", (-0.5, 0.5), term=1),
        y=SweepAxis("steps", (1, 2)),
    )
    batched = run(run_sweep(sd_dm, sweep))
    single = run(run_sweep(sd_dm, sweep, batched=False))
    for row_b, row_s in zip(batched.images, single.images, strict=True):
        for b, s in zip(row_b, row_s, strict=True):
            np.testing.assert_allclose(b.array, s.array, rtol=0, atol=1e-5)
            assert b.info["batch"]["size"] == 2 and s.info["batch"]["size"] == 1
    assert [r[0].spec.steps for r in batched.images] == [1, 2]


def test_bad_axes(make_spec):
    with pytest.raises(WorkbenchError):
        SweepAxis("temperature", (1.0,))
    with pytest.raises(WorkbenchError):
        SweepAxis("steps", ())
    with pytest.raises(WorkbenchError, match="term 3"):
        SweepSpec(make_spec(prompt="castle"), x=SweepAxis("coefficient", (1.0,), term=3)).cells()
    # two axes on one parameter: the columns would overwrite the rows (a user saw this)
    with pytest.raises(WorkbenchError, match="both sweep guidance"):
        SweepSpec(
            make_spec(prompt="castle"),
            x=SweepAxis("guidance", (1.0, 2.0)),
            y=SweepAxis("guidance", (3.0,)),
        )
