"""Everything else a project keeps: prompt sets, canvases, runs, generations, figures, notes,
settings. Values are JSON (tuples come back as lists, numpy numbers as plain numbers); tensors
and files are stored as bytes beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from workbench.concepts.provenance import TextGenerationProvenance
from workbench.errors import PromptSetError
from workbench.store._base import StoreBase, now
from workbench.store.errors import RecordNotFoundError
from workbench.store.records import FigureInfo, NoteInfo, PromptSetInfo, StoredRun
from workbench.store.schema import (
    CanvasRecord,
    FigureFile,
    FigureRecord,
    GenerationRecord,
    NoteRecord,
    PromptSetRecord,
    RunRecord,
    RunTensor,
    SettingRecord,
)
from workbench.store.tensors import decode, encode

if TYPE_CHECKING:
    import torch

    from workbench.concepts.prompt_sets import PromptSet

PROMPT_SET_KINDS = ("contrastive", "labelled", "plain", "demonstrations", "ordinal")
MEDIA = ("text", "image")  # what a generation made


def _prompt_set(r: PromptSetRecord) -> PromptSetInfo:
    return PromptSetInfo(
        id=r.id,
        name=r.name,
        kind=r.kind,
        items=tuple(r.items),
        meta=r.meta,
        source=r.source,
        created=r.created,
        updated=r.updated,
    )


def _note(r: NoteRecord) -> NoteInfo:
    return NoteInfo(id=r.id, title=r.title, text=r.text, created=r.created, updated=r.updated)


class RecordStore(StoreBase):
    """Prompt sets, canvases, runs, generations, figures, notes, settings (mixed into Project)."""

    def _get(self, session: Session, model: type, key: Any, what: str) -> Any:
        rec = session.get(model, key)
        if rec is None:
            raise RecordNotFoundError(f"No {what} {key!r} in {self.path.name}.")
        return rec

    # ------------------------------------------------------------- prompt sets
    def add_prompt_set(
        self,
        name: str,
        kind: str,
        items: list[dict[str, Any]],
        *,
        source: str = "",
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Save a prompt set (replacing one of the same name, which keeps its id).

        :meth:`save_prompt_set` saves a :class:`PromptSet` in this format.

        Parameters
        ----------
        kind
            One of ``contrastive``, ``labelled``, ``plain``, ``demonstrations``, ``ordinal``.
        items
            The prompts, one dict each (``{"positive": ..., "negative": ...}``, ``{"text": ...,
            "label": ...}``...).
        source
            Where they came from: a file path, ``"built-in:sentiment"``, ``"typed"``.
        meta
            What the set says about itself: ``poles``, ``template``, ``separator``,
            ``description``.
        """
        if kind not in PROMPT_SET_KINDS:
            raise PromptSetError(
                f"prompt set {name!r} has kind {kind!r}; use one of {', '.join(PROMPT_SET_KINDS)}"
            )
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise PromptSetError(f"prompt set {name!r} must be a list of dicts, one per prompt")
        if any("_meta" in i for i in items):
            raise PromptSetError(
                f"prompt set {name!r}: an item holds '_meta'; pass the set's poles, template and "
                "description as meta= (they have their own column since project schema 0002)"
            )
        if meta is not None and not isinstance(meta, dict):
            raise PromptSetError(f"prompt set {name!r}: meta must be a dict, not {type(meta)}")
        with self._write(f"saving prompt set {name!r}") as session:
            rec = session.scalars(
                select(PromptSetRecord).where(PromptSetRecord.name == name)
            ).first()
            if rec is None:
                rec = PromptSetRecord(name=name, created=now())
                session.add(rec)
            rec.kind, rec.items, rec.source, rec.updated = kind, items, source, now()
            rec.meta = dict(meta or {})
            session.flush()
            return rec.id

    def save_prompt_set(self, ps: PromptSet) -> int:
        """Save a :class:`PromptSet` under its name (replacing one of that name); return its id."""
        from workbench.concepts.prompt_set_records import to_items

        items, meta = to_items(ps)
        return self.add_prompt_set(ps.name, ps.kind, items, source=ps.source or "typed", meta=meta)

    def load_prompt_set(self, name: str) -> PromptSet:
        """The stored prompt set ``name`` as a :class:`PromptSet`.

        Raises
        ------
        RecordNotFoundError
            No set of that name.
        PromptSetError
            The stored set holds nothing usable.
        """
        from workbench.concepts.prompt_set_records import from_items

        info = self.prompt_set(name)
        return from_items(info.name, info.kind, info.items, info.meta, info.source)

    def prompt_sets(self) -> list[PromptSetInfo]:
        """Every prompt set, in the order they were first saved."""
        with self._read("listing prompt sets") as session:
            recs = session.scalars(select(PromptSetRecord).order_by(PromptSetRecord.id))
            return [_prompt_set(r) for r in recs]

    def prompt_set(self, name: str) -> PromptSetInfo:
        with self._read(f"loading prompt set {name!r}") as session:
            return _prompt_set(self._prompt_set_record(session, name))

    def delete_prompt_set(self, name: str) -> None:
        with self._write(f"deleting prompt set {name!r}") as session:
            session.delete(self._prompt_set_record(session, name))

    def _prompt_set_record(self, session: Session, name: str) -> PromptSetRecord:
        rec = session.scalars(select(PromptSetRecord).where(PromptSetRecord.name == name)).first()
        if rec is None:
            raise RecordNotFoundError(f"No prompt set named {name!r} in {self.path.name}.")
        return rec

    # ---------------------------------------------------------------- canvases
    def save_canvas(self, name: str, layout: dict[str, Any]) -> None:
        """Save (or overwrite) a canvas layout: nodes, expressions, positions, as the UI likes."""
        with self._write(f"saving canvas {name!r}") as session:
            rec = session.scalars(select(CanvasRecord).where(CanvasRecord.name == name)).first()
            if rec is None:
                rec = CanvasRecord(name=name)
                session.add(rec)
            rec.layout, rec.updated = layout, now()

    def canvases(self) -> dict[str, dict[str, Any]]:
        with self._read("loading canvases") as session:
            recs = session.scalars(select(CanvasRecord).order_by(CanvasRecord.id))
            return {r.name: r.layout for r in recs}

    def delete_canvas(self, name: str) -> None:
        with self._write(f"deleting canvas {name!r}") as session:
            session.execute(delete(CanvasRecord).where(CanvasRecord.name == name))

    # -------------------------------------------------------------------- runs
    def add_run(
        self,
        analysis: str,
        name: str,
        settings: dict[str, Any],
        result: dict[str, Any],
        tensors: dict[str, torch.Tensor] | None = None,
    ) -> int:
        """Save a run of ``analysis`` (``"head_scores"``, ``"sweep"``, ``"probe"``...); return its id.

        ``settings`` say how to run it again, ``result`` holds what came out (JSON), ``tensors``
        the arrays too big for JSON (a [layer, head] score matrix...), stored bit-exact.
        """
        encoded = [(k, encode(t)) for k, t in (tensors or {}).items()]
        with self._write(f"saving {analysis} run {name!r}") as session:
            rec = RunRecord(
                analysis=analysis, name=name, settings=settings, result=result, created=now()
            )
            rec.tensors = [
                RunTensor(name=k, dtype=e.dtype, shape=e.shape, sha256=e.sha256, data=e.data)
                for k, e in encoded
            ]
            session.add(rec)
            session.flush()
            return rec.id

    def load_run(self, run_id: int) -> StoredRun:
        """A run in full: its settings, result and tensors ({name: Tensor}, checksums
        verified)."""
        with self._read(f"loading run {run_id}") as session:
            r = self._get(session, RunRecord, run_id, "run")
            tensors = {
                t.name: decode(
                    t.dtype, t.shape, t.sha256, t.data, f"tensor {t.name!r} of run {run_id}"
                )
                for t in r.tensors
            }
            return StoredRun(
                id=r.id,
                analysis=r.analysis,
                name=r.name,
                settings=r.settings,
                result=r.result,
                created=r.created,
                tensors=tensors,
            )

    def delete_run(self, run_id: int) -> None:
        with self._write(f"deleting run {run_id}") as session:
            session.delete(self._get(session, RunRecord, run_id, "run"))

    # ------------------------------------------------------------- generations
    def add_generation(
        self,
        *,
        medium: str = "text",
        prompt: str,
        baseline: str | None = None,
        steered: str | None = None,
        provenance: dict[str, Any] | TextGenerationProvenance,
        image_png: bytes | None = None,
        baseline_png: bytes | None = None,
    ) -> int:
        """Save a generation with what it takes to make it again; return its id.

        ``medium`` is ``"text"`` or ``"image"``. A text generation's ``provenance`` is a
        :class:`~workbench.concepts.provenance.TextGenerationProvenance` (or its dict); an image
        generation's is the diffusion engine's record (kept as given). An image generation
        stores the steered image in ``image_png`` and the unsteered one in ``baseline_png``.
        """
        if isinstance(provenance, TextGenerationProvenance):
            provenance = provenance.to_dict()
        if not isinstance(provenance, dict):
            raise TypeError(
                "provenance must be a dict (model, recipe, sites, coefficients, seed...)"
            )
        if medium not in MEDIA:
            raise ValueError(f"a generation's medium is one of {', '.join(MEDIA)}, not {medium!r}")
        with self._write(f"saving a {medium} generation") as session:
            rec = GenerationRecord(
                medium=medium,
                prompt=prompt,
                baseline=baseline,
                steered=steered,
                provenance=provenance,
                image_png=None if image_png is None else bytes(image_png),
                baseline_png=None if baseline_png is None else bytes(baseline_png),
                created=now(),
            )
            session.add(rec)
            session.flush()
            return rec.id

    def generation_images(self, gen_id: int) -> tuple[bytes | None, bytes | None]:
        """One image generation's ``(baseline_png, image_png)`` (Nones for a text one)."""
        with self._read(f"loading the images of generation {gen_id}") as session:
            r = self._get(session, GenerationRecord, gen_id, "generation")
            return r.baseline_png, r.image_png

    def delete_generation(self, gen_id: int) -> None:
        with self._write(f"deleting generation {gen_id}") as session:
            session.delete(self._get(session, GenerationRecord, gen_id, "generation"))

    # ----------------------------------------------------------------- figures
    def add_figure(self, name: str, spec: dict[str, Any], files: dict[str, bytes]) -> int:
        """Save a figure: ``spec`` (JSON to redraw it) and its rendered ``files`` by format."""
        with self._write(f"saving figure {name!r}") as session:
            rec = FigureRecord(name=name, spec=spec, created=now())
            rec.files = [FigureFile(fmt=fmt, data=bytes(data)) for fmt, data in files.items()]
            session.add(rec)
            session.flush()
            return rec.id

    def figures(self) -> list[FigureInfo]:
        """Figures without their files (``formats`` names them)."""
        with self._read("listing figures") as session:
            fmts: dict[int, list[str]] = {}
            for fig_id, fmt in session.execute(
                select(FigureFile.figure_id, FigureFile.fmt).order_by(FigureFile.id)
            ):
                fmts.setdefault(fig_id, []).append(fmt)
            recs = session.scalars(select(FigureRecord).order_by(FigureRecord.id))
            return [
                FigureInfo(
                    id=r.id,
                    name=r.name,
                    spec=r.spec,
                    formats=tuple(fmts.get(r.id, [])),
                    created=r.created,
                )
                for r in recs
            ]

    def figure_file(self, fig_id: int, fmt: str) -> bytes:
        """The bytes of figure ``fig_id`` rendered as ``fmt`` (``"png"``, ``"svg"``...)."""
        with self._read(f"loading figure {fig_id}") as session:
            data = session.scalars(
                select(FigureFile.data).where(FigureFile.figure_id == fig_id, FigureFile.fmt == fmt)
            ).first()
            if data is None:
                self._get(session, FigureRecord, fig_id, "figure")
                raise RecordNotFoundError(f"Figure {fig_id} has no {fmt!r} file.")
            return data

    def delete_figure(self, fig_id: int) -> None:
        with self._write(f"deleting figure {fig_id}") as session:
            session.delete(self._get(session, FigureRecord, fig_id, "figure"))

    # ------------------------------------------------------------------- notes
    def add_note(self, text: str, *, title: str = "") -> int:
        with self._write(f"saving note {title!r}") as session:
            stamp = now()
            rec = NoteRecord(title=title, text=text, created=stamp, updated=stamp)
            session.add(rec)
            session.flush()
            return rec.id

    def notes(self) -> list[NoteInfo]:
        """Notes, oldest first."""
        with self._read("listing notes") as session:
            return [_note(r) for r in session.scalars(select(NoteRecord).order_by(NoteRecord.id))]

    def update_note(
        self, note_id: int, *, text: str | None = None, title: str | None = None
    ) -> None:
        with self._write(f"updating note {note_id}") as session:
            rec = self._get(session, NoteRecord, note_id, "note")
            rec.text = rec.text if text is None else text
            rec.title = rec.title if title is None else title
            rec.updated = now()

    def delete_note(self, note_id: int) -> None:
        with self._write(f"deleting note {note_id}") as session:
            session.delete(self._get(session, NoteRecord, note_id, "note"))

    # ---------------------------------------------------------------- settings
    def set_setting(self, key: str, value: Any) -> None:
        """Keep a setting: a JSON value, or ``bytes`` (a window's saved geometry and state)."""
        with self._write(f"saving setting {key!r}") as session:
            rec = session.get(SettingRecord, key) or SettingRecord(key=key)
            session.add(rec)
            is_bytes = isinstance(value, (bytes, bytearray, memoryview))
            rec.blob = bytes(value) if is_bytes else None
            rec.value = None if is_bytes else value
            rec.updated = now()

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._read(f"reading setting {key!r}") as session:
            rec = session.get(SettingRecord, key)
            if rec is None:
                return default
            return rec.blob if rec.blob is not None else rec.value

    def settings(self) -> dict[str, Any]:
        """Every setting by key."""
        with self._read("reading settings") as session:
            recs = session.scalars(select(SettingRecord).order_by(SettingRecord.key))
            return {r.key: r.blob if r.blob is not None else r.value for r in recs}

    def delete_setting(self, key: str) -> None:
        with self._write(f"deleting setting {key!r}") as session:
            session.execute(delete(SettingRecord).where(SettingRecord.key == key))
