"""Diffusion: concept arithmetic on a local diffusers pipeline, at three levels (text-encoder
output, token embeddings, noise prediction); baseline and edited images from the same seed,
per-step x0 previews, a coefficient sweep as a labelled grid. Every image goes into the
project with its provenance and exports as a PNG that carries it.

The loaded pipeline lives here (``panel.dm``, a :class:`workbench.diffusion.loading.DiffusionModel`):
the app state's model list is for language models. Every pipeline job runs in the executor.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QInputDialog,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.errors import first_line
from ui.panels import diffusion_jobs as jobs
from ui.panels.diffusion_io import DiffusionIOMixin
from ui.panels.diffusion_layout import DiffusionLayoutMixin
from ui.panels.diffusion_sweep import DiffusionSweepWidget

GENERATE, SWEEP, LOAD, ENCODE = "diffusion", "diffusion-sweep", "diffusion-load", "diffusion-encode"


class DiffusionPanel(DiffusionLayoutMixin, DiffusionIOMixin, QWidget):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.dm: Any = None  # the loaded DiffusionModel
        self.last: Any = None  # last jobs.PairResult
        self.last_sweep: Any = None  # last jobs.SweepOutput
        self.last_generation_id: int | None = None
        self.last_sweep_id: int | None = None
        self.cache_dir: str | None = None  # None: the default Hugging Face cache
        self._scanned = False
        lay = QVBoxLayout(self)
        lay.addWidget(self._pipeline_bar())
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._left_column())
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._compare_tab(), "Baseline | edited")
        self.sweep = DiffusionSweepWidget()
        self.sweep.run_requested.connect(lambda: self.run_sweep())
        self.sweep.stop_requested.connect(lambda: self.cancel(SWEEP))
        self.sweep.export_requested.connect(lambda: self.export_grid())
        self.tabs.addTab(self.sweep, "Sweep")
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 740])
        lay.addWidget(split, 1)
        ctx.state.events.concepts.connect(self._refill_concepts)
        self.terms.changed.connect(self._on_terms_changed)
        self._refill_concepts()
        self._fill_pipelines([])
        self._on_terms_changed()
        self._set_loaded(None)

    # --------------------------------------------------------------- concepts
    def _refill_concepts(self, *_: Any) -> None:
        entries = []
        for info in self.ctx.state.concepts:
            ref = info.get("model_ref")
            if getattr(ref, "kind", "lm") != "diffusion":
                continue
            other = self.dm is not None and not ref.same_space(self.dm.ref)
            tip = f"{info['name']} · prompt embedding · {info['model']}"
            if other:
                tip += " (another model than the loaded one)"
            entries.append((info["name"], tip))
        self.terms.set_concepts(entries)

    def _on_terms_changed(self) -> None:
        prompt = self.prompt.toPlainText().strip() or "prompt"
        self.sweep.set_terms([f"prompt: {prompt[:30]}", *self.terms.labels()])

    def _set_loaded(self, dm: Any) -> None:
        self.dm = dm
        for b in (self.generate_button, self.encode_button, self.sweep.run_button):
            b.setEnabled(dm is not None)
        if dm is not None:
            dtype = str(dm.dtype).removeprefix("torch.")
            off = f" · {dm.offload} offload" if dm.offload else ""
            self.load_status.setText(
                f"Loaded: {dm.ref.name} · {dm.ref.architecture} ({dm.family}) · {dm.device} · "
                f"{dtype}{off}"
            )
            self.load_status.setToolTip(dm.ref.source)
        self._refill_concepts()

    # ------------------------------------------------------------- generating
    def _spec(self, **overrides: Any) -> Any:
        """The edited image's spec from the controls (raises with a message on a problem)."""
        if self.dm is None:
            raise RuntimeError(
                "No diffusion pipeline is loaded. Pick one at the top (or Open pipeline "
                "folder/file…) and press Load."
            )
        prompt = self.prompt.toPlainText().strip()
        if not prompt:
            raise ValueError("The prompt is empty: type what the image should show.")
        if self.terms.error:
            raise ValueError(f"The edit expression has an error: {self.terms.error}")
        level = self.level.currentData()
        if level == "noise" and self.guidance.value() <= 1:
            raise ValueError(
                "Noise-prediction composition needs guidance above 1 (it composes against the "
                "unconditional prediction). Raise Guidance, or pick another level."
            )
        infos = {c["name"]: c for c in self.ctx.state.concepts}
        items = [
            (t.coefficient, jobs.resolve_item(t, infos, self.ctx.concepts.get, self.dm.ref))
            for t in self.terms.terms()
        ]
        settings = {
            "negative_prompt": self.negative.text().strip() or None,
            "seed": self.seed.value(),
            "steps": self.steps.value(),
            "guidance": self.guidance.value(),
            "width": self.width_spin.value() or None,
            "height": self.height_spin.value() or None,
            "preview_every": self.preview_every.value(),
        }
        settings.update(overrides)
        return jobs.build_spec(prompt, items, level, **settings)

    def generate(self) -> int | None:
        try:
            spec = self._spec()
            self._check_terms(spec)
        except Exception as e:
            self.status.setText(f"Not started: {first_line(e)}")
            self.ctx.errors.handle(e, "generating an image")
            return None
        self.generate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.save_button.setEnabled(False)
        self.save_baseline_button.setEnabled(False)
        self.progress.setRange(0, 2 * spec.steps)
        self.progress.setValue(0)
        self.status.setText(f"Generating {spec.expression}…")
        self.edited_col.caption.setText(spec.expression)
        self.baseline_col.caption.setText(spec.prompt)
        self.tabs.setCurrentIndex(0)
        return self._submit(
            GENERATE,
            jobs.pair_job,
            self.dm,
            spec,
            label="Generating image",
            on_progress=self._on_progress,
            on_result=self._on_result,
            on_error=lambda e: self._on_failed(e, self.status, "generating an image"),
        )

    def _check_terms(self, spec: Any) -> None:
        from workbench.diffusion.embeddings import check_item

        for _, item in spec.effective_terms:
            check_item(self.dm, item, spec.level)

    def _on_failed(self, exc: BaseException, status: Any, what: str) -> None:
        status.setText(f"Failed: {first_line(exc)}")
        self.ctx.errors.handle(exc, what)

    def _submit(self, channel: str, fn: Any, *args: Any, **kwargs: Any) -> int:
        return self.ctx.executor.submit(
            channel,
            fn,
            *args,
            on_done=lambda: self._on_done(channel),
            **kwargs,
        )

    def cancel(self, channel: str = GENERATE) -> None:
        self.ctx.executor.cancel(channel)

    def _on_progress(self, p: Any) -> None:
        self.progress.setValue(int(p.done))
        preview = p.payload
        if preview is None:
            return
        self.status.setText(f"{p.message}…")
        if preview.images:
            col = self.baseline_col if preview.part == "baseline" else self.edited_col
            col.view.set_image(preview.images[0], smooth=False)
            col.caption.setText(f"x0 estimate after step {preview.step}/{preview.steps}")

    def _on_result(self, r: Any) -> None:
        self.last = r
        c = r.comparison
        self.baseline_col.view.set_image(c.baseline.image)
        self.edited_col.view.set_image(c.edited.image)
        self.baseline_col.caption.setText(self._caption(c.baseline.info))
        self.edited_col.caption.setText(self._caption(c.edited.info))
        self.save_button.setEnabled(True)
        self.save_baseline_button.setEnabled(True)
        self.last_generation_id = self._save_pair(r)
        where = "Saved to the project." if self.last_generation_id else "Not saved."
        self.status.setText(f"Done. {where}")

    @staticmethod
    def _caption(info: dict) -> str:
        w, h = info.get("size", ["?", "?"])
        return (
            f"{info.get('expression')}  ·  {info.get('level')}  ·  seed {info.get('seed')}  ·  "
            f"{info.get('steps')} steps  ·  CFG {info.get('guidance'):g}  ·  {w}×{h}"
        )

    def _on_done(self, channel: str) -> None:
        if channel == GENERATE:
            self.generate_button.setEnabled(self.dm is not None)
            self.cancel_button.setEnabled(False)
            if self.status.text().endswith("…"):
                self.status.setText(f"Cancelled at step {self.progress.value()}.")
        elif channel == SWEEP:
            self.sweep.set_running(False)
            self.sweep.run_button.setEnabled(self.dm is not None)
            if self.sweep.status.text().endswith("…"):
                self.sweep.status.setText(f"Stopped at step {self.sweep.progress.value()}.")
        elif channel == LOAD:
            self.load_button.setEnabled(True)
            if self.load_status.text().endswith("…"):
                self.load_status.setText("Loading stopped.")
        elif channel == ENCODE:
            self.encode_button.setEnabled(self.dm is not None)

    # ------------------------------------------------------------------ sweep
    def run_sweep(self) -> int | None:
        from workbench.diffusion.sweep import SweepSpec

        try:
            base = self._spec()
            x, y = self.sweep.axes()
            n = len(base.effective_terms)
            for axis in (x, y):
                if axis is not None and axis.kind == "coefficient" and axis.term >= n:
                    raise ValueError("The swept term no longer exists; pick it again.")
            sweep = SweepSpec(base, x, y)
            self._check_terms(base)
        except Exception as e:
            self.sweep.status.setText(f"Not started: {first_line(e)}")
            self.ctx.errors.handle(e, "starting the sweep")
            return None
        rows = sweep.cells()
        cells = [s for row in rows for s in row]
        self._sweep_previews: dict[int, Any] = {}
        self._sweep_shape = (len(rows), len(rows[0]))
        self.sweep.set_running(True)
        self.sweep.export_button.setEnabled(False)
        self.sweep.progress.setRange(0, sum(s.steps for s in cells))  # an upper bound
        self.sweep.progress.setValue(0)
        self.sweep.status.setText(f"Rendering {len(cells)} cells…")
        self.tabs.setCurrentWidget(self.sweep)
        return self._submit(
            SWEEP,
            jobs.sweep_job,
            self.dm,
            sweep,
            label="Diffusion sweep",
            on_progress=self._on_sweep_progress,
            on_result=self._on_sweep_result,
            on_error=lambda e: self._on_failed(e, self.sweep.status, "rendering the sweep"),
        )

    def _on_sweep_progress(self, p: Any) -> None:
        if p.total:  # cells that share a pipeline call share its steps
            self.sweep.progress.setMaximum(int(p.total))
        self.sweep.progress.setValue(int(p.done))
        self.sweep.status.setText(f"{p.message}…")
        preview = p.payload
        if preview is not None and preview.images:
            self._sweep_previews.update(zip(preview.indices, preview.images, strict=False))
            self._show_sweep_previews()

    def _show_sweep_previews(self) -> None:
        """The cells' x0 previews so far, in grid order (grey where a cell has not started)."""
        from PIL import Image

        from workbench.diffusion.grid import labelled_grid

        size = next(iter(self._sweep_previews.values())).size
        n_rows, n_cols = self._sweep_shape
        blank = Image.new("RGB", size, (128, 128, 128))
        cells = [
            [self._sweep_previews.get(r * n_cols + c, blank) for c in range(n_cols)]
            for r in range(n_rows)
        ]
        self.sweep.grid_view.set_image(labelled_grid(cells), smooth=False)

    def _on_sweep_result(self, r: Any) -> None:
        self.last_sweep = r
        self.sweep.grid_view.set_image(r.result.grid)
        self.sweep.export_button.setEnabled(True)
        self.last_sweep_id = self._save_sweep(r)
        n = sum(len(row) for row in r.result.images)
        where = "saved to the project" if self.last_sweep_id else "not saved"
        self.sweep.status.setText(f"Done: {n} cells and the grid {where}.")

    # -------------------------------------------------------------- lifecycle
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._scanned:
            self._scanned = True
            self.refresh_pipelines()

    def shutdown(self) -> None:
        """Window closing: cancel our jobs and wait for the worker (which ends the pipeline threads)."""
        from PySide6.QtCore import QThreadPool

        for ch in (GENERATE, SWEEP, LOAD, ENCODE):
            self.ctx.executor.cancel(ch)  # the executor closes a cancelled job in its thread
        QThreadPool.globalInstance().waitForDone(30000)
        self.dm = None

    def encode_level(self) -> str:
        return "token_embeds" if self.level.currentData() == "token_embeds" else "text_encoder"

    def encode_concept(self, name: str | None = None, prompt: str | None = None) -> int | None:
        """Encode ``prompt`` (default: the prompt box) and add it to the concept library."""
        prompt = (prompt if prompt is not None else self.prompt.toPlainText()).strip()
        try:
            if self.dm is None:
                raise RuntimeError("Load a diffusion pipeline first: a concept is its embedding.")
            if not prompt:
                raise ValueError("The prompt is empty: type the prompt to encode.")
        except Exception as e:
            self.ctx.errors.handle(e, "encoding a concept")
            return None
        if name is None:
            name, ok = QInputDialog.getText(
                self, "Encode as concept", "Concept name:", text=prompt[:40]
            )
            if not ok or not name.strip():
                return None
        self.encode_button.setEnabled(False)
        return self._submit(
            ENCODE,
            jobs.encode_job,
            self.dm,
            prompt,
            name.strip(),
            self.encode_level(),
            label="Encoding a concept",
            on_result=self._on_encoded,
        )

    def _on_encoded(self, concept: Any) -> None:
        library = self.ctx.views.get("library")
        if library is not None:
            library.add_concept(concept)
        else:
            from ui.commands import AddConceptCommand

            self.ctx.undo.push(AddConceptCommand(self.ctx, concept))
        self.status.setText(
            f"{concept.name!r} is in the library ({concept.recipe.get('level')}, "
            f"{concept.model.name})."
        )
