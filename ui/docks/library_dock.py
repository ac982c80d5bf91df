"""Concept library dock: search, extract, rename/delete (undoable), compare, import/export;
drag concepts onto the canvas. The selected concept's recipe and diagnostics show below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListView,
    QMainWindow,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.commands import AddConceptCommand, DeleteConceptsCommand, RenameConceptCommand
from ui.context import AppContext
from ui.dialogs.extract_dialog import method_tip
from ui.docks.concept_details import ConceptDetailsWidget
from ui.paged_model import FIRST_PAGE, PagedTableModel, Query
from ui.widgets import hint, primary
from workbench.errors import WorkbenchError
from workbench.store.records import ConceptRow

MIME = "application/x-workbench-concepts"
NEWEST_FIRST = Query(sort="saved", descending=True)


def _tip(row: ConceptRow, _column: int, _text: str) -> str:
    n, method = row.n_sites or 0, row.method or "?"
    return f"{row.name}\n{method} · {n} site{'s' * (n != 1)} · {row.model}\n{method_tip(method)}"


class ConceptListModel(PagedTableModel):
    """The project's concepts, newest first, a page at a time; search and order in SQL."""

    def __init__(self, ctx: AppContext):
        super().__init__(
            ["Concept"],
            self._read,
            lambda r: [r.name],
            is_fast=lambda _q: True,  # a page of concepts is one short query, search or not
            on_error=lambda e: ctx.errors.handle(e, "listing concepts"),
            first_page=FIRST_PAGE,
            default_query=NEWEST_FIRST,
            tooltip=_tip,
        )
        self.ctx = ctx

    def _read(self, offset: int, limit: int, q: Query) -> list[ConceptRow]:
        p = self.ctx.state.project
        if p is None:
            return []
        return p.concept_rows(
            offset=offset, limit=limit, search=q.search, sort=q.sort, descending=q.descending
        )

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return [MIME, "text/plain"]

    def mimeData(self, indexes: Any) -> QMimeData:
        names = [self.row(i.row()).name for i in indexes if i.isValid()]
        md = QMimeData()
        md.setData(MIME, "\n".join(names).encode())
        md.setText(", ".join(names))
        return md

    def name(self, row: int) -> str:
        return str(self.row(row).name)


