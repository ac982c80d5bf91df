"""Generations dock: every baseline/steered generation in the project, with provenance;
export as CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.paged_model import FIRST_PAGE, PagedTableModel, Query
from ui.widgets import hint
from workbench.store.records import GenerationInfo

COLUMNS = (
    "id",
    "created",
    "concept",
    "site",
    "coefficient",
    "seed",
    "prompt",
    "baseline",
    "steered",
)


NEWEST_FIRST = Query(sort="id", descending=True)


@dataclass(frozen=True)
class _Kept:
    """What the table keeps of a listed generation besides its texts."""

    id: int
    medium: str


CSV_PAGE = 5000  # generations read at a time while exporting


def generations_changed(ctx: AppContext, new_id: int | None = None) -> None:
    """Say that the project's list of generations changed: ``new_id`` is one generation just
    added (the Generations dock shows it as one new row), None anything else."""
    ctx.state.generations_changed.emit(new_id)


def record_text_generation(ctx: AppContext, comparison: Any, provenance: dict) -> int | None:
    """Store a baseline/steered text pair in the project and show it in the dock; its id."""
    p = ctx.state.project
    if p is None:
        return None
    gid = ctx.project.write(
        "saving the generation",
        lambda: p.add_generation(
            medium="text",
            prompt=comparison.prompt,
            baseline=comparison.baseline,
            steered=comparison.steered,
            provenance=provenance,
        ),
    )
    generations_changed(ctx, gid)
    return gid


def stream_into(edits: Any, pieces: Any) -> None:
    """Append streamed text pieces to their text boxes (one piece per box, None to skip)."""
    for edit, piece in zip(edits, pieces, strict=True):
        if piece:
            edit.moveCursor(QTextCursor.MoveOperation.End)
            edit.insertPlainText(piece)


def rows(generations: list[GenerationInfo]) -> list[dict[str, Any]]:
    """The CSV rows of ``generations``: the dock's columns, the model and the provenance."""
    out = []
    for g in generations:
        prov = dict(g.provenance or {})
        image = g.medium == "image"  # diffusion: the images live in the project, not the table
        if image:
            prov = {**prov, "concept": {"name": prov.get("expression", "")}}
        out.append(
            {
                "id": g.id,
                "created": g.created,
                "concept": (prov.get("concept") or {}).get("name", ""),
                "site": ", ".join(prov.get("sites", [])),
                "coefficient": prov.get("coefficient", ""),
                "seed": prov.get("seed", ""),
                "prompt": g.prompt,
                "baseline": "[image]" if image else g.baseline or "",
                "steered": "[image]" if image else g.steered or "",
                "model": (prov.get("model") or {}).get("name", ""),
                "provenance": json.dumps(prov, default=str),
            }
        )
    return out


def cells(g: GenerationInfo) -> list[str]:
    """The texts of generation ``g`` in the dock's columns (as :func:`rows` has them)."""
    prov = g.provenance or {}
    image = g.medium == "image"
    concept = prov.get("expression", "") if image else (prov.get("concept") or {}).get("name", "")
    return [
        str(g.id),
        str(g.created),
        str(concept),
        ", ".join(prov.get("sites", [])),
        str(prov.get("coefficient", "")),
        str(prov.get("seed", "")),
        str(g.prompt),
        "[image]" if image else str(g.baseline or ""),
        "[image]" if image else str(g.steered or ""),
    ]


