"""The Preview and Sweep tabs' forms as Qt-free evented models (psygnal), like the canvas's
:class:`ui.canvas_model.CanvasModel` and the Heads tab's ``HeadsState``.

Each widget of a form is bound two ways to one field (:mod:`ui.binding`): a
user's edit writes the field, and a change of the field in code (a saved sweep shown again,
"Use selected", a test) shows in the widget. The panels read their settings from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from psygnal import evented


@evented
@dataclass
class PreviewForm:
    """What the Preview tab generates with."""

    if TYPE_CHECKING:  # made by @evented at run time: form.events.<field> is a SignalInstance
        events: ClassVar[Any]

    prompt: str = "I think that this movie was"
    model_key: str | None = None  # a loaded model's key (AppState.models)
    vector: str = ""  # a library concept's name, or the canvas result's label
    site: str = ""
    coefficient: float = 4.0


@evented
@dataclass
class SweepForm:
    """What the Sweep tab sweeps."""

    if TYPE_CHECKING:  # made by @evented at run time: form.events.<field> is a SignalInstance
        events: ClassVar[Any]

    prompt: str = "I think that this movie was"
    prompt_source: str = ""  # a prompt set's name; "" for the prompt above
    concept: str = ""
    site_kind: str = "resid_post"
    layers: str = ""  # as typed: "2, 4, 6" or "0-12:3"
    coefficients: str = "-8, -4, 0, 4, 8"
    new_tokens: int = 12
    targets: str = "great, wonderful, terrible"
    heatmap_metric: str = "kl"
