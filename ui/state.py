"""The app's state as plain Python objects (no Qt): widgets subscribe to ``state.events``.

:class:`AppState` holds what more than one view shows: the loaded models, the open project, the
concept library's list, the prompt sets and the selection. Views connect
``state.events.<field>`` to ``_on_<field>_changed`` and keep no second copy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from psygnal import Signal, evented

from ui.canvas_model import CanvasModel

if TYPE_CHECKING:  # the store (and SQLAlchemy) load after the window is shown
    from workbench.store.records import ConceptInfo, ConceptRow

MAX_MODELS = 2  # one to work with, one to compare against

_keys = itertools.count(1)


@dataclass(frozen=True)
class LoadedModel:
    """A model in memory. ``hm`` is the engine's HookedModel (only touched by model jobs)."""

    key: str
    name: str
    hm: Any = field(compare=False, repr=False)
    summary: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_hooked(cls, hm: Any) -> LoadedModel:
        info = dict(getattr(hm, "info", {}) or {})
        summary = {
            "device": info.get("device", str(getattr(hm, "device", "?"))),
            "dtype": info.get("dtype", str(getattr(hm, "dtype", "?")).removeprefix("torch.")),
            "param_bytes": int(info.get("param_bytes") or _param_bytes(hm)),
            "n_layers": hm.n_layers,
            "n_heads": hm.n_heads,
            "d_head": hm.d_head,
            "d_model": hm.d_model,
            "architecture": hm.ref.architecture,
            "source": (info.get("source") or {}).get("path", hm.ref.source),
        }
        return cls(f"m{next(_keys)}", hm.ref.name, hm, summary)

    @property
    def ref(self) -> Any:
        return self.hm.ref

    def describe(self) -> str:
        s = self.summary
        mem = s["param_bytes"] / 2**20
        return (
            f"{s['n_layers']} layers · {s['n_heads']} heads × {s['d_head']} · width {s['d_model']}\n"
            f"{s['device']} · {s['dtype']} · {mem:,.0f} MiB"
        )


def _param_bytes(hm: Any) -> int:
    try:
        return sum(p.numel() * p.element_size() for p in hm.model.parameters())
    except (AttributeError, RuntimeError):  # a model without local parameters
        return 0


@evented
@dataclass
class AppState:
    """What the window shows. Assign whole values (tuples) so that events fire."""

    if TYPE_CHECKING:  # made by @evented at run time: state.events.<field> is a SignalInstance
        events: ClassVar[Any]

    # A generation was stored (its id) or the project's list changed (None): the Generations
    # dock listens; a signal, not a field, since nothing is kept.
    generations_changed = Signal(object)
    # A job is about to read a prompt set: the Prompts dock writes a pending table edit now
    # (psygnal delivers it before emit returns); see check_prompt_set_saved.
    flush_prompt_edits = Signal()

    models: tuple[LoadedModel, ...] = ()
    active_model: str | None = None  # key of the model that extraction and preview use
    loading: str | None = None  # name of the model being loaded
    project: Any = None  # workbench.store.Project, or None before startup finishes
    project_is_scratch: bool = False  # an untitled project in the data folder
    save_status: str = ""  # what the autosave indicator says
    concepts: tuple[ConceptRow, ...] = ()  # Project.concept_rows(summary=False): names, models

    selected_concepts: tuple[str, ...] = ()  # the library's selection
    # The vector canvas (its own events: ``canvas.changed``); the Preview steers with its result.
    canvas: CanvasModel = field(default_factory=CanvasModel)
    prompt_sets: tuple[dict, ...] = ()  # {name, kind, items, source, builtin}
    current_prompt_set: str | None = None
    # set name -> why its table, as the Prompts dock shows it, could not be saved
    prompt_set_problems: dict[str, str] = field(default_factory=dict)

    # -------------------------------------------------------------- models
    def model(self, key: str | None = None) -> LoadedModel | None:
        key = key or self.active_model
        return next((m for m in self.models if m.key == key), None)

    def add_model(self, m: LoadedModel) -> None:
        models = list(self.models)
        if len(models) >= MAX_MODELS:  # the oldest non-active one makes room
            drop = next((x for x in models if x.key != self.active_model), models[0])
            models.remove(drop)
        self.models = (*models, m)
        if self.model(self.active_model) is None or len(self.models) == 1:
            self.active_model = m.key

    def remove_model(self, key: str) -> None:
        self.models = tuple(m for m in self.models if m.key != key)
        if self.active_model == key:
            self.active_model = self.models[0].key if self.models else None

    # ------------------------------------------------------------ concepts
    def concept_info(self, name: str) -> ConceptInfo | None:
        """The concept's per-site details (``sites``, ``norms``, ``shapes``...), or None.

        ``concepts`` lists names and models only (a research project has 10,000 concepts of 30
        sites each); the details are read from the project the first time they are asked for
        and kept while the listed row is the same (a refresh lists new rows).
        """
        row = next((c for c in self.concepts if c.name == name), None)
        if row is None or self.project is None:
            return None
        # {name: (the listed row, its details)}, kept in the instance's __dict__ directly: not a
        # field, so reading details never fires a change event
        cache: dict[str, tuple[ConceptRow, ConceptInfo]] = self.__dict__.setdefault(
            "_concept_details", {}
        )
        if name in cache and cache[name][0] is row:
            return cache[name][1]
        full = self.project.concept_infos(names=[name])
        if not full:
            return None
        cache[name] = (row, full[0])
        return full[0]

    def concept_names(self) -> list[str]:
        return [c.name for c in self.concepts]

    def prompt_set(self, name: str | None = None) -> dict | None:
        name = name or self.current_prompt_set
        return next((p for p in self.prompt_sets if p["name"] == name), None)

    def check_prompt_set_saved(self, name: str) -> None:
        """Before a job reads set ``name``: have pending edits written, and refuse a table that
        could not be saved, rather than let the job use the last version that could.

        Raises
        ------
        PromptSetError
            The set's table as shown is not saved (an incomplete row, a missing column).
        """
        self.flush_prompt_edits.emit()
        problem = self.prompt_set_problems.get(name)
        if problem:
            from workbench.errors import PromptSetError

            raise PromptSetError(
                f"The prompt set {name!r} as shown in the Prompts dock is not saved: {problem} "
                "Fix the table (or pick another set) and try again."
            )


class ConceptCache:
    """Loaded concepts (tensors) by name, filled on demand from the project."""

    changed = Signal()

    def __init__(self, state: AppState):
        self._state = state
        self._cache: dict[str, Any] = {}
        state.events.project.connect(self.clear)
        state.events.concepts.connect(self._prune)

    def clear(self, *_: Any) -> None:
        self._cache.clear()

    def _prune(self, infos: tuple[ConceptRow, ...]) -> None:
        ids = {c.id for c in infos}
        self._cache = {k: v for k, v in self._cache.items() if v.id in ids}

    def get(self, name: str) -> Any:
        c = self._cache.get(name)
        if c is None or c.name != name:
            project = self._state.project
            if project is None:
                raise KeyError(name)
            c = project.load_concept(name)
            self._cache[name] = c
        return c

    def put(self, concept: Any) -> None:
        self._cache[concept.name] = concept
