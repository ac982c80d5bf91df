"""The Diffusion panel with a tiny random SD pipeline saved to disk (never downloaded): loading,
baseline and edited images with per-step previews, cancel, a 2×2 sweep grid, the project and
PNG provenance, prompt-embedding concepts in the library."""

from __future__ import annotations

import shutil
import threading

import pytest
from PySide6.QtCore import Qt
from ui_helpers import wait_idle

SIZE = 64  # the tiny VAE downsamples by 2: 32×32 latents, 32×32 x0 previews


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny pipelines are overhead-bound; one thread avoids OpenMP oversubscription."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory):
    """A tiny random SD1.x pipeline written with save_pretrained (a diffusers folder)."""
    from workbench.diffusion.tiny import tiny_sd_pipeline

    folder = tmp_path_factory.mktemp("pipelines") / "tiny-sd"
    tiny_sd_pipeline(seed=0).save_pretrained(folder)
    return folder


@pytest.fixture
def panel(qtbot, window, tiny_sd_dir):
    """The Diffusion panel of a fresh window, the tiny pipeline loaded through it."""
    p = window.view("diffusion")
    assert p is not None, "the Diffusion panel is not registered"
    p._scanned = True  # no scan of the real Hugging Face cache
    with qtbot.waitSignal(window.ctx.executor.job_finished, timeout=60000):
        p.load(str(tiny_sd_dir))
    wait_idle(qtbot, window.ctx)
    assert p.dm is not None, window.ctx.errors.history
    p.steps.setValue(2)
    p.width_spin.setValue(SIZE)
    p.height_spin.setValue(SIZE)
    p.prompt.setPlainText("a castle")
    return p


def _images(project):
    return [g for g in project.generations() if g.medium == "image"]


def test_pipeline_list_finds_the_hf_cache_and_explains_mistakes(
    qtbot, window, tiny_sd_dir, tmp_path
):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-sd"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(tiny_sd_dir, repo / "snapshots" / commit)
    p = window.view("diffusion")
    p._scanned = True
    p.cache_dir = str(tmp_path / "hub")
    p.refresh_pipelines()
    source = {"source": "hf-cache:someone/tiny-sd", "config": None}
    qtbot.waitUntil(lambda: p.pipeline.findData(source) >= 0, timeout=20000)

    photos = tmp_path / "photos"
    photos.mkdir()
    assert p.load(str(photos)) is None  # caught before any job
    context, message = window.ctx.errors.history[-1]
    assert "model_index.json" in message and "diffusion pipeline" in context
    assert p.generate() is None
    assert "No diffusion pipeline is loaded" in window.ctx.errors.history[-1][1]

    # the cache entry loads (never downloads)
    p.pipeline.setCurrentIndex(p.pipeline.findData(source))
    with qtbot.waitSignal(window.ctx.executor.job_finished, timeout=60000):
        p.load()
    assert p.dm is not None and p.dm.ref.kind == "diffusion", window.ctx.errors.history
    assert "tiny-sd" in p.load_status.text()
    p.prompt.setPlainText("   ")
    assert p.generate() is None
    assert "prompt is empty" in window.ctx.errors.history[-1][1]


