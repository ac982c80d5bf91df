"""The figures the window shows are specified by the engine, and a headless run renders them."""

from __future__ import annotations

import math

from workbench.concepts.diagnostics import CosineMatrix
from workbench.concepts.sweep_metrics import sweep_heatmap_spec
from workbench.figures import norms_per_layer_spec, render


def test_norms_per_layer_spec_reads_layers_from_site_names() -> None:
    spec = norms_per_layer_spec(
        "Norm per layer",
        {
            "a": {"blocks.0.hook_resid_post": 1.0, "blocks.2.hook_resid_post": 3.0},
            "b": {"blocks.1.hook_resid_post": 2.0, "text_encoder.hidden": 9.0},  # no layer
        },
    )
    assert spec["x"] == [0, 1, 2]
    assert spec["series"] == {"a": [1.0, None, 3.0], "b": [None, 2.0, None]}
    assert render(spec, "svg").startswith(b"<?xml")


def test_sweep_heatmap_spec_leaves_nan_cells_empty_and_renders() -> None:
    spec = sweep_heatmap_spec(
        "kl", "happy", "resid_post", [0, 1], [0.0, 2.5], [[0.0, math.nan], [0.1234567, 1.0]]
    )
    assert spec["title"] == "KL to baseline: happy at resid_post"
    assert spec["cols"] == ["0", "2.5"] and spec["values"] == [[0.0, None], [0.1235, 1.0]]
    assert spec["cmap"] == "magma"
    assert sweep_heatmap_spec("accuracy", "c", "resid_post", [0], [1], [[0.5]])["cmap"] == "viridis"
    assert render(spec, "png").startswith(b"\x89PNG")


def test_cosine_spec_is_centred_and_renders() -> None:
    cm = CosineMatrix(["a", "b"], [[1.0, -0.25], [-0.25, 1.0]], ["blocks.1.hook_resid_post"])
    spec = cm.figure_spec()
    assert (
        spec["title"] == "Cosine similarity at blocks.1.hook_resid_post" and spec["center"] == 0.0
    )
    assert (
        CosineMatrix(["a"], [[1.0]], ["s1", "s2"]).figure_spec()["title"].endswith("2 shared sites")
    )
    assert render(spec, "pdf").startswith(b"%PDF")
