"""Diffusion: concept arithmetic on a local diffusers pipeline, at four levels (text-encoder
output, token embeddings, noise prediction, concept neurons); baseline and edited images from
the same seed, per-step x0 previews, a coefficient sweep as a labelled grid, concept-neuron
scores. Every image goes into the project with its provenance and exports as a PNG that
carries it.

The panel holds a :class:`DiffusionState` (Qt-free, evented) and composes small views that
subscribe to it: the pipeline bar, the edit form, baseline | edited, the sweep and the concept
neurons. It starts the engine's jobs in the executor and writes their results into the state
and the project; it computes nothing itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.errors import first_line
from ui.panels.diffusion import files, jobs
from ui.panels.diffusion.compare import CompareView
from ui.panels.diffusion.cones import ConesView
from ui.panels.diffusion.edit_form import EditForm
from ui.panels.diffusion.model import (
    CONES,
    ENCODE,
    GENERATE,
    LOAD,
    SWEEP,
    DiffusionState,
)
from ui.panels.diffusion.pipeline_bar import PipelineBar, sources_help
from ui.panels.diffusion.sweep import DiffusionSweepWidget

CHANNELS = (GENERATE, SWEEP, LOAD, ENCODE, CONES)


class DiffusionPanel(QWidget):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.state = DiffusionState()
        self._found: list[dict[str, Any]] = []
        self._scanned = False
        self._sweep_previews: dict[int, Any] = {}
        self._sweep_shape = (0, 0)
        lay = QVBoxLayout(self)
        self.bar = PipelineBar(self.state)
        lay.addWidget(self.bar)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.form = EditForm(self.state)
        split.addWidget(self.form.scrolled())
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.compare = CompareView(self.state)
        self.tabs.addTab(self.compare, "Baseline | edited")
        self.sweep = DiffusionSweepWidget()
        self.tabs.addTab(self.sweep, "Sweep")
        self.cones = ConesView(self.state)
        self.tabs.addTab(self.cones, "Concept neurons")
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 740])
        lay.addWidget(split, 1)

        # the widgets tests and other views reach by their old names
        self.pipeline, self.load_button = self.bar.pipeline, self.bar.load_button
        self.load_status, self.refresh_button = self.bar.load_status, self.bar.refresh_button
        f, s = self.form, self.form.sampling
        self.prompt, self.negative, self.level, self.terms = f.prompt, f.negative, f.level, f.terms
        self.generate_button, self.cancel_button = f.generate_button, f.cancel_button
        self.encode_button, self.progress, self.status = f.encode_button, f.progress, f.status
        self.seed, self.steps, self.guidance = s.seed, s.steps, s.guidance
        self.width_spin, self.height_spin, self.preview_every = (
            s.width_spin,
            s.height_spin,
            s.preview_every,
        )
        self.baseline_col, self.edited_col = self.compare.baseline_col, self.compare.edited_col
        self.save_button = self.compare.save_button
        self.save_baseline_button = self.compare.save_baseline_button

        self.bar.load_requested.connect(lambda: self.load())
        self.bar.refresh_requested.connect(lambda: self.refresh_pipelines())
        self.bar.open_requested.connect(lambda folder: self.open_dialog(folder=folder))
        f.generate_requested.connect(lambda: self.generate())
        f.cancel_requested.connect(lambda: self.cancel())
        f.encode_requested.connect(lambda: self.encode_concept())
        self.compare.save_requested.connect(lambda which: self.save_png(which=which))
        self.sweep.run_requested.connect(lambda: self.run_sweep())
        self.sweep.stop_requested.connect(lambda: self.cancel(SWEEP))
        self.sweep.export_requested.connect(lambda: self.export_grid())
        self.cones.score_requested.connect(lambda: self.score_neurons())
        self.cones.stop_requested.connect(lambda: self.cancel(CONES))
        self.cones.use_requested.connect(self.use_neurons)

        ev = self.state.events
        ctx.state.events.concepts.connect(self._refill_concepts)  # type: ignore[attr-defined]
        ev.dm.connect(self._on_dm_changed)
        ev.terms.connect(self._on_terms_changed)
        ev.prompt.connect(self._on_terms_changed)
        ev.steps.connect(self._on_steps_changed)
        ev.running.connect(self._on_running_changed)
        self._refill_concepts()
        self._fill_pipelines([])
        self._on_terms_changed()
        self._on_steps_changed(self.state.steps)
        self._on_dm_changed(None)

    # ------------------------------------------------------ compatibility names
    @property
    def dm(self) -> Any:
        return self.state.dm

    @property
    def last(self) -> Any:
        return self.state.last

    @property
    def last_sweep(self) -> Any:
        return self.state.last_sweep

    @property
    def last_generation_id(self) -> int | None:
        return self.state.last_generation_id

    @property
    def last_sweep_id(self) -> int | None:
        return self.state.last_sweep_id

    @property
    def cache_dir(self) -> str | None:
        return self.state.cache_dir

    @cache_dir.setter
    def cache_dir(self, folder: str | None) -> None:
        self.state.cache_dir = folder

    # ------------------------------------------------------------------ reactions
    def _refill_concepts(self, *_: Any) -> None:
        dm = self.state.dm
        entries = []
        for info in self.ctx.state.concepts:
            ref = info.model_ref
            if getattr(ref, "kind", "lm") != "diffusion":
                continue
            tip = f"{info.name} · prompt embedding · {info.model}"
            if dm is not None and ref is not None and not ref.same_space(dm.ref):
                tip += " (another model than the loaded one)"
            entries.append((info.name, tip))
        self.terms.set_concepts(entries)

    def _on_terms_changed(self, *_: Any) -> None:
        prompt = self.state.prompt.strip() or "prompt"
        self.sweep.set_terms([f"prompt: {prompt[:30]}", *self.terms.labels()])

    def _on_steps_changed(self, steps: int) -> None:
        if GENERATE not in self.state.running:  # the bar shows what Generate will run
            self.state.done = 0
            self.state.total = self.state.expected_steps()

    def _on_dm_changed(self, dm: Any) -> None:
        self.sweep.run_button.setEnabled(dm is not None and SWEEP not in self.state.running)
        if dm is not None:
            dtype = str(dm.dtype).removeprefix("torch.")
            off = f" · {dm.offload} offload" if dm.offload else ""
            demo = " · random weights: images are noise" if dm.extra.get("demo") else ""
            self.state.load_status = (
                f"Loaded: {dm.ref.name} · {dm.ref.architecture} ({dm.family}) · {dm.device} · "
                f"{dtype}{off}{demo}"
            )
        self._refill_concepts()

    def _on_running_changed(self, running: tuple[str, ...]) -> None:
        self.sweep.set_running(SWEEP in running)
        self.sweep.run_button.setEnabled(self.state.loaded and SWEEP not in running)

    # ------------------------------------------------------------------ pipelines
    def refresh_pipelines(self) -> None:
        """Look for pipelines in the local Hugging Face cache (in a worker thread)."""
        from superqt.utils import create_worker

        worker = create_worker(jobs.find_pipelines, self.state.cache_dir, _start_thread=False)
        worker.returned.connect(self._fill_pipelines)
        worker.errored.connect(
            lambda e: self.ctx.errors.handle(e, "looking for pipelines in the Hugging Face cache")
        )
        self._scan_worker = worker  # keep it alive until it reports
        self.refresh_button.setEnabled(False)
        worker.finished.connect(lambda *_: self.refresh_button.setEnabled(True))
        worker.start()

    def _fill_pipelines(self, found: list[dict[str, Any]]) -> None:
        self._found = list(found)
        keep = self.state.entry
        entries = files.pipeline_entries(self._found)
        self.state.chosen = -1
        self.state.entries = entries
        first = next((i for i, e in enumerate(entries) if e.loadable and not e.demo), None)
        kept = keep is not None and keep.source is not None  # keep the user's choice
        if kept and self.state.choose_source(keep.source, keep.config):  # type: ignore[union-attr,arg-type]
            return
        # a real pipeline if there is one; else the explaining line (Load stays off)
        self.state.chosen = first if first is not None else 0

    def load(self, source: str | None = None, config: str | None = None) -> int | None:
        """Load a pipeline folder, ``hf-cache:<repo>``, a checkpoint file with ``config``, or
        the demo pipeline (``demo:tiny-sd``)."""
        if source is None:
            entry = self.state.entry
            if entry is not None and entry.loadable:
                source, config = entry.source, entry.config
        try:
            if not source:
                raise ValueError(
                    "Choose a pipeline in the list, or use Open pipeline folder/file… to pick a "
                    "local diffusers folder or checkpoint, or load the demo pipeline.\n\n"
                    + sources_help(self.state.cache_dir)
                )
            p = Path(source)
            if p.is_dir() and not (p / "model_index.json").is_file():
                raise ValueError(
                    f"{p} is not a diffusers pipeline folder: it has no model_index.json. Choose "
                    "the folder that contains model_index.json (and unet/, vae/, text_encoder/…), "
                    "or a single .safetensors checkpoint together with such a folder for its "
                    "configs."
                )
        except ValueError as e:
            self.ctx.errors.handle(e, "loading a diffusion pipeline")
            return None
        st = self.state
        device = None if st.device == "auto" else st.device
        dtype = None if st.dtype == "auto" else st.dtype
        st.dm = None  # let the old pipeline go before the new one takes memory
        st.load_status = f"Loading {Path(source).name or source}…"
        return self._submit(
            LOAD,
            jobs.load_job,
            source,
            device,
            dtype,
            st.offload,
            config,
            st.cache_dir,
            label="Loading diffusion pipeline",
            on_result=lambda dm: self._on_loaded(dm, source, config),
            on_error=self._on_load_error,
        )

    def _on_loaded(self, dm: Any, source: str, config: str | None) -> None:
        self.state.dm = dm
        if not source.startswith(("hf-cache:", "demo:")):
            files.remember_pipeline(source, config, dm.ref.name)
            self._fill_pipelines(self._found)
            self.state.choose_source(source, config)
        what = "the demo pipeline (random weights)" if dm.extra.get("demo") else dm.ref.name
        self.state.status = f"{what} is loaded. Write a prompt and Generate."

    def _on_load_error(self, exc: BaseException) -> None:
        self.state.load_status = "Not loaded: see the message."
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

    # ----------------------------------------------------------------- generating
    def _spec(self, **overrides: Any) -> Any:
        """The edited image's spec from the state (raises with a message on a problem)."""
        st = self.state
        if st.dm is None:
            raise RuntimeError(
                "No diffusion pipeline is loaded. Pick one at the top (or Open pipeline "
                "folder/file…, or the demo pipeline) and press Load."
            )
        prompt = st.prompt.strip()
        if not prompt:
            raise ValueError("The prompt is empty: type what the image should show.")
        if st.terms_error:
            raise ValueError(f"The edit expression has an error: {st.terms_error}")
        if st.level == "noise" and st.guidance <= 1:
            raise ValueError(
                "Noise-prediction composition needs guidance above 1 (it composes against the "
                "unconditional prediction). Raise Guidance, or pick another level."
            )
        if st.level == "neurons" and st.neurons is None:
            raise ValueError(
                "The Concept neurons level needs neurons: score them in the Concept neurons "
                "tab and press 'Use in generation', or pick another level."
            )
        infos = {c.name: c for c in self.ctx.state.concepts}
        items = [
            (t.coefficient, jobs.resolve_item(t, infos, self.ctx.concepts.get, st.dm.ref))
            for t in st.terms
        ]
        settings: dict[str, Any] = {
            "negative_prompt": st.negative.strip() or None,
            "seed": st.seed,
            "steps": st.steps,
            "guidance": st.guidance,
            "width": st.width or None,
            "height": st.height or None,
            "preview_every": st.preview_every,
        }
        if st.level == "neurons":
            settings["neurons"] = st.neurons
        settings.update(overrides)
        return jobs.build_spec(prompt, items, st.level, **settings)

    def _check_terms(self, spec: Any) -> None:
        from workbench.diffusion.embeddings import check_item

        for _, item in spec.effective_terms:
            check_item(self.state.dm, item, spec.level)
        if spec.neurons is not None:
            spec.neurons.check(self.state.dm)

    def generate(self) -> int | None:
        try:
            spec = self._spec()
            self._check_terms(spec)
        except Exception as e:  # noqa: BLE001 - every refusal is shown, none is raised
            self.state.status = f"Not started: {first_line(e)}"
            self.ctx.errors.handle(e, "generating an image")
            return None
        st = self.state
        st.total, st.done = 2 * spec.steps, 0
        st.status = f"Generating {spec.expression}…"
        self.compare.started(spec)
        self.tabs.setCurrentWidget(self.compare)
        return self._submit(
            GENERATE,
            jobs.pair_job,
            st.dm,
            spec,
            label="Generating image",
            on_progress=self._on_progress,
            on_result=self._on_result,
            on_error=lambda e: self._on_failed(e, "generating an image"),
        )

    def _on_failed(self, exc: BaseException, what: str) -> None:
        self.state.status = f"Failed: {first_line(exc)}"
        self.ctx.errors.handle(exc, what)

    def _submit(self, channel: str, fn: Any, *args: Any, **kwargs: Any) -> int:
        self.state.start(channel)
        job_id: int = self.ctx.executor.submit(
            channel, fn, *args, on_done=lambda: self._on_done(channel), **kwargs
        )
        return job_id

    def cancel(self, channel: str = GENERATE) -> None:
        self.ctx.executor.cancel(channel)

    def _on_progress(self, p: Any) -> None:
        if p.total:
            self.state.total = int(p.total)
        self.state.done = int(p.done)
        preview = p.payload
        if preview is None:
            return
        self.state.status = f"{p.message}…"
        self.compare.show_preview(preview)

    def _on_result(self, r: Any) -> None:
        self.state.last = r
        self.state.last_generation_id = files.save_pair(self.ctx, r)
        where = "Saved to the project." if self.state.last_generation_id else "Not saved."
        self.state.status = f"Done. {where}"

    def _on_done(self, channel: str) -> None:
        st = self.state
        st.finish(channel)
        if channel == GENERATE and st.status.endswith("…"):
            st.status = f"Cancelled at step {st.done}."
        elif channel == SWEEP and self.sweep.status.text().endswith("…"):
            self.sweep.status.setText(f"Stopped at step {self.sweep.progress.value()}.")
        elif channel == LOAD and st.load_status.endswith("…"):
            st.load_status = "Loading stopped."
        elif channel == CONES:
            self.cones.finished()

    # ---------------------------------------------------------------------- sweep
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
            rows = sweep.cells()  # a neuron-scale axis without neurons is refused here
        except Exception as e:  # noqa: BLE001 - every refusal is shown, none is raised
            self.sweep.status.setText(f"Not started: {first_line(e)}")
            self.ctx.errors.handle(e, "starting the sweep")
            return None
        cells = [s for row in rows for s in row]
        self._sweep_previews = {}
        self._sweep_shape = (len(rows), len(rows[0]))
        self.sweep.export_button.setEnabled(False)
        self.sweep.progress.setRange(0, sum(s.steps for s in cells))  # an upper bound
        self.sweep.progress.setValue(0)
        self.sweep.status.setText(f"Rendering {len(cells)} cells…")
        self.tabs.setCurrentWidget(self.sweep)
        return self._submit(
            SWEEP,
            jobs.sweep_job,
            self.state.dm,
            sweep,
            label="Diffusion sweep",
            on_progress=self._on_sweep_progress,
            on_result=self._on_sweep_result,
            on_error=lambda e: self._on_sweep_failed(e),
        )

    def _on_sweep_failed(self, exc: BaseException) -> None:
        self.sweep.status.setText(f"Failed: {first_line(exc)}")
        self.ctx.errors.handle(exc, "rendering the sweep")

    def _on_sweep_progress(self, p: Any) -> None:
        if p.total:  # cells that share a pipeline call share its steps
            self.sweep.progress.setMaximum(int(p.total))
        self.sweep.progress.setValue(int(p.done))
        self.sweep.status.setText(f"{p.message}…")
        preview = p.payload
        if preview is not None and preview.images:
            self._sweep_previews.update(zip(preview.indices, preview.images, strict=False))
            self.sweep.show_previews(self._sweep_previews, self._sweep_shape)

    def _on_sweep_result(self, r: Any) -> None:
        self.state.last_sweep = r
        self.sweep.grid_view.set_image(r.result.grid)
        self.sweep.export_button.setEnabled(True)
        self.state.last_sweep_id = files.save_sweep(self.ctx, r)
        n = sum(len(row) for row in r.result.images)
        where = "saved to the project" if self.state.last_sweep_id else "not saved"
        self.sweep.status.setText(f"Done: {n} cells and the grid {where}.")

    # ------------------------------------------------------------ concept neurons
    def score_neurons(self) -> int | None:
        """Score the cross-attention key/value neurons for the Concept neurons tab's concept."""
        try:
            if self.state.dm is None:
                raise RuntimeError("Load a diffusion pipeline first.")
            spec = self.cones.spec()
        except Exception as e:  # noqa: BLE001 - every refusal is shown, none is raised
            self.cones.status.setText(f"Not started: {first_line(e)}")
            self.ctx.errors.handle(e, "scoring concept neurons")
            return None
        self.cones.started()
        self.tabs.setCurrentWidget(self.cones)
        return self._submit(
            CONES,
            jobs.cones_job,
            self.state.dm,
            spec,
            label="Scoring concept neurons",
            on_progress=self.cones.show_progress,
            on_result=self._on_cones_result,
            on_error=lambda e: self._on_cones_failed(e),
        )

    def _on_cones_failed(self, exc: BaseException) -> None:
        self.cones.status.setText(f"Failed: {first_line(exc)}")
        self.ctx.errors.handle(exc, "scoring concept neurons")

    def _on_cones_result(self, out: Any) -> None:
        self.state.last_cones_id = files.save_cones(self.ctx, out)
        self.state.last_cones = out
        where = "saved to the project" if self.state.last_cones_id else "not saved"
        self.cones.status.setText(f"Done: {out.scores.summary()} ({where}).")

    def use_neurons(self, edit: Any) -> None:
        """Generate with this neuron edit: the Concept neurons level, baseline | edited."""
        self.state.neurons = edit
        self.state.level = "neurons"
        self.state.status = f"Level: concept neurons ({edit.describe()}). Press Generate."
        self.tabs.setCurrentWidget(self.compare)

    # ------------------------------------------------------------------ lifecycle
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._scanned:
            self._scanned = True
            self.refresh_pipelines()

    def shutdown(self) -> None:
        """Window closing: cancel our jobs and wait for the worker (which ends the pipeline
        threads)."""
        from PySide6.QtCore import QThreadPool

        for ch in CHANNELS:
            self.ctx.executor.cancel(ch)  # the executor closes a cancelled job in its thread
        QThreadPool.globalInstance().waitForDone(30000)
        self.state.dm = None

    def encode_level(self) -> str:
        return "token_embeds" if self.state.level == "token_embeds" else "text_encoder"

    def encode_concept(self, name: str | None = None, prompt: str | None = None) -> int | None:
        """Encode ``prompt`` (default: the prompt box) and add it to the concept library."""
        prompt = (prompt if prompt is not None else self.state.prompt).strip()
        try:
            if self.state.dm is None:
                raise RuntimeError("Load a diffusion pipeline first: a concept is its embedding.")
            if not prompt:
                raise ValueError("The prompt is empty: type the prompt to encode.")
        except (RuntimeError, ValueError) as e:
            self.ctx.errors.handle(e, "encoding a concept")
            return None
        if name is None:
            name, ok = QInputDialog.getText(
                self, "Encode as concept", "Concept name:", text=prompt[:40]
            )
            if not ok or not name.strip():
                return None
        return self._submit(
            ENCODE,
            jobs.encode_job,
            self.state.dm,
            prompt,
            name.strip(),
            self.encode_level(),
            label="Encoding a concept",
            on_result=self._on_encoded,
        )

    def _on_encoded(self, concept: Any) -> None:
        from ui.commands import AddConceptCommand

        taken = set(self.ctx.state.concept_names())
        base, n = concept.name, 2
        while concept.name in taken:  # the library's rule: never replace a concept
            concept = concept.renamed(f"{base} {n}")
            n += 1
        self.ctx.undo.push(AddConceptCommand(self.ctx, concept))
        self.ctx.state.selected_concepts = (concept.name,)
        self.state.status = (
            f"{concept.name!r} is in the library ({concept.recipe.get('level')}, "
            f"{concept.model.name})."
        )

    # -------------------------------------------------------------------- exports
    def save_png(self, path: str | None = None, which: str = "edited") -> str | None:
        """Write the last edited (or baseline) image as PNG with its provenance chunks."""
        r = self.state.last
        if r is None:
            self.ctx.errors.handle(RuntimeError("Generate an image first."), "saving a PNG")
            return None
        result = r.comparison.edited if which == "edited" else r.comparison.baseline
        data = r.edited_png if which == "edited" else r.baseline_png
        if path is None:
            name = f"{files.slug(result.info['expression'])}-{result.spec.seed}"
            path = files.ask_png_path(self, "Save PNG with provenance", f"{name}-{which}.png")
            if path is None:
                return None
        try:
            Path(path).write_bytes(data)
        except OSError as e:
            self.ctx.errors.handle(e, f"saving {Path(path).name}")
            return None
        self.state.status = f"Saved {Path(path).name} (provenance in its text chunks)."
        return path

    def export_grid(self, path: str | None = None) -> str | None:
        r = self.state.last_sweep
        if r is None:
            self.ctx.errors.handle(RuntimeError("Run a sweep first."), "exporting the grid")
            return None
        if path is None:
            path = files.ask_png_path(
                self, "Export sweep grid", f"{files.slug(r.result.info['expression'])}-grid.png"
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
