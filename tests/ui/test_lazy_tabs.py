"""Tabs not on screen are built when first shown or asked for, or once the model has loaded
(ui/main_window.py: MainWindow.build_panel, LazyViews, PanelMap, after_loading)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QScrollArea, QWidget

from ui import registry


def _new_window(qtbot):
    from ui.app import create_window

    w = create_window(theme_choice="light", interactive=False)
    qtbot.addWidget(w)
    w.ctx.project.ask = False
    return w


def test_every_tab_is_in_the_bar_from_the_first_paint_and_built_on_demand(qtbot):
    w = _new_window(qtbot)
    w.show()
    assert w.tabs.tabText(0) == "Vector canvas"
    assert [w.tabs.tabText(i) for i in range(w.tabs.count())] == [
        s.title for s in registry.panels()
    ]
    w.finish_startup(model=None)
    hidden = [k for k in w._panel_specs if k in w._placeholders]
    assert {"heads", "diffusion", "analysis"} <= set(hidden)
    # asking whether a view exists, or visiting the built ones, builds nothing
    assert "heads" in w.ctx.views and "heads" in w.panels and "nope" not in w.ctx.views
    assert all(v is not None for v in list(w.ctx.views.values()))
    assert "heads" in w._placeholders
    # asking for it by key builds it, once, into its own page
    heads = w.ctx.views["heads"]
    assert heads.objectName() == "panel_heads" and "heads" not in w._placeholders
    assert w.view("heads") is heads is w.panels["heads"] is w.ctx.views.get("heads")
    page = w.tabs.page(heads)
    assert isinstance(page, QScrollArea) and page.widget() is heads
    assert w.ctx.views.get("no such view") is None
    with pytest.raises(KeyError):
        w.ctx.views["no such view"]
    # showing a tab builds it
    index = list(w._panel_specs).index("analysis")
    w.tabs.setCurrentIndex(index)
    assert "analysis" not in w._placeholders and w.tabs.currentWidget() is w.view("analysis")
    # and the rest are built one per turn of the event loop
    w.build_remaining_panels()
    qtbot.waitUntil(lambda: not w._placeholders, timeout=30000)
    assert set(w.ctx.views) >= set(w._panel_specs)
    w.close()


def test_a_tab_that_cannot_be_built_shows_the_error_and_the_rest_still_build(qtbot, monkeypatch):
    def broken(ctx):
        raise RuntimeError("this extension is broken")

    monkeypatch.setitem(
        registry.PANELS, "broken", registry.ViewSpec("broken", "Broken", broken, order=999)
    )
    w = _new_window(qtbot)
    w.show()
    w.finish_startup(model=None)
    assert w.view("broken") is None
    assert any("Broken" in context for context, _ in w.ctx.errors.history)
    w.build_remaining_panels(one_per_turn=False)  # ends although one tab never builds
    assert list(w._placeholders) == ["broken"]
    assert isinstance(w.tabs.widget(w.tabs.count() - 1), QWidget)
    w.close()


def test_deferred_work_waits_for_the_model_load_to_end(qtbot):
    w = _new_window(qtbot)
    w.show()
    calls: list[str] = []
    w.after_loading(lambda: calls.append("now"))  # nothing loading: at once
    assert calls == ["now"]
    w.ctx.state.loading = "a model"
    w.after_loading(lambda: calls.append("later"))
    qtbot.wait(50)
    assert calls == ["now"]
    w.ctx.state.loading = None  # loaded, failed or cancelled
    qtbot.waitUntil(lambda: calls == ["now", "later"], timeout=5000)
    w.ctx.state.loading = "another"
    w.ctx.state.loading = None
    qtbot.wait(50)
    assert calls == ["now", "later"]  # once
    w.finish_startup(model=None)
    w.close()
