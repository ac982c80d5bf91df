"""The Diffusion panel's ins and outs: the list of pipelines to offer (opened before, the Hugging
Face cache, the demo), saving images and runs to the project, PNG export paths."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QWidget

from ui.docks.generations_dock import generations_changed
from ui.panels.diffusion import jobs
from ui.panels.diffusion.model import PipelineEntry

RECENT_KEY = "diffusion/recent_pipelines"
MAX_RECENT = 8


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit].lower() or "image"


def recent_pipelines() -> list[dict[str, Any]]:
    from ui.main_window import settings

    try:
        data = json.loads(settings().value(RECENT_KEY, "[]") or "[]")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []
    return [d for d in data if isinstance(d, dict) and d.get("source")]


def remember_pipeline(source: str, config: str | None, label: str) -> None:
    from ui.main_window import settings

    entry = {"source": source, "config": config, "label": label}
    data = [d for d in recent_pipelines() if (d["source"], d.get("config")) != (source, config)]
    s = settings()
    s.setValue(RECENT_KEY, json.dumps([entry, *data][:MAX_RECENT]))
    s.sync()


def pipeline_entries(found: list[dict[str, Any]]) -> tuple[PipelineEntry, ...]:
    """Folders opened before, then the Hugging Face cache's pipelines (``found``), then the
    demo pipeline; a first line that says so when no real pipeline was found."""
    from workbench.diffusion.catalog import DEMO_NAME, DEMO_SOURCE

    entries = [
        PipelineEntry(
            label=f"{d['label']}  (opened before)",
            source=d["source"],
            config=d.get("config"),
            tip=d["source"] + (f"\nconfig: {d['config']}" if d.get("config") else ""),
        )
        for d in recent_pipelines()
        if d["source"] != DEMO_SOURCE
    ]
    entries += [
        PipelineEntry(f["label"], f["source"], f.get("config"), f["tip"], f["supported"])
        for f in found
    ]
    if not any(e.loadable for e in entries):
        entries.insert(
            0,
            PipelineEntry(
                "No local pipeline found: open a folder or checkpoint, or try the demo below",
                None,
                tip="Press ? beside Load for what works and where the workbench looks.",
            ),
        )
    entries.append(
        PipelineEntry(
            f"{DEMO_NAME}: tiny SD, makes noise, for trying the workflow",
            DEMO_SOURCE,
            tip="A tiny Stable-Diffusion-1.x-style pipeline with random weights, built in memory "
            "(nothing is read or downloaded). Its images are noise; levels, sweeps, previews, "
            "provenance and concept neurons all work on it.",
            demo=True,
        )
    )
    return tuple(entries)


def save_pair(ctx: Any, r: jobs.PairResult) -> int | None:
    """The baseline and edited images as one generation; its id (None without a project)."""
    p = ctx.state.project
    if p is None:
        return None
    c = r.comparison
    prov = {
        **c.edited.info,
        "baseline": {"expression": c.baseline.info["expression"], "level": "text_encoder"},
        "source": "diffusion panel",
    }
    gid = ctx.project.write(
        "saving the images",
        lambda: p.add_generation(
            medium="image",
            prompt=c.edited.spec.prompt or c.edited.info["expression"],
            provenance=prov,
            image_png=r.edited_png,
            baseline_png=r.baseline_png,
        ),
    )
    generations_changed(ctx)
    return gid  # type: ignore[no-any-return]


def save_sweep(ctx: Any, r: jobs.SweepOutput) -> int | None:
    """The grid and each of its cells as generations; the grid's id."""
    p = ctx.state.project
    if p is None:
        return None
    sweep = r.result

    def save() -> int:
        first = sweep.images[0][0]
        prompt = first.spec.prompt or sweep.info["expression"]
        gid: int = p.add_generation(
            medium="image",
            prompt=prompt,
            provenance={**sweep.info, "source": "diffusion sweep grid"},
            image_png=r.grid_png,
        )
        for i, row in enumerate(sweep.images):
            for j, cell in enumerate(row):
                p.add_generation(
                    medium="image",
                    prompt=prompt,
                    provenance={**cell.info, "sweep_cell": [i, j], "sweep_grid": gid},
                    image_png=r.cell_pngs[i][j],
                )
        return gid

    gid = ctx.project.write("saving the sweep", save)
    generations_changed(ctx)
    return gid  # type: ignore[no-any-return]


def save_cones(ctx: Any, out: Any) -> int | None:
    """A concept-neuron scoring (a jobs.ConesOutput) as a run and its figure; the run's id."""
    p = ctx.state.project
    if p is None:
        return None
    from workbench.diffusion.cones import RUN_KIND

    scores = out.scores

    def save() -> int:
        rid: int = p.add_run(
            RUN_KIND, scores.name(), scores.settings(), scores.to_dict(), scores.tensors()
        )
        p.add_figure(f"concept neurons: {scores.concept}", {**out.figure_spec, "run_id": rid},
                     out.figure_files)  # fmt: skip
        return rid

    return ctx.project.write("saving the concept-neuron scores", save)  # type: ignore[no-any-return]


def ask_png_path(parent: QWidget, title: str, name: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, str(Path.home() / name), "PNG (*.png)")
    if not path:
        return None
    return path if path.lower().endswith(".png") else path + ".png"
