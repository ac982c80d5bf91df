"""The Analyses tab: one page per analysis (logit lens, activation patching, ...).

A page is a ``QWidget`` built from the :class:`ui.context.AppContext`; it is registered here by
key, title and a ``"module:Class"`` factory (imported when the tab is first built, so heavy
imports stay off the startup path). Another helper adds a page with one call, e.g.::

    from ui.panels.analysis import register_page
    register_page("depth", "Concept depth", "ui.panels.analysis.depth_page:DepthPage", order=50)

Put the call at the bottom of this module (the tab reads :data:`PAGES` when it is built).
Most pages derive from :class:`ui.panels.analysis._page.AnalysisPage`, which gives a run and a
cancel button, a progress bar, the figure (the engine's spec, drawn by matplotlib) with
PNG/SVG/PDF export, and storage of the run and its figure in the open project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    factory: str | Callable[[Any], Any]
    order: int = 100

    def build(self, ctx: Any) -> Any:
        factory = self.factory
        if isinstance(factory, str):
            import importlib

            module, _, name = factory.partition(":")
            factory = getattr(importlib.import_module(module), name)
        return factory(ctx)


PAGES: dict[str, PageSpec] = {}


def register_page(
    key: str, title: str, factory: str | Callable[[Any], Any], order: int = 100
) -> None:
    """Add a page to the Analyses tab (a later call with the same key replaces it)."""
    PAGES[key] = PageSpec(key, title, factory, order)


def pages() -> list[PageSpec]:
    return sorted(PAGES.values(), key=lambda s: s.order)


# ---------------------------------------------------------------- the pages
# One line per page, in the order of the list (see register_page).
register_page("logit_lens", "Logit lens", "ui.panels.analysis.lens_page:LogitLensPage", 10)
register_page("patching", "Patching", "ui.panels.analysis.patching_page:PatchingPage", 20)
register_page(
    "subspace", "Subspace patching", "ui.panels.analysis.subspace_page:SubspacePatchingPage", 25
)
register_page("layer_dla", "Logit attribution", "ui.panels.analysis.dla_page:MlpDlaPage", 30)
register_page("head_ov", "Head OV circuit", "ui.panels.analysis.ov_page:HeadOvPage", 40)
register_page("training", "Training", "ui.panels.training.training_page:TrainingPage", 70)
register_page(
    "task_vectors", "Task vectors", "ui.panels.training.task_vector_page:TaskVectorPage", 71
)
register_page("successor", "Successor heads", "ui.panels.analysis.successor_page:SuccessorPage", 40)
register_page("depth", "Concept depth", "ui.panels.analysis.depth_page:DepthPage", 50)
register_page("axis", "Axis projection", "ui.panels.analysis.axis_page:AxisPage", 60)
