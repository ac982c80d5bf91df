"""The Diffusion panel's state as a Qt-free evented model (psygnal): the views subscribe to
``state.events.<field>`` and write back through plain assignment, so a value set in code, by a
test or by a restored session shows in every widget that displays it.

Nothing here imports Qt, torch or diffusers.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, ClassVar

from psygnal import SignalGroupDescriptor

from ui.panels.diffusion.jobs import TermRow

#: job channels of the executor (one job per channel at a time)
GENERATE, SWEEP, LOAD, ENCODE, CONES = (
    "diffusion",
    "diffusion-sweep",
    "diffusion-load",
    "diffusion-encode",
    "diffusion-cones",
)


@dataclass(frozen=True)
class PipelineEntry:
    """One entry of the pipeline list: a folder opened before, a Hugging Face cache snapshot,
    or the demo pipeline. ``source`` None: a line that only explains (nothing to load)."""

    label: str
    source: str | None
    config: str | None = None
    tip: str = ""
    supported: bool = True
    demo: bool = False

    @property
    def loadable(self) -> bool:
        return self.source is not None and self.supported

    def data(self) -> dict[str, str | None] | None:
        """The combo item's data (``{"source", "config"}``), None for an explaining line."""
        return None if self.source is None else {"source": self.source, "config": self.config}


# Results and the loaded pipeline hold tensors and arrays: a new object is a change (``==`` on
# them would compare arrays element by element, or walk a whole pipeline).
_BY_IDENTITY = {
    name: operator.is_ for name in ("dm", "neurons", "last", "last_sweep", "last_cones")
}


@dataclass
class DiffusionState:
    """What the Diffusion panel shows and runs. Assign whole values (tuples) so events fire:
    ``state.events.<field>`` emits the new value whenever a field changes."""

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor(equality_operators=_BY_IDENTITY)

    # ------------------------------------------------------------ the pipeline
    entries: tuple[PipelineEntry, ...] = ()
    chosen: int = -1  # index into ``entries``; -1: none
    device: str = "auto"
    dtype: str = "auto"
    offload: Any = False  # False | "model" | "sequential"
    dm: Any = None  # the loaded workbench.diffusion.loading.DiffusionModel
    load_status: str = "No pipeline loaded."
    cache_dir: str | None = None  # None: the default Hugging Face cache
    # ---------------------------------------------------------------- the edit
    prompt: str = "a castle on a hill"
    negative: str = ""
    level: str = "text_encoder"
    terms: tuple[TermRow, ...] = ()
    terms_error: str = ""
    neurons: Any = None  # workbench.diffusion.cones.NeuronEdit for the "neurons" level
    # ------------------------------------------------------------------ sampling
    seed: int = 0
    steps: int = 30
    guidance: float = 7.5
    width: int = 0  # 0: the model's default
    height: int = 0
    preview_every: int = 1  # 0: no previews
    # ------------------------------------------------------------------- runs
    running: tuple[str, ...] = ()  # channels with a job in flight
    done: int = 0  # denoising steps done in the running generation
    total: int = 60  # of how many (baseline + edited)
    status: str = "Choose a pipeline and press Load, write a prompt, add terms, then Generate."
    last: Any = None  # jobs.PairResult
    last_generation_id: int | None = None
    last_sweep: Any = None  # jobs.SweepOutput
    last_sweep_id: int | None = None
    last_cones: Any = None  # workbench.diffusion.cones.ConeScores
    last_cones_id: int | None = None

    # -------------------------------------------------------------- derived
    @property
    def entry(self) -> PipelineEntry | None:
        return self.entries[self.chosen] if 0 <= self.chosen < len(self.entries) else None

    @property
    def can_load(self) -> bool:
        """A loadable pipeline is chosen and no load is under way."""
        e = self.entry
        return e is not None and e.loadable and LOAD not in self.running

    @property
    def loaded(self) -> bool:
        return self.dm is not None

    def is_running(self, channel: str) -> bool:
        return channel in self.running

    def start(self, channel: str) -> None:
        if channel not in self.running:
            self.running = (*self.running, channel)

    def finish(self, channel: str) -> None:
        self.running = tuple(c for c in self.running if c != channel)

    def expected_steps(self) -> int:
        """Denoising steps of one Generate: the baseline and the edited image."""
        return 2 * int(self.steps)

    def choose_source(self, source: str, config: str | None = None) -> bool:
        """Select the entry with this source; False when there is none."""
        for i, e in enumerate(self.entries):
            if e.source == source and e.config == config:
                self.chosen = i
                return True
        return False