def test_generate_baseline_and_edited_with_previews_saves_and_exports(qtbot, panel, tmp_path):
    from workbench.diffusion.provenance import read_provenance

    panel.terms.add_row("winter", 0.6)
    panel.terms.add_row("summer", -0.4)
    assert panel.terms.expression.text() == "0.6*winter - 0.4*summer"
    previews = []
    panel.ctx.executor.job_progress.connect(
        lambda _label, p: previews.append(p.payload) if p.payload else None
    )
    assert panel.generate() is not None
    wait_idle(qtbot, panel.ctx)
    assert not panel.ctx.errors.history, panel.ctx.errors.history
    # per-step x0 previews for both images, at latent size, shown as they came
    parts = [(pv.part, pv.step) for pv in previews if pv.images]
    assert parts == [("baseline", 1), ("baseline", 2), ("edited", 1), ("edited", 2)]
    assert previews[0].images[0].size == (SIZE // 2, SIZE // 2)
    c = panel.last.comparison
    assert panel.baseline_col.view.has_image() and panel.edited_col.view.has_image()
    assert panel.edited_col.view.image_size().width() == SIZE
    assert c.baseline.spec.seed == c.edited.spec.seed
    assert abs(c.baseline.array - c.edited.array).max() > 0  # the terms changed the image
    assert c.edited.info["expression"] == '"a castle" + 0.6*winter - 0.4*summer'
    assert "0.6*winter" in panel.edited_col.caption.text()

    # stored in the project with its provenance and both PNGs
    (g,) = _images(panel.ctx.state.project)
    assert g.id == panel.last_generation_id and g.prompt == "a castle"
    assert g.provenance["terms"][1] == {"coefficient": 0.6, "prompt": "winter"}
    assert g.provenance["model"]["kind"] == "diffusion"
    assert g.image_png[:8] == b"\x89PNG\r\n\x1a\n" and g.baseline_png

    # exported PNG carries the A1111 `parameters` line and the workbench JSON
    path = panel.save_png(str(tmp_path / "edited.png"))
    prov = read_provenance(path)
    assert prov["workbench"]["expression"] == c.edited.info["expression"]
    assert prov["workbench"]["seed"] == 0 and prov["workbench"]["steps"] == 2
    assert prov["parsed"]["Seed"] == "0" and prov["parsed"]["Steps"] == "2"
    assert "Workbench expression" in prov["parameters"]
    base = read_provenance(panel.save_png(str(tmp_path / "base.png"), which="baseline"))
    assert base["parsed"]["prompt"] == "a castle"

    # seen again later from the Generations dock (the images are read from the project)
    gens = panel.window().view("generations")
    gens.refresh()
    assert gens.text(0, "id") == str(g.id)
    dlg = gens.show_images(0)
    assert dlg is not None and dlg.views["edited"].has_image() and dlg.views["baseline"].has_image()
    assert dlg.views["edited"].image_size().width() == SIZE
    saved = dlg.save_pngs(str(tmp_path))
    assert [p.read_bytes() for p in saved] == [g.baseline_png, g.image_png]
    dlg.close()


def test_cancel_stops_at_a_step(qtbot, panel):
    panel.steps.setValue(60)
    seen = []

    def on_progress(_label, p):
        seen.append(p.done)
        if len(seen) == 1:
            panel.cancel()

    panel.ctx.executor.job_progress.connect(on_progress)
    assert panel.generate() is not None
    wait_idle(qtbot, panel.ctx)
    assert len(seen) < 10, seen  # stopped long before 2 × 60 steps
    assert panel.last is None and not _images(panel.ctx.state.project)
    assert panel.status.text().startswith("Cancelled")
    assert panel.generate_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert not [t for t in threading.enumerate() if t.name == "diffusion-pipeline"]


def test_sweep_renders_a_labelled_2x2_grid(qtbot, panel, tmp_path):
    from workbench.diffusion.provenance import read_provenance

    panel.terms.add_row("winter", 0.5)
    panel.level.setCurrentIndex(panel.level.findData("token_embeds"))
    panel.sweep.columns.kind.setCurrentIndex(panel.sweep.columns.kind.findData("coefficient"))
    panel.sweep.columns.term.setCurrentIndex(1)
    panel.sweep.columns.values.setText("-1, 1")
    panel.sweep.rows.kind.setCurrentIndex(panel.sweep.rows.kind.findData("guidance"))
    panel.sweep.rows.values.setText("1..5:4")
    assert panel.run_sweep() is not None
    wait_idle(qtbot, panel.ctx)
    assert not panel.ctx.errors.history, panel.ctx.errors.history
    r = panel.last_sweep.result
    assert r.info["level"] == "token_embeds" and r.info["base_prompt"] == "a castle"
    assert [[cell.spec.guidance for cell in row] for row in r.images] == [[1, 1], [5, 5]]
    assert [cell.spec.terms[1][0] for cell in r.images[0]] == [-1.0, 1.0]
    assert r.grid.width > 2 * SIZE and r.grid.height > 2 * SIZE  # images plus labels
    assert panel.sweep.grid_view.has_image() and panel.sweep.export_button.isEnabled()
    gens = _images(panel.ctx.state.project)
    assert len(gens) == 5  # the grid and its four cells
    assert gens[0].id == panel.last_sweep_id and gens[0].provenance["sweep"]["y"]
    assert {tuple(g.provenance["sweep_cell"]) for g in gens[1:]} == {
        (0, 0), (0, 1), (1, 0), (1, 1)
    }  # fmt: skip
    prov = read_provenance(panel.export_grid(str(tmp_path / "grid.png")))
    assert prov["workbench"]["sweep"]["x"]["values"] == [-1.0, 1.0]
    assert prov["parameters"]


def test_encoded_prompt_is_a_diffusion_concept_in_the_library(qtbot, panel):
    with qtbot.waitSignal(panel.ctx.executor.job_finished, timeout=30000):
        assert panel.encode_concept(name="winter", prompt="a snowy winter") is not None
    wait_idle(qtbot, panel.ctx)
    info = panel.ctx.state.concept_info("winter")
    assert info is not None, panel.ctx.errors.history
    assert info.model_ref.kind == "diffusion" and info.model == "tiny-sd"
    assert info.method == "prompt_embedding"
    assert set(info.sites) == {"text_encoder.hidden"}  # SD1.x has no pooled vector
    library = panel.window().library_dock.model
    assert "tiny-sd" in library.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)

    # the concept is offered as a term and used at the noise-prediction level
    row = panel.terms.add_row("winter", -0.5)
    assert row.item.findText("winter") >= 0 and row.is_concept()
    panel.level.setCurrentIndex(panel.level.findData("noise"))
    assert panel.generate() is not None
    wait_idle(qtbot, panel.ctx)
    assert not panel.ctx.errors.history, panel.ctx.errors.history
    term = panel.last.comparison.edited.info["terms"][1]
    assert term["concept"] == "winter" and term["coefficient"] == -0.5
    assert panel.last.comparison.edited.info["level"] == "noise"

    # at the token-embedding level a text-encoder concept is refused before anything renders
    panel.level.setCurrentIndex(panel.level.findData("token_embeds"))
    started = []
    panel.ctx.executor.job_progress.connect(lambda *_: started.append(1))
    assert panel.generate() is None
    assert not started and panel.status.text().startswith("Not started:")
    assert "text-encoder output" in panel.ctx.errors.history[-1][1]


