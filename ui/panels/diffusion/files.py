"""The Diffusion panel's ins and outs: finding and loading pipelines, saving images to the
project, exporting PNGs with provenance (a mixin of :class:`DiffusionPanel`)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from ui.docks.generations_dock import generations_changed
from ui.panels import diffusion_jobs as jobs

log = logging.getLogger(__name__)
RECENT_KEY = "diffusion/recent_pipelines"
MAX_RECENT = 8


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit].lower() or "image"


def recent_pipelines() -> list[dict]:
    from ui.main_window import settings

    try:
        data = json.loads(settings().value(RECENT_KEY, "[]") or "[]")
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


class DiffusionIOMixin:
    """Needs the panel's ``ctx``, ``pipeline``, ``load_status``... (see DiffusionPanel)."""

    ctx: Any
    _found: list[dict]

    # --------------------------------------------------------------- finding
    def refresh_pipelines(self) -> None:
        """Look for pipelines in the local Hugging Face cache (in a worker thread)."""
        from superqt.utils import create_worker

        worker = create_worker(jobs.find_pipelines, self.cache_dir, _start_thread=False)
        worker.returned.connect(self._fill_pipelines)
        worker.errored.connect(lambda e: log.warning("scanning the Hugging Face cache: %s", e))
        self._scan_worker = worker  # keep it alive until it reports
        self.refresh_button.setEnabled(False)
        worker.finished.connect(lambda: self.refresh_button.setEnabled(True))
        worker.start()

    def _fill_pipelines(self, found: list[dict]) -> None:
        self._found = list(found)
        keep = self.pipeline.currentData()
        self.pipeline.clear()
        entries = [
            {
                "label": f"{d['label']}  (opened before)",
                "source": d["source"],
                "config": d.get("config"),
                "tip": d["source"] + (f"\nconfig: {d['config']}" if d.get("config") else ""),
                "supported": True,
            }
            for d in recent_pipelines()
        ] + self._found
        for i, e in enumerate(entries):
            self.pipeline.addItem(e["label"], {"source": e["source"], "config": e["config"]})
            self.pipeline.setItemData(i, e["tip"], Qt.ItemDataRole.ToolTipRole)
            if not e.get("supported", True):
                self.pipeline.model().item(i).setEnabled(False)
        if not entries:
            self.pipeline.addItem("No local pipelines found: use Open pipeline folder/file…", None)
        i = self.pipeline.findData(keep) if keep else -1
        self.pipeline.setCurrentIndex(max(i, 0))

    # --------------------------------------------------------------- loading
    def load(self, source: str | None = None, config: str | None = None) -> int | None:
        """Load a pipeline folder, ``hf-cache:<repo>``, or a checkpoint file with ``config``."""
        if source is None:
            chosen = self.pipeline.currentData()
            if chosen:
                source, config = chosen["source"], chosen.get("config")
        try:
            if not source:
                raise ValueError(
                    "Choose a pipeline in the list, or use Open pipeline folder/file… to pick a "
                    "local diffusers folder or checkpoint."
                )
            p = Path(source)
            if p.is_dir() and not (p / "model_index.json").is_file():
                raise ValueError(
                    f"{p} is not a diffusers pipeline folder: it has no model_index.json. Choose "
                    "the folder that contains model_index.json (and unet/, vae/, text_encoder/…), "
                    "or a single .safetensors checkpoint together with such a folder for its "
                    "configs."
                )
        except Exception as e:
            self.ctx.errors.handle(e, "loading a diffusion pipeline")
            return None
        device = None if self.device.currentText() == "auto" else self.device.currentText()
        dtype = None if self.dtype.currentText() == "auto" else self.dtype.currentText()
        offload = self.offload.currentData()
        self._set_loaded(None)  # let the old pipeline go before the new one takes memory
        self.load_button.setEnabled(False)
        self.load_status.setText(f"Loading {Path(source).name or source}…")
        return self._submit(
            "diffusion-load",
            jobs.load_job,
            source,
            device,
            dtype,
            offload,
            config,
            self.cache_dir,
            label="Loading diffusion pipeline",
            on_result=lambda dm: self._on_loaded(dm, source, config),
            on_error=self._on_load_error,
        )

    def _on_loaded(self, dm: Any, source: str, config: str | None) -> None:
        self._set_loaded(dm)
        if not source.startswith("hf-cache:"):
            remember_pipeline(source, config, dm.ref.name)
            self._fill_pipelines(getattr(self, "_found", []))
        self.status.setText(f"{dm.ref.name} is loaded. Write a prompt and Generate.")

    def _on_load_error(self, exc: BaseException) -> None:
        self.load_status.setText("Not loaded: see the message.")
        self.ctx.errors.handle(exc, "loading a diffusion pipeline")

    def open_dialog(self, folder: bool = True) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(
                self, "Open a diffusers pipeline folder (with model_index.json)", str(Path.home())
            )
            if path:
                self.load(path)
            return
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open a single checkpoint file",
            str(Path.home()),
            "Checkpoints (*.safetensors *.ckpt *.pt *.pth *.bin)",
        )
        if not path:
            return
        config = QFileDialog.getExistingDirectory(
            self,
            "Choose a local diffusers folder of the same family (configs and tokenizers)",
            str(Path(path).parent),
        )
        if config:
            self.load(path, config=config)

    # ---------------------------------------------------------------- saving
    def _save_pair(self, r: jobs.PairResult) -> int | None:
        p = self.ctx.state.project
        if p is None:
            return None
        c = r.comparison
        prov = {
            **c.edited.info,
            "baseline": {"expression": c.baseline.info["expression"], "level": "text_encoder"},
            "source": "diffusion panel",
        }
        gid = self.ctx.project.write(
            "saving the images",
            lambda: p.add_generation(
                kind="image",
                prompt=c.edited.spec.prompt or c.edited.info["expression"],
                provenance=prov,
                image_png=r.edited_png,
                baseline_png=r.baseline_png,
            ),
        )
        generations_changed(self.ctx)
        return gid

    def _save_sweep(self, r: jobs.SweepOutput) -> int | None:
        p = self.ctx.state.project
        if p is None:
            return None
        sweep = r.result

        def save() -> int:
            first = sweep.images[0][0]
            prompt = first.spec.prompt or sweep.info["expression"]
            gid = p.add_generation(
                kind="image",
                prompt=prompt,
                provenance={**sweep.info, "source": "diffusion sweep grid"},
                image_png=r.grid_png,
            )
            for i, row in enumerate(sweep.images):
                for j, cell in enumerate(row):
                    p.add_generation(
                        kind="image",
                        prompt=prompt,
                        provenance={**cell.info, "sweep_cell": [i, j], "sweep_grid": gid},
                        image_png=r.cell_pngs[i][j],
                    )
            return gid

        gid = self.ctx.project.write("saving the sweep", save)
        generations_changed(self.ctx)
        return gid

    # --------------------------------------------------------------- exports
    def _ask_path(self, title: str, name: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path.home() / name), "PNG (*.png)")
        if not path:
            return None
        return path if path.lower().endswith(".png") else path + ".png"

    def save_png(self, path: str | None = None, which: str = "edited") -> str | None:
        """Write the last edited (or baseline) image as PNG with its provenance chunks."""
        r = self.last
        if r is None:
            self.ctx.errors.handle(RuntimeError("Generate an image first."), "saving a PNG")
            return None
        result = r.comparison.edited if which == "edited" else r.comparison.baseline
        data = r.edited_png if which == "edited" else r.baseline_png
        if path is None:
            name = f"{_slug(result.info['expression'])}-{result.spec.seed}"
            path = self._ask_path("Save PNG with provenance", f"{name}-{which}.png")
            if path is None:
                return None
        try:
            Path(path).write_bytes(data)
        except OSError as e:
            self.ctx.errors.handle(e, f"saving {Path(path).name}")
            return None
        self.status.setText(f"Saved {Path(path).name} (provenance in its text chunks).")
        return path

    def export_grid(self, path: str | None = None) -> str | None:
        r = self.last_sweep
        if r is None:
            self.ctx.errors.handle(RuntimeError("Run a sweep first."), "exporting the grid")
            return None
        if path is None:
            path = self._ask_path(
                "Export sweep grid", f"{_slug(r.result.info['expression'])}-grid.png"
            )
            if path is None:
                return None
        try:
            Path(path).write_bytes(r.grid_png)
        except OSError as e:
            self.ctx.errors.handle(e, f"saving {Path(path).name}")
            return None
        self.sweep.status.setText(f"Exported {Path(path).name} (provenance in its text chunks).")
        return path
