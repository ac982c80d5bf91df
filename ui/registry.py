"""Where views plug into the main window: central tabs and docks, by key.

The core views register themselves in :mod:`ui.main_window`. Another package adds a view
without touching the window::

    from ui.registry import register_panel
    register_panel("heads", "Heads", "ui.panels.heads.panel:HeadsPanel", order=40)

A factory is ``"module:Class"`` (imported when the view is first built, so heavy imports stay
off the startup path) or a callable; it is called with the :class:`ui.context.AppContext`.
``lazy=True`` tabs are built when first shown or asked for (``ctx.views[key]``), or once the
model load at start has ended; ``lazy=True`` docks right after the window has appeared.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt


@dataclass(frozen=True)
class ViewSpec:
    key: str
    title: str
    factory: str | Callable[[Any], Any]
    order: int = 100
    area: Qt.DockWidgetArea | None = None  # docks only
    lazy: bool = True
    shortcut: str = ""

    def build(self, ctx: Any) -> Any:
        factory = self.factory
        if isinstance(factory, str):
            module, _, name = factory.partition(":")
            factory = getattr(importlib.import_module(module), name)
        return factory(ctx)


PANELS: dict[str, ViewSpec] = {}
DOCKS: dict[str, ViewSpec] = {}


def register_panel(
    key: str,
    title: str,
    factory: str | Callable[[Any], Any],
    order: int = 100,
    lazy: bool = True,
    shortcut: str = "",
) -> None:
    """Add a central tab (e.g. Heads, Diffusion)."""
    PANELS[key] = ViewSpec(key, title, factory, order, None, lazy, shortcut)


def register_dock(
    key: str,
    title: str,
    factory: str | Callable[[Any], Any],
    area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
    order: int = 100,
    lazy: bool = True,
) -> None:
    """Add a dock widget."""
    DOCKS[key] = ViewSpec(key, title, factory, order, area, lazy)


def panels() -> list[ViewSpec]:
    return sorted(PANELS.values(), key=lambda s: s.order)


def docks() -> list[ViewSpec]:
    return sorted(DOCKS.values(), key=lambda s: s.order)
