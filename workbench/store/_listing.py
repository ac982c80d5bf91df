"""Listings of a project's generations, concepts and runs: paged, filtered and sorted in SQL.

A research project holds 100,000 generations and 10,000 concepts; a view shows a screenful. Every
listing here takes ``offset``/``limit`` (a page), ``search`` (case-insensitive text, matched in
SQLite) and a sort key, and has a ``count_*`` twin, so that a list view fetches rows as they
scroll into view instead of reading the whole table. Without those arguments a listing returns
everything, as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, func, insert, literal_column, or_, select
from sqlalchemy.orm import Session

from workbench.store._base import StoreBase, now
from workbench.store.records import ConceptInfo, ConceptRow, GenerationInfo, RunInfo
from workbench.store.schema import (
    ConceptRecord,
    ConceptVector,
    GenerationRecord,
    RunRecord,
    RunTensor,
)

_nan = float("nan")  # SQLite stores a NaN REAL as NULL
_CHUNK = 500  # ids per IN (...) query, well under SQLite's limit on bound parameters


def _json(column: Any, path: str) -> ColumnElement[Any]:
    return func.json_extract(column, path)


_PROV = GenerationRecord.provenance
# What a generation is sorted by, per column the Generations dock shows.
GENERATION_SORTS: dict[str, Any] = {
    "id": GenerationRecord.id,
    "created": GenerationRecord.id,  # ids grow with time; the index makes it free
    "concept": func.coalesce(_json(_PROV, "$.concept.name"), _json(_PROV, "$.expression")),
    "site": _json(_PROV, "$.sites[0]"),
    "coefficient": _json(_PROV, "$.coefficient"),
    "seed": _json(_PROV, "$.seed"),
    "prompt": GenerationRecord.prompt,
    "baseline": GenerationRecord.baseline,
    "steered": GenerationRecord.steered,
}
_GENERATION_TEXT = (
    GenerationRecord.prompt,
    GenerationRecord.baseline,
    GenerationRecord.steered,
    _json(_PROV, "$.concept.name"),
    _json(_PROV, "$.expression"),
)
CONCEPT_SORTS: dict[str, Any] = {
    "saved": literal_column("concepts.rowid"),
    "name": ConceptRecord.name,
    "method": _json(ConceptRecord.recipe, "$.method"),
    "created": ConceptRecord.created,
}
RUN_SORTS: dict[str, Any] = {
    "id": RunRecord.id,
    "name": RunRecord.name,
    "analysis": RunRecord.analysis,
}


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern that matches it anywhere, its ``%``, ``_`` and ``\\`` literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matching(columns: Iterable[Any], search: str | None) -> ColumnElement[bool] | None:
    """Rows where any of ``columns`` holds ``search`` (case-insensitive for ASCII letters)."""
    if not search or not search.strip():
        return None
    pattern = like_pattern(search.strip())
    return or_(*(c.like(pattern, escape="\\") for c in columns))


def _sort_key(sorts: dict[str, Any], sort: str, what: str) -> Any:
    try:
        return sorts[sort]
    except KeyError:
        raise ValueError(
            f"cannot sort {what} by {sort!r}; use one of {', '.join(sorted(sorts))}"
        ) from None


def _page(
    query: Select[Any], key: Any, tie: Any, descending: bool, offset: int, limit: int | None
) -> Select[Any]:
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError(f"a page needs offset >= 0 and limit >= 0 (got {offset}, {limit})")
    order = (key.desc(), tie.desc()) if descending else (key.asc(), tie.asc())
    query = query.order_by(*order)
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)  # SQLite reads LIMIT -1 OFFSET n without a limit
    return query


def _filtered(
    query: Select[Any], type_column: Any, text_columns: Any, value: str | None, search: str | None
) -> Any:
    """``query`` kept to rows whose ``type_column`` is ``value`` (None: all) and whose text
    columns contain ``search`` (ignoring case)."""
    if value is not None:
        query = query.where(type_column == value)
    match = _matching(text_columns, search)
    return query if match is None else query.where(match)


def _generation_columns(images: bool) -> list[Any]:
    """The columns a generation is listed with (the images only when asked for)."""
    columns: list[Any] = [
        GenerationRecord.id,
        GenerationRecord.medium,
        GenerationRecord.prompt,
        GenerationRecord.baseline,
        GenerationRecord.steered,
        GenerationRecord.provenance,
        GenerationRecord.created,
    ]
    if images:
        columns += [GenerationRecord.image_png, GenerationRecord.baseline_png]
    return columns


def _generation_row(r: Any, images: bool) -> GenerationInfo:
    return GenerationInfo(
        id=r.id,
        medium=r.medium,
        prompt=r.prompt,
        baseline=r.baseline,
        steered=r.steered,
        provenance=r.provenance,
        created=r.created,
        image_png=r.image_png if images else None,
        baseline_png=r.baseline_png if images else None,
    )


class ListingStore(StoreBase):
    """Paged, filtered and sorted listings (mixed into :class:`Project`)."""

    # ------------------------------------------------------------- generations
    def add_generations(self, records: Iterable[dict[str, Any]]) -> int:
        """Save many generations in one change (all or none); return how many.

        Each record has the keywords of :meth:`add_generation` (``prompt`` and ``provenance``
        required). This is how an import or a benchmark writes thousands at once.
        """
        from workbench.store._records import MEDIA

        stamp = now()
        rows = []
        for i, r in enumerate(records):
            if not isinstance(r.get("provenance"), dict) or "prompt" not in r:
                raise TypeError(f"generation {i} needs a 'prompt' and a 'provenance' dict")
            if "kind" in r or r.get("medium", "text") not in MEDIA:
                raise ValueError(
                    f"generation {i}: 'medium' is one of {', '.join(MEDIA)} (the column was "
                    f"'kind' before project schema 0002); got {r.get('medium', r.get('kind'))!r}"
                )
            rows.append(
                {
                    "medium": r.get("medium", "text"),
                    "prompt": r["prompt"],
                    "baseline": r.get("baseline"),
                    "steered": r.get("steered"),
                    "provenance": r["provenance"],
                    "image_png": r.get("image_png"),
                    "baseline_png": r.get("baseline_png"),
                    "created": r.get("created", stamp),
                }
            )
        if rows:
            with self._write(f"saving {len(rows)} generations") as session:
                session.execute(insert(GenerationRecord), rows)
        return len(rows)

    def generations(
        self,
        medium: str | None = None,
        *,
        images: bool = True,
        offset: int = 0,
        limit: int | None = None,
        search: str | None = None,
        sort: str = "id",
        descending: bool = False,
        below_id: int | None = None,
    ) -> list[GenerationInfo]:
        """Generations, oldest first unless sorted otherwise.

        Parameters
        ----------
        medium
            ``"text"`` or ``"image"``; None for both.
        images
            Include ``image_png``/``baseline_png`` (listings leave them out).
        offset, limit
            The page: skip ``offset`` rows, return at most ``limit`` (None: all).
        search
            Keep generations whose prompt, outputs or concept name (or image expression)
            contain this text, ignoring case.
        sort, descending
            ``id`` (default; the order they were made), ``created``, ``concept``, ``site``,
            ``coefficient``, ``seed``, ``prompt``, ``baseline`` or ``steered``.
        below_id
            Only generations with a smaller id: the next page of a newest-first listing after
            the row with this id, read straight from the index (an ``offset`` deep into a big
            table walks every row it skips).

        Returns
        -------
        list of GenerationInfo
            With ``image_png``/``baseline_png`` only when ``images`` is true.
        """
        key = _sort_key(GENERATION_SORTS, sort, "generations")
        columns = _generation_columns(images)
        query = self._generation_filter(select(*columns), medium, search)
        if below_id is not None:
            query = query.where(GenerationRecord.id < below_id)
        query = _page(query, key, GenerationRecord.id, descending, offset, limit)
        with self._read("listing generations") as session:
            return [_generation_row(r, images) for r in session.execute(query)]

    def generation(self, gen_id: int, *, images: bool = False) -> GenerationInfo:
        """One generation by id, as :meth:`generations` lists it."""
        from workbench.store.errors import RecordNotFoundError

        columns = _generation_columns(images)
        with self._read(f"loading generation {gen_id}") as session:
            row = session.execute(select(*columns).where(GenerationRecord.id == gen_id)).first()
        if row is None:
            raise RecordNotFoundError(f"No generation {gen_id!r} in {self.path.name}.")
        return _generation_row(row, images)

    def count_generations(self, medium: str | None = None, *, search: str | None = None) -> int:
        """How many generations :meth:`generations` lists with the same filters."""
        query = self._generation_filter(select(func.count(GenerationRecord.id)), medium, search)
        with self._read("counting generations") as session:
            return int(session.execute(query).scalar_one())

    @staticmethod
    def _generation_filter(query: Select[Any], medium: str | None, search: str | None) -> Any:
        return _filtered(query, GenerationRecord.medium, _GENERATION_TEXT, medium, search)

    # ---------------------------------------------------------------- concepts
    def concept_infos(
        self,
        *,
        offset: int = 0,
        limit: int | None = None,
        search: str | None = None,
        sort: str = "saved",
        descending: bool = False,
        names: Iterable[str] | None = None,
    ) -> list[ConceptInfo]:
        """What a concept list shows, without loading a single vector.

        Parameters
        ----------
        names
            Only the concepts of these names (None: all).
        offset, limit
            The page (None: all).
        search
            Keep concepts whose name, method or description contain this text, ignoring case.
        sort, descending
            ``saved`` (default: the order they were saved), ``name``, ``method``, ``created``.

        Returns
        -------
        list of ConceptInfo
            With ``sites``, ``dtypes``, ``shapes``, ``norms`` ({site: L2 norm}) and ``method``
            (``recipe["method"]``).
        """
        from workbench.store._concepts import _CONCEPT_COLUMNS, _CONCEPT_ORDER

        key = _sort_key(CONCEPT_SORTS, sort, "concepts")
        query = self._concept_filter(select(*_CONCEPT_COLUMNS), search)
        if names is not None:
            wanted = list(names)[: _CHUNK * 2]
            query = query.where(ConceptRecord.name.in_(wanted))
        query = _page(query, key, _CONCEPT_ORDER, descending, offset, limit)
        paged = limit is not None or offset or search or names is not None
        with self._read("listing concepts") as session:
            models = self._model_refs(session)  # type: ignore[attr-defined]
            rows = session.execute(query).all()
            meta = self._vector_meta(session, [r.id for r in rows] if paged else None)
        infos = []
        for rec in rows:
            vecs = meta[rec.id]
            ref = models[rec.model_id]
            infos.append(
                ConceptInfo(
                    id=rec.id,
                    name=rec.name,
                    model=ref.name,
                    model_ref=ref,
                    created=rec.created,
                    description=rec.description,
                    method=rec.recipe.get("method") if isinstance(rec.recipe, dict) else None,
                    n_sites=len(vecs),
                    sites=tuple(v.site for v in vecs),
                    dtypes={v.site: v.dtype for v in vecs},
                    shapes={v.site: tuple(v.shape) for v in vecs},
                    norms={v.site: _nan if v.norm is None else v.norm for v in vecs},
                )
            )
        return infos

    def count_concepts(self, *, search: str | None = None) -> int:
        """How many concepts :meth:`concept_infos` lists with the same filter."""
        query = self._concept_filter(select(func.count(ConceptRecord.id)), search)
        with self._read("counting concepts") as session:
            return int(session.execute(query).scalar_one())

    def concept_rows(
        self,
        *,
        offset: int = 0,
        limit: int | None = None,
        search: str | None = None,
        sort: str = "saved",
        descending: bool = False,
        summary: bool = True,
    ) -> list[ConceptRow]:
        """A light concept listing for a long list: ``method`` and ``n_sites`` are filled with
        ``summary`` only (None without). No per-site details (:meth:`concept_infos` has them): a page of 200 lists
        in a few milliseconds, all 10,000 of a research project without ``summary`` in ~50 ms."""
        key = _sort_key(CONCEPT_SORTS, sort, "concepts")
        columns: list[Any] = [
            ConceptRecord.id,
            ConceptRecord.name,
            ConceptRecord.model_id,
            ConceptRecord.created,
            ConceptRecord.description,
        ]
        if summary:
            n_sites = (
                select(func.count())
                .where(ConceptVector.concept_id == ConceptRecord.id)
                .correlate(ConceptRecord)
                .scalar_subquery()
            )
            method = _json(ConceptRecord.recipe, "$.method")
            columns += [method.label("method"), n_sites.label("n_sites")]
        query = self._concept_filter(select(*columns), search)
        query = _page(query, key, literal_column("concepts.rowid"), descending, offset, limit)
        with self._read("listing concepts") as session:
            models = self._model_refs(session)  # type: ignore[attr-defined]
            rows = session.execute(query).all()
        out = []
        for r in rows:
            ref = models[r.model_id]
            out.append(
                ConceptRow(
                    id=r.id,
                    name=r.name,
                    model=ref.name,
                    model_ref=ref,
                    created=r.created,
                    description=r.description,
                    method=r.method if summary else None,
                    n_sites=r.n_sites if summary else None,
                )
            )
        return out

    @staticmethod
    def _concept_filter(query: Select[Any], search: str | None) -> Any:
        match = _matching(
            (
                ConceptRecord.name,
                _json(ConceptRecord.recipe, "$.method"),
                ConceptRecord.description,
            ),
            search,
        )
        return query if match is None else query.where(match)

    @staticmethod
    def _vector_meta(session: Session, ids: list[str] | None) -> dict[str, list[Any]]:
        """Site, dtype, shape and norm of the vectors of concepts ``ids`` (None: all)."""
        columns = (
            ConceptVector.concept_id,
            ConceptVector.site,
            ConceptVector.dtype,
            ConceptVector.shape,
            ConceptVector.norm,
        )
        order = (ConceptVector.concept_id, ConceptVector.position)
        rows: list[Any] = []
        if ids is None:
            rows = list(session.execute(select(*columns).order_by(*order)))
        else:
            for i in range(0, len(ids), _CHUNK):
                part = ids[i : i + _CHUNK]
                query = select(*columns).where(ConceptVector.concept_id.in_(part))
                rows += session.execute(query.order_by(*order)).all()
        per_concept: dict[str, list[Any]] = defaultdict(list)
        for m in rows:
            per_concept[m.concept_id].append(m)
        return per_concept

    # -------------------------------------------------------------------- runs
    def runs(
        self,
        analysis: str | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
        search: str | None = None,
        sort: str = "id",
        descending: bool = False,
    ) -> list[RunInfo]:
        """Runs without their results (``tensors`` names their arrays); oldest first unless
        sorted otherwise.

        Parameters
        ----------
        analysis
            ``"head_scores"``, ``"sweep"``...; None for all.
        offset, limit
            The page (None: all).
        search
            Keep runs whose name or analysis contain this text, ignoring case.
        sort, descending
            ``id`` (default), ``name`` or ``analysis``.
        """
        key = _sort_key(RUN_SORTS, sort, "runs")
        query = self._run_filter(
            select(
                RunRecord.id,
                RunRecord.analysis,
                RunRecord.name,
                RunRecord.settings,
                RunRecord.created,
            ),
            analysis,
            search,
        )
        query = _page(query, key, RunRecord.id, descending, offset, limit)
        with self._read("listing runs") as session:
            recs = session.execute(query).all()
            names: dict[int, list[str]] = defaultdict(list)
            ids = [r.id for r in recs]
            for i in range(0, len(ids), _CHUNK):
                for run_id, tname in session.execute(
                    select(RunTensor.run_id, RunTensor.name)
                    .where(RunTensor.run_id.in_(ids[i : i + _CHUNK]))
                    .order_by(RunTensor.id)
                ):
                    names[run_id].append(tname)
        return [
            RunInfo(
                id=r.id,
                analysis=r.analysis,
                name=r.name,
                settings=r.settings,
                created=r.created,
                tensors=tuple(names.get(r.id, [])),
            )
            for r in recs
        ]

    def count_runs(self, analysis: str | None = None, *, search: str | None = None) -> int:
        """How many runs :meth:`runs` lists with the same filters."""
        query = self._run_filter(select(func.count(RunRecord.id)), analysis, search)
        with self._read("counting runs") as session:
            return int(session.execute(query).scalar_one())

    @staticmethod
    def _run_filter(query: Select[Any], analysis: str | None, search: str | None) -> Any:
        text = (RunRecord.name, RunRecord.analysis)
        return _filtered(query, RunRecord.analysis, text, analysis, search)