class LibraryDock(QDockWidget):
    def __init__(self, ctx: AppContext):
        super().__init__("Concept library")
        self.ctx = ctx
        self.last_import_notes: list[str] = []  # what the last import did that the file did not say
        body = QWidget()
        lay = QVBoxLayout(body)
        row = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search concepts (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        row.addWidget(self.search, 1)
        self.extract_button = primary("Extract…", "Make a concept from a prompt set (Ctrl+E)")
        self.extract_button.clicked.connect(lambda: self.extract_dialog())
        row.addWidget(self.extract_button)
        lay.addLayout(row)
        self.model = ConceptListModel(ctx)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(lambda: self.model.search(self.search.text()))
        self.search.textChanged.connect(lambda *_: self._search_timer.start())
        self.model.modelReset.connect(self._reselect)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setUniformItemSizes(True)  # rows are measured once, not one by one
        self.view.setLayoutMode(QListView.LayoutMode.Batched)  # a page lays out in steps
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setToolTip(
            "Drag concepts onto the vector canvas. F2 renames, Del deletes (Ctrl+Z undoes)."
        )
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection)
        self.view.doubleClicked.connect(lambda *_: self.add_selected_to_canvas())
        self.empty = hint(
            "No concepts yet. Load a model, pick a prompt set in the Prompts dock, then press Extract…."
        )
        splitter = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.empty)
        tl.addWidget(self.view, 1)
        buttons = QHBoxLayout()
        for text, tip, slot in (
            (
                "Compare",
                "Cosine-similarity matrix of the selected concepts (Ctrl+K)",
                self.compare_selected,
            ),
            (
                "→ Canvas",
                "Add the selected concepts to the vector canvas",
                self.add_selected_to_canvas,
            ),
            (
                "Export…",
                "Write the selected concept as safetensors, GGUF control vector, .pt, .npy/.npz, Neuronpedia JSON or .svec",
                self.export_selected,
            ),
            ("Import…", "Read a vector file as a concept", self.import_vector),
        ):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=slot: s())
            buttons.addWidget(b)
        buttons.addStretch(1)
        tl.addLayout(buttons)
        splitter.addWidget(top)
        self.details = ConceptDetailsWidget(ctx)
        splitter.addWidget(self.details)
        splitter.setSizes([300, 280])
        lay.addWidget(splitter, 1)
        self.setWidget(body)
        ctx.state.events.concepts.connect(self._on_concepts_changed)
        ctx.state.events.selected_concepts.connect(self._on_selected_concepts_changed)
        self._on_concepts_changed(ctx.state.concepts)

    # --------------------------------------------------------------- list
    def _on_concepts_changed(self, infos: tuple) -> None:
        self.model.reload()  # the first page, newest first, as the search box says
        self.empty.setVisible(not infos)
        self._on_selected_concepts_changed(self.ctx.state.selected_concepts)

    def apply_search(self) -> None:
        """Filter now (typing filters after a short pause)."""
        self._search_timer.stop()
        self.model.search(self.search.text())

    def _reselect(self) -> None:
        QTimer.singleShot(  # with self as context: dropped if the dock is gone by then
            0, self, lambda: self._on_selected_concepts_changed(self.ctx.state.selected_concepts)
        )

    def _on_view_selection(self, *_: Any) -> None:
        names = tuple(self.model.name(i.row()) for i in self.view.selectionModel().selectedRows())
        if names != self.ctx.state.selected_concepts:
            self.ctx.state.selected_concepts = names

    def _on_selected_concepts_changed(self, names: tuple) -> None:
        """Select ``names`` in the list, reading a few more pages while one is not listed yet
        (a page is one short query; a new concept is on the first)."""
        shown = {self.model.name(r) for r in range(self.model.rowCount())}
        pages = 5
        while set(names) - shown and self.model.canFetchMore() and pages:
            pages -= 1
            first = self.model.rowCount()
            self.model.fetchMore()
            shown |= {self.model.name(r) for r in range(first, self.model.rowCount())}
        sm = self.view.selectionModel()
        sm.blockSignals(True)
        sm.clearSelection()
        for r in range(self.model.rowCount()):
            if self.model.name(r) in names:
                idx = self.model.index(r, 0)
                sm.select(idx, sm.SelectionFlag.Select)
                self.view.scrollTo(idx)
        sm.blockSignals(False)
        self.view.viewport().update()

    def selected(self) -> list[str]:
        return list(self.ctx.state.selected_concepts)

    def focus_search(self) -> None:
        self.setVisible(True)
        self.search.setFocus()
        self.search.selectAll()

    # ------------------------------------------------------------ extract
    def extract_dialog(self) -> None:
        from ui.dialogs.extract_dialog import ExtractDialog

        m = self.ctx.state.model()
        if m is None:
            self.ctx.errors.handle(
                RuntimeError("No model is loaded. Load one in the Models dock first (Ctrl+L)."),
                "extracting a concept",
            )
            return
        names = [p["name"] for p in self.ctx.state.prompt_sets]
        dlg = ExtractDialog(names, self.ctx.state.current_prompt_set, m.hm.n_layers, self)
        if dlg.exec():
            self.extract(**dlg.values())

    def extract(
        self,
        prompt_set: str,
        method: str,
        sites: list[str],
        position: str = "last",
        words: Sequence[str] = (),
        name: str = "",
    ) -> int:
        """Run an extraction in the background; the concept lands in the library."""
        from ui.model_jobs import extract_job

        m = self.ctx.state.model()
        if m is None:
            raise RuntimeError("No model is loaded.")
        if method not in ("embedding", "unembedding"):
            # the set as the user sees it in the Prompts dock, or a clear refusal
            self.ctx.state.check_prompt_set_saved(prompt_set)
        p = self.ctx.state.prompt_set(prompt_set)
        ps = p["set"] if p and method not in ("embedding", "unembedding") else None
        return self.ctx.executor.submit(
            "extract",
            extract_job,
            m.hm,
            ps,
            method,
            sites,
            position,
            name,
            list(words),
            label=f"Extracting {method}",
            on_result=self.add_concept,
        )

    def add_concept(self, concept: Any) -> None:
        taken = set(self.ctx.state.concept_names())
        base, n = concept.name, 2
        while concept.name in taken:
            concept = concept.renamed(f"{base} {n}")
            n += 1
        self.ctx.undo.push(AddConceptCommand(self.ctx, concept))
        self.ctx.state.selected_concepts = (concept.name,)
        warnings = concept.recipe.get("warnings") if isinstance(concept.recipe, dict) else None
        if warnings:  # e.g. a norm far above the site's (the attention sink): kept, but said
            win = self.window()
            if isinstance(win, QMainWindow):
                win.statusBar().showMessage(f"{concept.name}: " + " ".join(warnings), 30000)

    # ------------------------------------------------------ rename/delete
    def rename_selected(self, new: str | None = None) -> None:
        names = self.selected()
        if not names:
            return
        old = names[0]
        if new is None:
            new, ok = QInputDialog.getText(self, "Rename concept", "New name:", text=old)
            if not ok:
                return
        new = new.strip()
        if new and new != old:
            if new in self.ctx.state.concept_names():
                self.ctx.errors.handle(
                    ValueError(f"There is already a concept named {new!r}: choose another name."),
                    f"renaming {old!r}",
                )
                return
            self.ctx.undo.push(RenameConceptCommand(self.ctx, old, new))

    def delete_selected(self) -> None:
        names = self.selected()
        if names:
            self.ctx.undo.push(DeleteConceptsCommand(self.ctx, names))

    # ----------------------------------------------------- compare/canvas
    def compare_selected(self) -> None:
        from ui.dialogs.compare_dialog import CompareDialog

        names = self.selected() if len(self.selected()) >= 2 else self.ctx.state.concept_names()
        if len(names) < 2:
            self.ctx.errors.handle(
                RuntimeError("Select two or more concepts to compare (Ctrl+click)."),
                "comparing concepts",
            )
            return
        dlg = CompareDialog(self.ctx, names, self)
        dlg.setModal(False)
        dlg.show()
        self._compare = dlg

    def add_selected_to_canvas(self) -> None:
        canvas = self.ctx.state.canvas  # the app state's canvas: its tab shows it
        for n in self.selected():
            if self.ctx.state.concept_info(n) is not None:
                canvas.add(n)
        if self.ctx.window is not None:
            self.ctx.window.show_panel("canvas")

    # ------------------------------------------------------- import/export
    def export_selected(
        self, path: str | None = None, fmt: str | None = None, site: str | None = None
    ) -> Any:
        from ui.dialogs.export_vector import export_concept_interactive

        names = self.selected()
        if not names:
            self.ctx.errors.handle(RuntimeError("Select a concept to export."), "exporting")
            return None
        try:
            concept = self.ctx.concepts.get(names[0])
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "loading the concept")
            return None
        return export_concept_interactive(self, concept, path, fmt, site, self.ctx.errors)

    def import_vector(self, path: str | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self,
                "Import vector file",
                "",
                "Vector files (*.safetensors *.gguf *.pt *.pth *.npy *.npz *.json *.svec);;All files (*)",
            )
            if not path:
                return False
        from workbench.io.vector_files import attach_to_model, import_concept, site_in_name

        m = self.ctx.state.model()
        notes = []
        try:
            concept = import_concept(path)
        except Exception as e:  # noqa: BLE001 - retried with a site below, else shown and logged
            if m is None or "site" not in str(e):
                self.ctx.errors.handle(e, f"importing {path}")
                return False
            # a bare vector: the site its file name gives (if this model has it), else the
            # middle resid_post
            site = site_in_name(path)
            try:
                m.hm.check_site(site or "")
            except WorkbenchError:  # not a site of this model (SiteError): the middle layer
                site = f"blocks.{m.hm.n_layers // 2}.hook_resid_post"
            try:
                concept = import_concept(path, model=m.ref, site=site)
            except Exception as e2:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
                self.ctx.errors.handle(e2, f"importing {path}")
                return False
            notes.append(
                f"The file holds a bare vector and does not say where it belongs; it was put at "
                f"{site}. (Vectors saved as safetensors keep their sites.)"
            )
        if m is not None:
            concept, note = attach_to_model(concept, m.ref)
            notes.append(note)
        if any(c.id == concept.id for c in self.ctx.state.concepts):
            # the same file imported again: a new concept, never a replacement of the first
            concept = concept.with_new_id()
        self.add_concept(concept)
        self.last_import_notes = [n for n in notes if n]
        if self.last_import_notes:
            win = self.window()
            if isinstance(win, QMainWindow):
                win.statusBar().showMessage(" ".join(self.last_import_notes), 15000)
        return True
