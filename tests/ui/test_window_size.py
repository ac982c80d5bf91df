"""The main window fits a 1366×768 laptop screen: wide panels scroll in their tabs instead of
widening the window, docks stay on screen, a saved size never exceeds the screen."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QScrollArea

MAX_W, MAX_H = 1280, 720


@pytest.fixture(autouse=True)
def _heads_registered():
    """The Heads tab is the widest: these checks mean nothing without it."""
    from ui import registry

    assert "heads" in registry.PANELS


def _settle(qtbot) -> None:
    QApplication.processEvents()
    qtbot.wait(50)
    QApplication.processEvents()


def _assert_small_minimum(w) -> None:
    for size in (w.minimumSizeHint(), w.minimumSize()):
        assert size.width() <= MAX_W and size.height() <= MAX_H, size


def test_minimum_size_fits_a_laptop_screen(qtbot, window):
    w = window
    _settle(qtbot)
    _assert_small_minimum(w)
    for key in w.panels:  # showing any tab (the Heads tab is the widest) changes nothing
        w.show_panel(key)
        _settle(qtbot)
        _assert_small_minimum(w)


def test_every_tab_and_dock_usable_at_1366x768(qtbot, window):
    w = window
    w.resize(1366, 768)
    _settle(qtbot)
    assert (w.width(), w.height()) == (1366, 768)
    assert len(w.panels) >= 5 and "heads" in w.panels
    for key, panel in w.panels.items():
        w.show_panel(key)
        _settle(qtbot)
        assert (w.width(), w.height()) == (1366, 768), key
        assert w.tabs.currentWidget() is panel, key
        assert w.tabs.indexOf(panel) == w.tabs.currentIndex() >= 0, key
        assert panel.isVisible(), key
        page = w.tabs.page(panel)
        assert isinstance(page, QScrollArea) and page.widget() is panel, key
        # a panel wider than the page keeps its minimum and scrolls instead of being squeezed
        assert panel.width() >= min(panel.minimumSizeHint().width(), page.viewport().width())
        if panel.minimumSizeHint().width() > page.viewport().width():
            assert page.horizontalScrollBar().maximum() > 0, key
    window_rect = QRect(0, 0, w.width(), w.height())
    for key, dock in w.docks.items():
        assert dock.isVisible() and not dock.isFloating(), key
        assert dock.width() > 100 and dock.height() > 100, (key, dock.size())
        assert window_rect.contains(dock.geometry()), (key, dock.geometry())


def test_shortcut_and_tab_lookups_take_the_panel(qtbot, window):
    w = window
    tabs = w.tabs
    for i in range(tabs.count()):
        panel = tabs.widget(i)
        assert panel in w.panels.values()
        assert tabs.indexOf(panel) == i
        tabs.setCurrentWidget(panel)
        assert tabs.currentIndex() == i and tabs.currentWidget() is panel


def test_long_status_message_does_not_widen_the_window(qtbot, window):
    w = window
    w.status.job_label.setText("Loading a-model-with-a-very-long-name: " + "reading weights " * 40)
    w.status.model_label.setText("Model: " + "x" * 300)
    _settle(qtbot)
    _assert_small_minimum(w)


def test_models_dock_list_and_folded_options(qtbot, window):
    from PySide6.QtCore import Qt

    dock = window.models_dock
    assert (
        dock.sources.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    )  # long names are elided, with the whole name in the tooltip
    item = dock.sources.item(0)
    assert item.text() in item.toolTip()
    assert not dock.options.isVisible()  # folded: no empty frame left behind
    dock.options_button.setChecked(True)
    _settle(qtbot)
    assert dock.options.isVisible() and dock.device.isVisible()
    dock.options_button.setChecked(False)
    _settle(qtbot)
    assert not dock.options.isVisible()


def test_saved_geometry_is_kept_on_screen(qtbot, window):
    from ui_helpers import make_window

    w = window
    w.resize(5000, 4000)
    _settle(qtbot)
    w.save_layout()
    w.close()
    w2 = make_window(qtbot)
    try:
        _settle(qtbot)
        avail = w2.screen().availableGeometry()
        frame = w2.frameGeometry()
        assert frame.width() <= avail.width() and frame.height() <= avail.height(), frame
        assert avail.contains(frame), (frame, avail)
    finally:
        w2.resize(1440, 900)
        w2.close()
