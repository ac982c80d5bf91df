"""Models and concepts in a project: vectors stored bit-exact, listed without loading them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, literal_column, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause

from workbench.concepts.concept import Concept, ModelRef
from workbench.store._base import StoreBase, now
from workbench.store.errors import NameTakenError, RecordNotFoundError
from workbench.store.records import ModelInfo
from workbench.store.schema import ConceptRecord, ConceptVector, ModelRecord
from workbench.store.tensors import decode, encode

if TYPE_CHECKING:
    import torch

_REF_FIELDS = tuple(ModelRef.__dataclass_fields__)
_CONCEPT_COLUMNS = (  # plain rows: listing 1,000 concepts as ORM objects costs more than SQLite
    ConceptRecord.id,
    ConceptRecord.name,
    ConceptRecord.model_id,
    ConceptRecord.recipe,
    ConceptRecord.description,
    ConceptRecord.created,
)
_VECTOR_DATA = (
    ConceptVector.concept_id,
    ConceptVector.site,
    ConceptVector.dtype,
    ConceptVector.shape,
    ConceptVector.sha256,
    ConceptVector.data,
)
_CONCEPT_ORDER: ColumnClause[Any] = literal_column(
    "concepts.rowid"
)  # the order concepts were saved in
_nan = float("nan")  # SQLite stores a NaN REAL as NULL
_CHUNK = 500  # ids per IN (...) query, well under SQLite's limit on bound parameters


def _ref(rec: Any) -> ModelRef:
    return ModelRef(**{f: getattr(rec, f) for f in _REF_FIELDS})


class ConceptStore(StoreBase):
    """The models and concepts of a project (mixed into :class:`Project`)."""

    # ------------------------------------------------------------------ models
    def add_model(
        self,
        ref: ModelRef,
        *,
        path: str = "",
        format: str = "",
        config: dict[str, Any] | None = None,
    ) -> int:
        """Record a model and how to find it again; return its id.

        Parameters
        ----------
        ref
            The model's identity; a model with exactly these fields is recorded once.
        path
            Where the weights were on this machine (a folder, a ``.gguf``...).
        format
            ``"hf"``, ``"gguf"``, ``"safetensors"``, ``"diffusers"``...
        config
            A JSON summary of the config (layers, widths, vocabulary...).
        """
        with self._write(f"recording model {ref.name!r}") as session:
            return self._model_id(session, ref, path=path, format=format, config=config)

    def models(self) -> list[ModelRef]:
        """The models this project used, in the order they were first recorded."""
        with self._read("listing models") as session:
            return [_ref(r) for r in session.scalars(select(ModelRecord).order_by(ModelRecord.id))]

    def model_records(self) -> list[ModelInfo]:
        """Models with where they were found (``path_exists`` is None when no path was
        recorded)."""
        with self._read("listing models") as session:
            return [
                ModelInfo(
                    id=r.id,
                    ref=_ref(r),
                    path=r.path,
                    format=r.format,
                    config=r.config,
                    created=r.created,
                    path_exists=Path(r.path).exists() if r.path else None,
                )
                for r in session.scalars(select(ModelRecord).order_by(ModelRecord.id))
            ]

    @staticmethod
    def _model_id(
        session: Session,
        ref: ModelRef,
        *,
        path: str = "",
        format: str = "",
        config: dict[str, Any] | None = None,
    ) -> int:
        same = select(ModelRecord).where(
            *(getattr(ModelRecord, f) == getattr(ref, f) for f in _REF_FIELDS)
        )
        rec = session.scalars(same.order_by(ModelRecord.id)).first()
        if rec is None:
            rec = ModelRecord(**ref.to_dict(), path="", format="", config={}, created=now())
            session.add(rec)
        # what is known now is newer than what was known then
        rec.path = path or rec.path
        rec.format = format or rec.format
        rec.config = config if config is not None else rec.config
        session.flush()
        return rec.id

    # ---------------------------------------------------------------- concepts
    def add_concept(self, concept: Concept, *, replace: bool = True) -> str:
        """Save a concept (vectors, recipe, model) in one change; return its id.

        Parameters
        ----------
        concept
            Its vectors are stored bit-exact (any dtype, device and shape).
        replace
            A concept with the same name or id is replaced (True) or refused with
            :class:`~workbench.store.errors.NameTakenError` (False).
        """
        return self.add_concepts([concept], replace=replace)[0]

    def import_concept(self, concept: Concept) -> Concept:
        """Save a concept read from a file as a new concept; return it as saved.

        An import never replaces or deletes a stored concept: a file whose concept id is
        already in the project (the same file imported twice, under another name) gets a new
        id, and a name that is taken is refused with a message naming the concept that has it.

        Raises
        ------
        NameTakenError
            A concept of that name exists.
        """
        with self._read("checking the concepts") as session:
            same_name = session.execute(
                select(ConceptRecord.id, ConceptRecord.recipe, ConceptRecord.created).where(
                    ConceptRecord.name == concept.name
                )
            ).first()
            id_taken = session.get(ConceptRecord, concept.id) is not None
        if same_name is not None:
            recipe = same_name.recipe if isinstance(same_name.recipe, dict) else {}
            how = recipe.get("method") or "unknown method"
            raise NameTakenError(
                f"{self.path.name} already has a concept named {concept.name!r} (id "
                f"{same_name.id[:8]}, {how}, saved {same_name.created}); it was kept as it is. "
                "Import under another name (--name NEW), or delete that concept first."
            )
        if id_taken:
            concept = concept.with_new_id()
        self.add_concepts([concept], replace=False)
        return concept

    def add_new_concept(self, concept: Concept) -> Concept:
        """Save a newly made concept without touching any stored one; return it as saved.

        A taken name gets the window library's suffix (``happy`` -> ``happy 2``, ``happy 3``...)
        and a taken id a fresh one, so a headless run never replaces earlier work.
        """
        with self._read("checking the concepts") as session:
            names = set(session.scalars(select(ConceptRecord.name)).all())
            id_taken = session.get(ConceptRecord, concept.id) is not None
        base, n = concept.name, 2
        while concept.name in names:
            concept = concept.renamed(f"{base} {n}")
            n += 1
        if id_taken:
            concept = concept.with_new_id()
        self.add_concepts([concept], replace=False)
        return concept

    def add_concepts(self, concepts: Iterable[Concept], *, replace: bool = True) -> list[str]:
        """Save several concepts in one change (all or none): much faster than one by one.

        Raises
        ------
        NameTakenError
            Two of ``concepts`` share a name or id, or (with ``replace=False``) one is taken.
        """
        concepts = list(concepts)
        if not concepts:
            return []
        for attr in ("name", "id"):
            values = [getattr(c, attr) for c in concepts]
            if len(set(values)) < len(values):
                twice = next(v for v in values if values.count(v) > 1)
                raise NameTakenError(f"two of the concepts to save have the {attr} {twice!r}")
        # Hash and copy the tensors before taking the write lock: the lock is held briefly.
        encoded = [[(s, encode(t)) for s, t in c.vectors.items()] for c in concepts]
        what = repr(concepts[0].name) if len(concepts) == 1 else f"{len(concepts)} concepts"
        with self._write(f"saving {what}") as session:
            self._replace_concepts(session, concepts, replace)
            model_ids: dict[ModelRef, int] = {}
            for c in concepts:
                if c.model not in model_ids:
                    model_ids[c.model] = self._model_id(session, c.model)
            # Core-style bulk inserts: the ORM's per-object bookkeeping costs more than SQLite.
            session.execute(
                insert(ConceptRecord),
                [
                    {
                        "id": c.id,
                        "name": c.name,
                        "model_id": model_ids[c.model],
                        "recipe": c.recipe,
                        "description": c.description,
                        "created": c.created,
                    }
                    for c in concepts
                ],
            )
            session.execute(
                insert(ConceptVector),
                [
                    {
                        "concept_id": c.id,
                        "position": i,
                        "site": site,
                        "norm": enc.norm,
                        "dtype": enc.dtype,
                        "shape": enc.shape,
                        "sha256": enc.sha256,
                        "data": enc.data,
                    }
                    for c, vectors in zip(concepts, encoded, strict=True)
                    for i, (site, enc) in enumerate(vectors)
                ],
            )
        return [c.id for c in concepts]

    def _replace_concepts(self, session: Session, concepts: list[Concept], replace: bool) -> None:
        """Delete the stored concepts that share a name or id with ``concepts``."""
        clash: list[Any] = []
        for i in range(0, len(concepts), _CHUNK):
            part = concepts[i : i + _CHUNK]
            clash += session.execute(
                select(ConceptRecord.id, ConceptRecord.name).where(
                    ConceptRecord.id.in_([c.id for c in part])
                    | ConceptRecord.name.in_([c.name for c in part])
                )
            ).all()
        if clash and not replace:
            raise NameTakenError(
                f"{self.path.name} already has a concept named {clash[0].name!r}; choose "
                "another name, or save with replace=True to overwrite it."
            )
        ids = [r.id for r in clash]
        for i in range(0, len(ids), _CHUNK):  # their vectors go too (ON DELETE CASCADE)
            session.execute(delete(ConceptRecord).where(ConceptRecord.id.in_(ids[i : i + _CHUNK])))

    def concept_positions(self, names_or_ids: Iterable[str]) -> dict[str, int]:
        """``{id: place}``: where each concept is in the library's order (by name or id; the
        ones not stored are left out). :meth:`restore_concepts` puts a deleted concept back
        there, so undoing a delete does not move it to the end of the list."""
        keys = list(names_or_ids)
        out: dict[str, int] = {}
        with self._read("listing concepts") as session:
            for i in range(0, len(keys), _CHUNK):
                part = keys[i : i + _CHUNK]
                rows = session.execute(
                    select(ConceptRecord.id, _CONCEPT_ORDER).where(
                        ConceptRecord.id.in_(part) | ConceptRecord.name.in_(part)
                    )
                )
                out.update({r[0]: int(r[1]) for r in rows})
        return out

    def restore_concepts(self, concepts: Iterable[Concept], positions: dict[str, int]) -> None:
        """Save deleted ``concepts`` again (as :meth:`add_concepts`, never replacing one) at
        the places :meth:`concept_positions` gave before the delete; a concept whose place
        another concept took since goes to the end.

        Raises
        ------
        NameTakenError
            A concept of that name or id is stored.
        """
        concepts = list(concepts)
        self.add_concepts(concepts, replace=False)
        with self._write("putting concepts back in their places") as session:
            for c in concepts:
                place = positions.get(c.id)
                if place is None:
                    continue
                taken = session.execute(
                    select(ConceptRecord.id).where(_CONCEPT_ORDER.op("=")(place))
                ).first()
                if taken is None:  # SQLite lets a rowid table's row change its rowid
                    session.execute(
                        text("UPDATE concepts SET rowid = :place WHERE id = :id"),
                        {"place": place, "id": c.id},
                    )

    def concept_names(self) -> list[str]:
        """The concepts' names, in the order they were saved."""
        with self._read("listing concepts") as session:
            return list(session.scalars(select(ConceptRecord.name).order_by(_CONCEPT_ORDER)))

    def load_concept(self, name_or_id: str) -> Concept:
        """Load one concept by name or id, its tensors bit-exact (checksums verified).

        Raises
        ------
        RecordNotFoundError
            No concept of that name or id.
        CorruptProjectError
            A vector's bytes do not match their checksum.
        """
        with self._read(f"loading concept {name_or_id!r}") as session:
            rec = self._find_concept(session, name_or_id)
            model = session.get_one(ModelRecord, rec.model_id)
            rows = session.execute(
                select(*_VECTOR_DATA)
                .where(ConceptVector.concept_id == rec.id)
                .order_by(ConceptVector.position)
            ).all()
            return self._concept(rec, _ref(model), rows)

    def concepts(self) -> list[Concept]:
        """Load every concept (three queries, however many concepts)."""
        with self._read("loading concepts") as session:
            models = self._model_refs(session)
            recs = session.execute(select(*_CONCEPT_COLUMNS).order_by(_CONCEPT_ORDER)).all()
            rows = session.execute(
                select(*_VECTOR_DATA).order_by(ConceptVector.concept_id, ConceptVector.position)
            ).all()
        per_concept: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            per_concept[row.concept_id].append(row)
        return [self._concept(r, models[r.model_id], per_concept[r.id]) for r in recs]

    def rename_concept(self, name_or_id: str, new_name: str) -> None:
        """Rename a concept; refused if another concept has ``new_name``."""
        with self._write(f"renaming concept {name_or_id!r}") as session:
            rec = self._find_concept(session, name_or_id)
            other = session.scalars(
                select(ConceptRecord.id).where(ConceptRecord.name == new_name)
            ).first()
            if other is not None and other != rec.id:
                raise NameTakenError(
                    f"{self.path.name} already has a concept named {new_name!r}; choose another "
                    "name or delete that concept first."
                )
            rec.name = new_name

    def delete_concept(self, name_or_id: str) -> None:
        """Delete a concept and its vectors."""
        with self._write(f"deleting concept {name_or_id!r}") as session:
            session.delete(self._find_concept(session, name_or_id))

    # ----------------------------------------------------------------- helpers
    def _find_concept(self, session: Session, name_or_id: str) -> ConceptRecord:
        rec = session.get(ConceptRecord, name_or_id)
        if rec is None:
            rec = session.scalars(
                select(ConceptRecord).where(ConceptRecord.name == name_or_id)
            ).first()
        if rec is None:
            names = session.scalars(select(ConceptRecord.name).order_by(_CONCEPT_ORDER)).all()
            have = ", ".join(repr(n) for n in names[:20]) or "none"
            raise RecordNotFoundError(
                f"No concept named {name_or_id!r} in {self.path.name} (it has: {have})."
            )
        return rec

    @staticmethod
    def _model_refs(session: Session) -> dict[int, ModelRef]:
        return {m.id: _ref(m) for m in session.scalars(select(ModelRecord))}

    @staticmethod
    def _concept(rec: Any, model: ModelRef, rows: Iterable[Any]) -> Concept:
        vectors: dict[str, torch.Tensor] = {
            r.site: decode(
                r.dtype, r.shape, r.sha256, r.data, f"the vector at {r.site} of {rec.name!r}"
            )
            for r in rows
        }
        return Concept(
            name=rec.name,
            vectors=vectors,
            model=model,
            recipe=rec.recipe,
            id=rec.id,
            created=rec.created,
            description=rec.description,
        )