def test_a_concept_of_another_model_is_refused_with_advice(qtbot, panel):
    import torch

    from workbench.concepts.concept import Concept, ModelRef

    other = ModelRef(name="other-sd", d_model=8, file_hash="f" * 64, kind="diffusion")
    lm = ModelRef(name="tiny-llama", d_model=32, kind="lm")
    project = panel.ctx.state.project
    project.add_concept(
        Concept("faraway", {"text_encoder.hidden": torch.zeros(77, 8)}, other, {"prompt": "x"})
    )
    project.add_concept(Concept("happy", {"blocks.0.hook_resid_post": torch.zeros(32)}, lm))
    panel.ctx.project.refresh()
    assert [n for n, _ in panel.terms._concepts] == ["faraway"]  # LM concepts are not offered
    row = panel.terms.add_row("faraway", 1.0)
    assert panel.generate() is None
    assert "Load other-sd" in panel.ctx.errors.history[-1][1]
    row.item.setCurrentText("happy")
    assert panel.generate() is None
    assert "language-model concept" in panel.ctx.errors.history[-1][1]
    row.item.setCurrentText("")
    panel.terms.expression.setText("normalize(winter)")
    panel.terms.expression.editingFinished.emit()
    assert panel.generate() is None
    assert "weighted sums" in panel.ctx.errors.history[-1][1]


