"""Help → Getting started: the guide's buttons drive the real panels, step by step, and each
step is marked done from what the app's state shows."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from ui_helpers import make_window, wait_idle


def _help_action(window, text):
    help_menu = next(a.menu() for a in window.menuBar().actions() if "Help" in a.text())
    return next(a for a in help_menu.actions() if a.text() == text)


def _drive(qtbot, window, dock, key, timeout=120000):
    button = dock.buttons[key]
    assert button.isEnabled(), (key, dock.status[key].text())
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.running is None, timeout=timeout)
    wait_idle(qtbot, window.ctx)
    assert dock.done[key], (key, dock.status[key].text(), window.ctx.errors.history)


def test_guide_drives_the_panels_on_a_tiny_model(qtbot, loaded_window):
    w = loaded_window
    _help_action(w, "Getting started").trigger()
    from ui.guide import GettingStartedDock

    dock = w.findChild(GettingStartedDock)
    assert dock.isVisible() and not dock.isFloating()
    assert not dock.isModal() if hasattr(dock, "isModal") else True
    # the model is loaded already: step 1 says so, step 2 is next, 3 and 4 wait
    assert dock.done["load"] and "loaded" in dock.status["load"].text()
    assert dock.buttons["heads"].isEnabled()
    assert not dock.buttons["extract"].isEnabled() and not dock.buttons["steer"].isEnabled()

    _drive(qtbot, w, dock, "heads")
    heads = w.view("heads")
    assert w.tabs.currentWidget() is w.panels["heads"]
    assert heads.state.scores is not None and heads.state.scores.kind == "induction"
    assert "Top induction heads: L" in dock.status["heads"].text()

    n_before = len(w.ctx.state.concepts)
    _drive(qtbot, w, dock, "extract")
    assert len(w.ctx.state.concepts) == n_before + 1
    info = w.ctx.state.concept_info(dock.concept_name)
    assert info is not None and list(info.sites) == [dock.site()] == ["blocks.1.hook_resid_post"]

    _drive(qtbot, w, dock, "steer")
    preview = w.view("preview")
    assert w.tabs.currentWidget() is w.panels["preview"]
    assert preview.vector.currentText() == dock.concept_name
    assert preview.coef.value() == 4.0
    assert preview.last is not None and preview.last.prompt == "I think that this movie was"
    assert dock.status["steer"].text().startswith("✓ Steered")
    # the generation is in the project, as any preview generation is
    assert any(g.prompt == preview.last.prompt for g in w.ctx.state.project.generations())
    assert not w.ctx.errors.history
    # opening it again raises the same guide
    _help_action(w, "Getting started").trigger()
    assert w.findChild(GettingStartedDock) is dock


def test_guide_step_refused_without_a_concept_says_what_to_do(qtbot, loaded_window):
    from ui.guide import show_getting_started

    dock = show_getting_started(loaded_window)
    dock.run_step("steer")  # out of order, on purpose: the button would be disabled
    assert "do step 3" in dock.status["steer"].text()
    assert dock.running is None and not dock.done["steer"]
    assert loaded_window.ctx.errors.history


@pytest.mark.embedded
@pytest.mark.slow
def test_guide_on_the_embedded_model_and_screenshot(qtbot, tmp_path):
    """The whole experiment from a fresh window on SmolLM2 (load included), and a picture."""
    w = make_window(qtbot)
    w.resize(1500, 900)
    from ui.guide import show_getting_started

    dock = show_getting_started(w)
    assert not dock.done["load"] and dock.buttons["load"].isEnabled()
    assert not dock.buttons["heads"].isEnabled()
    for key in ("load", "heads", "extract", "steer"):
        _drive(qtbot, w, dock, key, timeout=300000)
    assert dock.site() == "blocks.12.hook_resid_post"
    top = w.view("heads").state.scores.top(3)
    assert (18, 6) in [(L, h) for L, h, _ in top], top
    out = os.environ.get("WORKBENCH_GUIDE_SCREENSHOT", str(tmp_path / "getting_started.png"))
    assert w.grab().save(out)
    w.close()
