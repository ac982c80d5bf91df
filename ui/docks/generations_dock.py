"""Generations dock: every baseline/steered generation in the project, with provenance;
export as CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.widgets import hint

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


def generations_changed(ctx: AppContext) -> None:
    """Tell the Generations dock (if the window has one) that the project's list changed."""
    dock = ctx.views.get("generations")
    if dock is not None:
        dock.refresh()


def record_text_generation(ctx: AppContext, comparison: Any, provenance: dict) -> int | None:
    """Store a baseline/steered text pair in the project and show it in the dock; its id."""
    p = ctx.state.project
    if p is None:
        return None
    gid = ctx.project.write(
        "saving the generation",
        lambda: p.add_generation(
            kind="text",
            prompt=comparison.prompt,
            baseline=comparison.baseline,
            steered=comparison.steered,
            provenance=provenance,
        ),
    )
    generations_changed(ctx)
    return gid


def stream_into(edits: Any, pieces: Any) -> None:
    """Append streamed text pieces to their text boxes (one piece per box, None to skip)."""
    for edit, piece in zip(edits, pieces, strict=True):
        if piece:
            edit.moveCursor(QTextCursor.MoveOperation.End)
            edit.insertPlainText(piece)


def rows(generations: list[dict]) -> list[dict[str, Any]]:
    out = []
    for g in generations:
        prov = g.get("provenance") or {}
        if g.get("kind") == "image":  # diffusion: the images live in the project, not the table
            prov = {**prov, "concept": {"name": prov.get("expression", "")}}
            g = {**g, "baseline": "[image]", "steered": "[image]"}
        out.append(
            {
                "id": g["id"],
                "created": g.get("created", ""),
                "concept": (prov.get("concept") or {}).get("name", ""),
                "site": ", ".join(prov.get("sites", [])),
                "coefficient": prov.get("coefficient", ""),
                "seed": prov.get("seed", ""),
                "prompt": g.get("prompt", ""),
                "baseline": g.get("baseline") or "",
                "steered": g.get("steered") or "",
                "model": (prov.get("model") or {}).get("name", ""),
                "provenance": json.dumps(prov, default=str),
            }
        )
    return out


def write_csv(generations: list[dict], path: str | Path) -> Path:
    path = Path(path)
    data = rows(generations)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "model", "provenance"])
        w.writeheader()
        w.writerows(data)
    return path


class GenerationsDock(QDockWidget):
    def __init__(self, ctx: AppContext):
        super().__init__("Generations")
        self.ctx = ctx
        body = QWidget()
        lay = QVBoxLayout(body)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c.capitalize() for c in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        hh = self.table.horizontalHeader()
        for i, c in enumerate(COLUMNS):
            hh.setSectionResizeMode(
                i,
                QHeaderView.ResizeMode.Stretch
                if c in ("prompt", "baseline", "steered")
                else QHeaderView.ResizeMode.ResizeToContents,
            )
        self.table.cellDoubleClicked.connect(lambda r, _c: self.show_images(r))
        self._shown: list[dict[str, Any]] = []  # the table's rows, newest first
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

    def generations(self) -> list[dict]:
        p = self.ctx.state.project
        if p is None:
            return []
        try:
            return p.generations(images=False)  # text and image generations
        except Exception as e:
            self.ctx.errors.handle(e, "listing generations")
            return []

    def refresh(self) -> None:
        gens = self.generations()
        data = rows(gens)
        self._shown = list(reversed(gens))
        self.table.setRowCount(len(data))
        for r, row in enumerate(reversed(data)):  # newest first
            for c, key in enumerate(COLUMNS):
                text = str(row[key]).replace("\n", " ⏎ ")
                item = QTableWidgetItem(text)
                item.setToolTip(str(row[key])[:2000])
                self.table.setItem(r, c, item)

    def show_images(self, row: int) -> Any:
        """Open the baseline and edited images of the image generation in table row ``row``
        (read from the project: they are not kept in memory). Returns the dialog."""
        if not 0 <= row < len(self._shown) or self._shown[row].get("kind") != "image":
            return None
        g = self._shown[row]
        p = self.ctx.state.project
        try:
            baseline, edited = p.generation_images(int(g["id"]))
            if edited is None:
                raise ValueError(f"Generation {g['id']} holds no image.")
        except Exception as e:
            self.ctx.errors.handle(e, "showing the images")
            return None
        from ui.dialogs.image_pair import ImagePairDialog

        dlg = ImagePairDialog(g, baseline, edited, self)
        dlg.show()
        self._dialog = dlg  # keep it alive; a new one replaces it
        return dlg

    def export_csv(self, path: str | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export generations", "generations.csv", "CSV (*.csv)"
            )
            if not path:
                return None
        try:
            return write_csv(self.generations(), path)
        except OSError as e:
            self.ctx.errors.handle(e, "exporting generations")
            return None
