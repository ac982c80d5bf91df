"""Prompts dock: built-in and project prompt sets (pairs, labelled, plain, demonstrations,
ordinal), edited inline, imported from CSV/JSON/text (or dropped on the window)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.prompt_data import COLUMNS, KIND_TIPS, from_rows, rows_of
from ui.widgets import hint
from workbench.errors import PromptSetError

FILE_FILTER = "Prompt sets (*.csv *.tsv *.json *.jsonl *.txt);;All files (*)"


class PromptsDock(QDockWidget):
    def __init__(self, ctx: AppContext):
        super().__init__("Prompts")
        self.ctx = ctx
        self._loading = False
        body = QWidget()
        lay = QVBoxLayout(body)
        top = QHBoxLayout()
        self.combo = QComboBox()
        self.combo.setToolTip("Prompt sets: built-in ones (★) and this project's")
        self.combo.currentIndexChanged.connect(self._on_combo)
        top.addWidget(self.combo, 1)
        lay.addLayout(top)
        manage = QHBoxLayout()
        manage.addStretch(1)
        for text, tip, slot in (
            ("New set…", "New prompt set", self.new_set),
            (
                "Import…",
                "Import CSV (positive,negative / text,label / input,output / text), JSON or a text file (one prompt a line). You can also drop a file on the window.",
                self.import_file,
            ),
            ("Delete", "Delete this prompt set from the project", self.delete_set),
        ):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=slot: s())
            manage.addWidget(b)
        self.kind_label = hint("")
        lay.addWidget(self.kind_label)
        self.table = QTableWidget(0, 2)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.itemChanged.connect(self._on_edited)
        lay.addWidget(self.table, 1)
        rows = QHBoxLayout()
        self.count_label = QLabel("")
        # a long "Not saved: ..." must wrap, never widen the dock (and with it the window)
        self.count_label.setWordWrap(True)
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        add = QToolButton()
        add.setText("Add row")
        add.clicked.connect(self.add_row)
        rm = QToolButton()
        rm.setText("Remove rows")
        rm.clicked.connect(self.remove_rows)
        rows.addWidget(self.count_label, 1)
        rows.addWidget(add)
        rows.addWidget(rm)
        lay.addLayout(rows)
        lay.addLayout(manage)
        self.setWidget(body)
        self._save_timer = QTimer(self, singleShot=True, interval=400)
        self._save_timer.timeout.connect(self.save_current)
        ctx.state.events.prompt_sets.connect(self._on_prompt_sets_changed)
        ctx.state.events.current_prompt_set.connect(self._show_current)
        ctx.state.flush_prompt_edits.connect(self.flush_pending)  # a job reads a set next

    # ------------------------------------------------------------- sets
    def load_builtin_sets(self) -> None:
        try:
            from workbench.concepts.prompt_sets import builtin_sets

            builtins = builtin_sets()
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "reading the built-in prompt sets")
            return
        st = self.ctx.state
        if st.current_prompt_set is None:
            st.current_prompt_set = (
                "sentiment" if "sentiment" in builtins else next(iter(builtins), None)
            )
        have = {p["name"] for p in st.prompt_sets}
        extra = [
            {"name": n, "kind": ps.kind, "set": ps, "builtin": True}
            for n, ps in builtins.items()
            if n not in have
        ]
        st.prompt_sets = (*st.prompt_sets, *extra)
        if st.current_prompt_set is None and st.prompt_sets:
            st.current_prompt_set = (
                "sentiment" if st.prompt_set("sentiment") else st.prompt_sets[0]["name"]
            )

    def _on_prompt_sets_changed(self, sets: tuple) -> None:
        self._loading = True
        current = self.ctx.state.current_prompt_set
        self.combo.clear()
        for p in sets:
            mark = "★ " if p["builtin"] else ""
            self.combo.addItem(f"{mark}{p['name']}  ({p['kind']}, {len(p['set'])})", p["name"])
        i = self.combo.findData(current)
        self.combo.setCurrentIndex(max(i, 0))
        self._loading = False
        if i < 0 and sets:
            self.ctx.state.current_prompt_set = sets[0]["name"]
        self._show_current()

    def _on_combo(self, i: int) -> None:
        if not self._loading and i >= 0:
            self.ctx.state.current_prompt_set = self.combo.itemData(i)

    def current(self) -> Any:
        """The current PromptSet (engine object) or None."""
        p = self.ctx.state.prompt_set()
        return p["set"] if p else None

    def _show_current(self, *_: Any) -> None:
        p = self.ctx.state.prompt_set()
        self._loading = True
        i = self.combo.findData(self.ctx.state.current_prompt_set)
        if i >= 0:
            self.combo.setCurrentIndex(i)
        if p is None:
            self.table.setRowCount(0)
            self.kind_label.setText(
                "No prompt set. Pick a built-in one, import a file, or press + to type one."
            )
            self._loading = False
            return
        ps = p["set"]
        cols = COLUMNS[ps.kind]
        self.table.setColumnCount(len(cols))
        self.table.setHorizontalHeaderLabels([c.capitalize() for c in cols])
        rows = rows_of(ps)
        self.table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        where = "built-in (edits make a project copy)" if p["builtin"] else "in this project"
        self.kind_label.setText(
            f"<b>{ps.kind}</b> · {where}<br>{ps.description or KIND_TIPS[ps.kind]}"
        )
        self.kind_label.setToolTip(KIND_TIPS[ps.kind])
        self.count_label.setText(f"{len(rows)} items")
        self._loading = False

    # ------------------------------------------------------------ editing
    def _on_edited(self, *_: Any) -> None:
        if not self._loading:
            self._save_timer.start()

    def add_row(self) -> None:
        self.table.insertRow(self.table.rowCount())
        self.table.setCurrentCell(self.table.rowCount() - 1, 0)
        self.table.editItem(
            self.table.item(self.table.rowCount() - 1, 0) or self._blank(self.table.rowCount() - 1)
        )

    def _blank(self, row: int) -> QTableWidgetItem:
        self._loading = True
        items = [QTableWidgetItem("") for _ in range(self.table.columnCount())]
        for c, item in enumerate(items):
            self.table.setItem(row, c, item)
        self._loading = False
        return items[0]

    def remove_rows(self) -> None:
        for r in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(r)
        self._save_timer.start()

    def table_rows(self) -> list[list[str]]:
        out = []
        for r in range(self.table.rowCount()):
            out.append(
                [
                    (item.text() if (item := self.table.item(r, c)) else "")
                    for c in range(self.table.columnCount())
                ]
            )
        return out

    def save_current(self) -> None:
        """Write the table to the project (a built-in set becomes a project copy)."""
        p = self.ctx.state.prompt_set()
        if p is None:
            return
        try:
            ps = from_rows(p["name"], p["kind"], self.table_rows(), base=p["set"])
        except PromptSetError as e:  # an incomplete row while typing is fine; say so quietly
            self.count_label.setText(f"Not saved: {e}")
            self._set_problem(p["name"], str(e))
            return
        self._set_problem(p["name"], None)
        self.add_set(ps, select=False)

    def _set_problem(self, name: str, problem: str | None) -> None:
        """Keep why set ``name`` could not be saved in the app state, where a job that reads
        it looks (:meth:`AppState.check_prompt_set_saved`)."""
        st = self.ctx.state
        problems = {k: v for k, v in st.prompt_set_problems.items() if k != name}
        if problem:
            problems[name] = problem
        if problems != st.prompt_set_problems:
            st.prompt_set_problems = problems

    def flush_pending(self) -> None:
        """Write a pending table edit now (a job is about to read the set)."""
        if self._save_timer.isActive():
            self._save_timer.stop()
            self.save_current()

    def add_set(self, ps: Any, select: bool = True) -> None:
        self.ctx.project.write(
            f"saving prompt set {ps.name!r}",
            lambda: self.ctx.state.project.save_prompt_set(ps),
        )
        st = self.ctx.state
        entry = {"name": ps.name, "kind": ps.kind, "set": ps, "builtin": False}
        sets = [e for e in st.prompt_sets if e["name"] != ps.name]
        st.prompt_sets = (entry, *sets)
        if select:
            st.current_prompt_set = ps.name

    def new_set(self) -> None:
        kinds = list(COLUMNS)
        kind, ok = QInputDialog.getItem(
            self, "New prompt set", "Kind:", [f"{k} — {KIND_TIPS[k]}" for k in kinds], 0, False
        )
        if not ok:
            return
        kind = kind.split(" — ")[0]
        name, ok = QInputDialog.getText(self, "New prompt set", "Name:")
        if ok and name.strip():
            self.create_set(name.strip(), kind)

    def create_set(self, name: str, kind: str, rows: list[list[str]] | None = None) -> None:
        from workbench.concepts.prompt_sets import PromptSet

        if rows:
            ps = from_rows(name, kind, rows)
        else:  # an empty set is not valid in the engine: start with one example row
            example = {
                "contrastive": ["I love it", "I hate it"],
                "labelled": ["I love it", "positive"],
                "demonstrations": ["hot", "cold"],
                "ordinal": ["one, two, three"],
            }
            ps = (
                from_rows(name, kind, [example.get(kind, ["Hello"])])
                if kind != "plain"
                else PromptSet(name, kind, texts=["Hello"])
            )
        self.add_set(ps)

    def delete_set(self) -> None:
        p = self.ctx.state.prompt_set()
        if p is None or p["builtin"]:
            return
        self.ctx.project.write(
            f"deleting prompt set {p['name']!r}",
            lambda: self.ctx.state.project.delete_prompt_set(p["name"]),
        )
        self.ctx.project.refresh()
        self.load_builtin_sets()

    def import_file(self, path: str | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import prompt set", "", FILE_FILTER)
            if not path:
                return False
        from workbench.concepts.prompt_sets import load_prompt_set

        try:
            ps = load_prompt_set(path)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, f"importing {path}")
            return False
        taken = {p["name"] for p in self.ctx.state.prompt_sets}
        base, n = ps.name, 2
        while ps.name in taken:  # an import never replaces a set of the same name
            ps.name = f"{base} {n}"
            n += 1
        self.add_set(ps)
        self.setVisible(True)
        self.raise_()
        return True
