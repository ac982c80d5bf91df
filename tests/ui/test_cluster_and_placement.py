"""Preferences → cluster address (where long sweeps run) and the Models dock's placement
options (device map, memory limits, offload folder) reaching the loader."""

from __future__ import annotations

import pytest
from ui_helpers import wait_idle


def test_preferences_store_the_cluster_address(qtbot):
    pytest.importorskip("ray")
    from ui.dialogs.preferences import PreferencesDialog, cluster_address

    assert cluster_address() is None  # off by default: sweeps run in this process
    dlg = PreferencesDialog()
    qtbot.addWidget(dlg)
    w = dlg.cluster
    w.enabled.setChecked(True)
    w.address.setText("nowhere")
    assert "cluster address 'nowhere'" in w.note.text() and not w.is_valid()
    dlg._accept()  # refused: stays open, nothing stored
    assert cluster_address() is None
    w.address.setText("local:3")
    assert w.is_valid()
    dlg._accept()
    assert cluster_address() == "local:3"
    w.enabled.setChecked(False)
    w.save()
    assert cluster_address() is None


def test_the_heads_job_sends_only_sweeps_to_the_cluster(monkeypatch):
    """The Heads tab's job passes the address on for ablation/patching, never for the rest."""
    import workbench.heads as heads_pkg
    from ui.panels.heads.jobs import score_with_figures_job
    from workbench.heads.score import ScoreSpec

    seen = []

    def fake_score_job(hm, spec, cluster=None):
        seen.append((spec.kind, cluster))
        raise RuntimeError("stop here")
        yield  # a generator

    monkeypatch.setattr(heads_pkg, "score_job", fake_score_job)
    for kind in ("ablation", "induction"):
        job = score_with_figures_job(None, ScoreSpec(kind), None, ("png",), "local:2")
        with pytest.raises(RuntimeError, match="stop here"):
            next(job)
    assert seen == [("ablation", "local:2"), ("induction", None)]


def test_placement_options_reach_the_loader(qtbot, window, tiny_model_dir, tmp_path):
    dock = window.models_dock
    dock.device.setCurrentText("cpu")
    dock.placement.device_map.setCurrentText('{"0-1": "cpu", "2": "disk"}')
    dock.placement.offload.setText(str(tmp_path / "off"))
    with qtbot.waitSignal(window.ctx.executor.job_finished, timeout=60000):
        dock.load(str(tiny_model_dir))
    wait_idle(qtbot, window.ctx)
    hm = window.ctx.state.models[0].hm
    assert hm.model.hf_device_map["model.layers.2"] == "disk"
    # a wrong map is the loader's clear message, not a traceback
    dock.placement.device_map.setCurrentText('{"0-2": "disk"}')
    dock.placement.offload.setText("")
    with qtbot.waitSignal(window.ctx.executor.job_finished, timeout=60000):
        dock.load(str(tiny_model_dir))
    wait_idle(qtbot, window.ctx)
    assert "give an offload folder" in str(window.ctx.errors.history[-1])