def write_csv(
    generations: Iterable[GenerationInfo] | Iterable[list[GenerationInfo]], path: str | Path
) -> Path:
    """Write generations (a list, or pages of them) as CSV with their provenance."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "model", "provenance"])
        w.writeheader()
        for part in generations:
            w.writerows(rows(part if isinstance(part, list) else [part]))
    return path


class GenerationsDock(QDockWidget):
    """Every generation of the project, newest first, read a page at a time as it scrolls
    into view; search and column sorting run in the store's SQL."""

    def __init__(self, ctx: AppContext):
        super().__init__("Generations")
        self.ctx = ctx
        body = QWidget()
        lay = QVBoxLayout(body)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts, outputs and concepts")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self.apply_search)
        self.search.textChanged.connect(lambda *_: self._search_timer.start())
        lay.addWidget(self.search)
        self.model = PagedTableModel(
            [c.capitalize() for c in COLUMNS],
            self._read,
            cells,
            on_error=lambda e: ctx.errors.handle(e, "listing generations"),
            first_page=FIRST_PAGE,
            default_query=NEWEST_FIRST,
            sort_keys=COLUMNS,
            keep=lambda g: _Kept(g.id, g.medium),  # a row's texts are kept, not its record
        )
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.setWordWrap(False)
        hh = self.table.horizontalHeader()
        for i, c in enumerate(COLUMNS):
            hh.setSectionResizeMode(
                i,
                QHeaderView.ResizeMode.Stretch
                if c in ("prompt", "baseline", "steered")
                else QHeaderView.ResizeMode.ResizeToContents,
            )
        hh.setResizeContentsPrecision(20)  # columns fit 20 rows, not 1,000 (each a Python call)
        hh.setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)  # a click on a header sorts in SQL
        self.table.doubleClicked.connect(lambda idx: self.show_images(idx.row()))
        lay.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.info = hint(
            "Every preview and sweep generation is kept here with what made it. "
            "Double-click an image generation to see its images."
        )
        row.addWidget(self.info, 1)
        export = QPushButton("Export CSV…")
        export.setToolTip(
            "All generations with their provenance (model, concept, site, coefficient, seed, sampling)"
        )
        export.clicked.connect(lambda: self.export_csv())
        row.addWidget(export)
        lay.addLayout(row)
        self.setWidget(body)
        ctx.state.events.project.connect(lambda *_: self.refresh())
        ctx.state.generations_changed.connect(self._on_generations_changed)

    def _on_generations_changed(self, new_id: int | None) -> None:
        if new_id is None:
            self.refresh()
        else:
            self.added(new_id)

    def _read(self, offset: int, limit: int, q: Query) -> list[GenerationInfo]:
        p = self.ctx.state.project
        if p is None:
            return []
        below = None
        if q == NEWEST_FIRST and 0 < offset == self.model.rowCount():
            below, offset = int(self.model.row(offset - 1).id), 0  # the next page by index
        return p.generations(
            images=False,
            offset=offset,
            limit=limit,
            search=q.search or None,
            sort=q.sort,
            descending=q.descending,
            below_id=below,
        )

    def generations(self) -> list[GenerationInfo]:
        """Every generation of the project, oldest first (text and image ones, no images)."""
        p = self.ctx.state.project
        if p is None:
            return []
        try:
            return p.generations(images=False)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "listing generations")
            return []

    def refresh(self) -> None:
        """Read the list again from its first page (the project or many rows changed)."""
        if self.ctx.state.project is None:
            self.model.clear()
        else:
            self.model.reload()

    def added(self, gen_id: int) -> None:
        """Show generation ``gen_id``, just saved, as one new row at the top."""
        p = self.ctx.state.project
        if p is None:
            return
        if self.model.query != NEWEST_FIRST or self.model.busy:
            self.refresh()  # sorted or searched: where it goes is the store's business
            return
        try:
            g = p.generation(int(gen_id))
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "showing the new generation")
            return
        self.model.insert_first(g)

    def apply_search(self) -> None:
        """Filter by the search box now (typing filters after a short pause)."""
        self._search_timer.stop()
        self.model.search(self.search.text())

    def row_count(self) -> int:
        return self.model.rowCount()

    def text(self, row: int, column: str) -> str:
        """The text shown in table row ``row`` (0 = top), column ``column`` ("id", "prompt"...)."""
        return str(self.model.index(row, COLUMNS.index(column)).data() or "")

    def show_images(self, row: int) -> Any:
        """Open the baseline and edited images of the image generation in table row ``row``
        (read from the project: they are not kept in memory). Returns the dialog."""
        if not 0 <= row < self.model.rowCount() or self.model.row(row).medium != "image":
            return None
        gen_id = int(self.model.row(row).id)
        p = self.ctx.state.project
        try:
            g = p.generation(gen_id)
            baseline, edited = p.generation_images(gen_id)
            if edited is None:
                raise ValueError(f"Generation {gen_id} holds no image.")
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "showing the images")
            return None
        from ui.dialogs.image_pair import ImagePairDialog

        dlg = ImagePairDialog(g, baseline, edited, self)
        dlg.show()
        self._dialog = dlg  # keep it alive; a new one replaces it
        return dlg

    def export_csv(self, path: str | None = None) -> Path | None:
        if path is None:
            from ui.file_dialogs import save_path

            path, _ = save_path(self, "Export generations", "generations.csv", "CSV (*.csv)")
            if not path:
                return None
        p = self.ctx.state.project
        if p is None:
            return None

        def pages() -> Iterator[list[GenerationInfo]]:
            offset = 0
            while True:
                page = p.generations(images=False, offset=offset, limit=CSV_PAGE)
                yield page
                if len(page) < CSV_PAGE:
                    return
                offset += CSV_PAGE

        try:
            out = write_csv(pages(), path)
            from ui.file_dialogs import saved

            saved(self, out, "Exported")
            return out
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "exporting generations")
            return None