# ------------------------------------------------------------- without a local pipeline
def test_without_a_pipeline_load_waits_and_the_help_says_where_to_look(qtbot, window, tmp_path):
    """An empty Hugging Face cache: Load stays off on the explaining line, the help names the
    folders, single-file checkpoints and the cache's path; the demo entry loads."""
    from ui.main_window import settings
    from ui.panels.diffusion.files import RECENT_KEY

    settings().remove(RECENT_KEY)  # a first launch: no folder opened before
    p = window.view("diffusion")
    p._scanned = True
    p.cache_dir = str(tmp_path / "empty-hub")
    p.refresh_pipelines()
    qtbot.waitUntil(lambda: p.refresh_button.isEnabled(), timeout=20000)
    entries = p.state.entries
    assert entries[0].source is None and "No local pipeline found" in entries[0].label
    assert entries[-1].demo and entries[-1].source == "demo:tiny-sd"
    assert "random weights" in p.pipeline.itemText(len(entries) - 1)
    assert p.pipeline.currentIndex() == 0 and not p.load_button.isEnabled()
    assert not p.generate_button.isEnabled() and not p.cones.score_button.isEnabled()
    help_text = p.bar.help.text()
    assert p.bar.help.isVisibleTo(p)
    for words in ("model_index.json", ".safetensors", str(tmp_path / "empty-hub"), "HF_HOME"):
        assert words in help_text, words
    assert p.load() is None  # nothing loadable chosen: the same words, as a message
    assert "model_index.json" in window.ctx.errors.history[-1][1]

    p.pipeline.setCurrentIndex(len(entries) - 1)  # the user picks the demo
    assert p.state.entry.demo and p.load_button.isEnabled()
    with qtbot.waitSignal(window.ctx.executor.job_finished, timeout=60000):
        p.load()
    wait_idle(qtbot, window.ctx)
    assert p.dm is not None and p.dm.ref.source == "demo:tiny-sd", window.ctx.errors.history
    assert "random weights" in p.load_status.text()
    assert not p.bar.help.isVisibleTo(p)  # loaded: the help steps aside (? shows it again)
    p.bar.help_button.setChecked(True)
    assert p.bar.help.isVisibleTo(p)


def test_the_progress_bar_counts_the_steps_that_will_run(qtbot, window):
    p = window.view("diffusion")
    p._scanned = True
    assert p.steps.value() == 30
    assert p.progress.maximum() == 60 and p.progress.text() == "0 / 60 steps"  # not 0 / 100
    p.steps.setValue(2)
    assert p.progress.text() == "0 / 4 steps"  # baseline and edited, 2 steps each


def test_the_demo_pipeline_runs_levels_previews_and_provenance(qtbot, window):
    p = window.view("diffusion")
    p._scanned = True
    with qtbot.waitSignal(window.ctx.executor.job_finished, timeout=60000):
        p.load("demo:tiny-sd")
    p.steps.setValue(2)
    p.terms.add_row("snow", 0.5)
    p.level.setCurrentIndex(p.level.findData("noise"))
    assert p.generate() is not None
    wait_idle(qtbot, window.ctx)
    assert not window.ctx.errors.history, window.ctx.errors.history
    assert p.progress.value() == p.progress.maximum() == 4
    info = p.last.comparison.edited.info
    assert info["model"]["source"] == "demo:tiny-sd" and info["level"] == "noise"
    assert "demo pipeline (random weights)" in p.edited_col.caption.text()
    (g,) = _images(window.ctx.state.project)
    assert g.provenance["model"]["name"] == "demo (random weights)"


