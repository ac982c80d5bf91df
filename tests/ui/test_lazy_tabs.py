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


def test_work_done_while_the_model_loads_lands_in_a_scratch_project(qtbot):
    """The scratch project is made once the load ends; a write before that (an import, a
    prompt set, a generation) starts it at once instead of being dropped."""
    w = _new_window(qtbot)
    w.show()
    w.ctx.state.loading = "a model"  # as if a load were under way
    w.finish_startup(model=None)
    assert w.ctx.state.project is None
    ctx = w.ctx
    gid = ctx.project.write(
        "saving a generation",
        lambda: ctx.state.project.add_generation(
            medium="text", prompt="p", baseline="b", steered="s", provenance={}
        ),
    )
    assert gid is not None and ctx.state.project is not None and ctx.state.project_is_scratch
    path = ctx.state.project.path
    ctx.state.loading = None  # the load ends: nothing replaces the project holding the work
    qtbot.waitUntil(lambda: not w._placeholders, timeout=30000)
    assert ctx.state.project.path == path
    assert [g.baseline for g in ctx.state.project.generations(images=False)] == ["b"]
    w.close()


def test_closing_during_the_load_leaves_nothing_to_do_after_it(qtbot, tmp_path):
    from workbench.paths import data_dir

    w = _new_window(qtbot)
    w.show()
    w.ctx.state.loading = "a model"
    w.finish_startup(model=None)
    scratch = set((data_dir() / "scratch").glob("*.wbproj"))
    w.close()
    w.ctx.state.loading = None  # the load's end arrives after the window closed
    qtbot.wait(100)
    assert w.ctx.state.project is None
    assert set((data_dir() / "scratch").glob("*.wbproj")) == scratch
