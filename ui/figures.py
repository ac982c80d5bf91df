"""Publication figures: the engine's renderer (:mod:`workbench.figures`), so that a headless run
draws exactly what the window exports."""

from __future__ import annotations

from workbench.figures import FORMATS, export, render, render_all

__all__ = ["FORMATS", "export", "render", "render_all"]