# --------------------------------------------------------------- the state and its views
def test_every_control_is_a_view_of_the_state(qtbot, panel):
    """Values set on the state show in the widgets, and the widgets write the state."""
    st = panel.state
    st.steps, st.seed, st.guidance, st.width = 7, 42, 3.5, 128
    assert (panel.steps.value(), panel.seed.value()) == (7, 42)
    assert (panel.guidance.value(), panel.width_spin.value()) == (3.5, 128)
    assert panel.progress.maximum() == 14
    st.prompt, st.negative = "a lighthouse", "fog"
    assert panel.prompt.toPlainText() == "a lighthouse" and panel.negative.text() == "fog"
    st.level = "token_embeds"
    assert panel.level.currentData() == "token_embeds"
    from ui.panels.diffusion.jobs import TermRow

    st.terms = (TermRow("winter", 0.6), TermRow("summer", -0.4))
    assert [(r.text(), r.coef.value()) for r in panel.terms.rows] == [
        ("winter", 0.6), ("summer", -0.4)
    ]  # fmt: skip
    assert panel.terms.expression.text() == "0.6*winter - 0.4*summer"
    assert panel.sweep.columns.term.count() == 3  # the prompt and the two terms

    panel.steps.setValue(3)
    panel.prompt.setPlainText("a harbour")
    panel.level.setCurrentIndex(panel.level.findData("noise"))
    panel.terms.rows[0].coef.setValue(0.25)
    panel.bar.device.setCurrentText("cpu")
    assert (st.steps, st.prompt, st.level, st.device) == (3, "a harbour", "noise", "cpu")
    assert st.terms[0] == TermRow("winter", 0.25)
    panel.terms.expression.setText("normalize(winter)")
    panel.terms.expression.editingFinished.emit()
    assert "weighted sums" in st.terms_error


# ------------------------------------------------------------------ concept neurons
def test_concept_neurons_scored_stored_and_switched_off_in_generation(qtbot, panel):
    c = panel.cones
    c.concept.setText("a dog on the grass")
    c.steps.setValue(2)
    c.top_k.setValue(4)
    c.random_sets.setValue(2)
    c.exact_check.setValue(2)
    assert panel.score_neurons() is not None
    wait_idle(qtbot, panel.ctx)
    assert not panel.ctx.errors.history, panel.ctx.errors.history
    out = panel.state.last_cones
    assert out is not None and len(out.scores.neurons) == 64
    assert c.table.rowCount() == 50 and c.table.item(0, 1).text().startswith(
        out.scores.top(1)[0][0]
    )
    assert "Top 4 off" in c.summary.text() and c.figure.has_image()
    assert c.progress.value() == c.progress.maximum()
    project = panel.ctx.state.project
    run = project.load_run(panel.state.last_cones_id)
    assert run.analysis == "concept_neurons" and run.result["ablation"]["k"] == 4
    assert any(f.spec.get("run_id") == run.id for f in project.figures())

    # the top set, switched off, as the fourth level: baseline | edited from one seed
    c.use_k.setValue(4)
    c.use_scale.setValue(0.0)
    c.use_button.click()
    assert panel.state.level == "neurons" and panel.level.currentData() == "neurons"
    assert panel.form.neuron_box.isVisibleTo(panel)
    assert "top 4 for 'a dog on the grass'" in panel.form.neuron_label.text()
    panel.prompt.setPlainText("a dog on the grass")
    assert panel.generate() is not None
    wait_idle(qtbot, panel.ctx)
    cmp = panel.last.comparison
    assert cmp.edited.info["neurons"]["count"] == 4 and "neurons" not in cmp.baseline.info
    assert abs(cmp.edited.array - cmp.baseline.array).max() > 0
    assert "× 0" in panel.edited_col.caption.text()

    # scale 1 leaves the image as the plain prompt's, bit for bit
    panel.form.neuron_scale.setValue(1.0)
    assert panel.state.neurons.scale == 1.0
    assert panel.generate() is not None
    wait_idle(qtbot, panel.ctx)
    cmp = panel.last.comparison
    assert (cmp.edited.array == cmp.baseline.array).all()
