"""Picking heads: the top-k list of the current score, saved head sets, and the overlap of two
head sets (Circuit Component Reuse: do two tasks share their heads?).

Head sets live in the project as runs of kind ``head_set`` (settings = ``HeadSet.to_dict()``);
the store has no table of its own for them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.paged_model import recent_runs
from ui.panels.heads.jobs import KIND_TITLES, HeadsState
from ui.widgets import hint

ORDERS = {
    "highest": "highest first",
    "lowest": "most negative first",
    "abs": "largest magnitude first",
}


class HeadPickWidget(QWidget):
    head_activated = Signal(int, int)  # a row of the top list was clicked

    def __init__(self, ctx: AppContext, state: HeadsState):
        super().__init__()
        self.ctx, self.state = ctx, state
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.order = QComboBox()
        for key, text in ORDERS.items():
            self.order.addItem(text, key)
        self.order.setToolTip("How the top list ranks heads (signed scores: try magnitude)")
        self.order.currentIndexChanged.connect(lambda *_: self.refresh_top())
        self.k = QSpinBox()
        self.k.setRange(1, 1000)
        self.k.setValue(10)
        self.k.setPrefix("k = ")
        self.k.valueChanged.connect(lambda *_: self.refresh_top())
        self.topk_button = QPushButton("Select top-k")
        self.topk_button.setToolTip(
            "Select the k best heads of this score (replaces the selection)"
        )
        self.topk_button.clicked.connect(lambda: self.select_top_k())
        clear = QPushButton("Clear")
        clear.setToolTip("Deselect every head")
        clear.clicked.connect(lambda: setattr(self.state, "selected", ()))
        # two rows, so the ranking's name is not cut in a narrow column
        row.addWidget(self.order, 1)
        row.addWidget(self.k)
        lay.addLayout(row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.topk_button, 1)
        buttons.addWidget(clear)
        lay.addLayout(buttons)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["head", "score", "selected"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setToolTip("Click a row to show that head's pattern; ✓ marks selected heads")
        self.table.cellClicked.connect(self._on_row)
        lay.addWidget(self.table, 1)
        sets = QHBoxLayout()
        self.sets = QComboBox()
        self.sets.setToolTip("Head sets saved in this project")
        self.sets.setPlaceholderText("no saved head sets yet")
        self.use_set = QPushButton("Select set")
        self.use_set.clicked.connect(lambda: self.select_set())
        save = QPushButton("Save selection…")
        save.setToolTip("Save the selected heads as a named head set in the project")
        save.clicked.connect(lambda: self.save_head_set())
        lay.addWidget(self.sets)  # on a row of its own, so its name is not cut
        sets.addWidget(self.use_set, 1)
        sets.addWidget(save, 1)
        lay.addLayout(sets)
        cmp_row = QHBoxLayout()
        self.cmp_a, self.cmp_b = QComboBox(), QComboBox()
        for c in (self.cmp_a, self.cmp_b):
            c.setToolTip("A saved head set, or the top-k heads of a saved score run")
            c.setPlaceholderText("run a score or save a set")
        compare = QPushButton("Compare")
        compare.setToolTip(
            "Overlap of two head sets: shared heads, Jaccard |A∩B|/|A∪B| and the overlap "
            "coefficient |A∩B|/min(|A|,|B|) (Circuit Component Reuse reports ~78% shared)."
        )
        compare.clicked.connect(lambda: self.compare())
        # one set per row, so neither name is cut
        cmp_row.addWidget(self.cmp_a, 1)
        cmp_row.addWidget(hint("vs"))
        lay.addLayout(cmp_row)
        cmp_row_b = QHBoxLayout()
        cmp_row_b.addWidget(self.cmp_b, 1)
        cmp_row_b.addWidget(compare)
        lay.addLayout(cmp_row_b)
        self.compare_label = hint("")
        self.compare_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.compare_label)
        state.events.scores.connect(lambda *_: self.refresh_top())
        state.events.selected.connect(lambda *_: self._mark_selected())
        # a project opened: HeadsPanel._on_project refills the sets with its runs
        self.refresh_sets()

    # ---------------------------------------------------------------- top
    def refresh_top(self) -> None:
        s = self.state.scores
        self.table.setRowCount(0)
        if s is None:
            return
        top = s.top(self.k.value(), self.order.currentData())
        self.table.setRowCount(len(top))
        for i, (L, h, v) in enumerate(top):
            item = QTableWidgetItem(f"L{L}H{h}")
            item.setData(Qt.ItemDataRole.UserRole, (L, h))
            self.table.setItem(i, 0, item)
            self.table.setItem(i, 1, QTableWidgetItem(f"{v:.4f}"))
            self.table.setItem(i, 2, QTableWidgetItem(""))
        self._mark_selected()

    def _mark_selected(self) -> None:
        sel = set(self.state.selected)
        for i in range(self.table.rowCount()):
            head_item, mark = self.table.item(i, 0), self.table.item(i, 2)
            if head_item is not None and mark is not None:
                head = head_item.data(Qt.ItemDataRole.UserRole)
                mark.setText("✓" if tuple(head) in sel else "")

    def _on_row(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            L, h = item.data(Qt.ItemDataRole.UserRole)
            self.head_activated.emit(L, h)

    def select_top_k(self, k: int | None = None) -> None:
        s = self.state.scores
        if s is None:
            self.ctx.errors.handle(
                ValueError("Run a score first, then pick its top heads."), "selecting heads"
            )
            return
        k = k or self.k.value()
        self.state.selected = tuple((L, h) for L, h, _ in s.top(k, self.order.currentData()))

    # -------------------------------------------------------------- sets
    def refresh_sets(self) -> None:
        p = self.ctx.state.project
        runs = []
        if p is not None:
            try:
                runs = recent_runs(p, "head_set") + recent_runs(p, "head_scores")
            except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
                self.ctx.errors.handle(e, "listing head sets")
        keep = [c.currentData() for c in (self.sets, self.cmp_a, self.cmp_b)]
        for c in (self.sets, self.cmp_a, self.cmp_b):
            c.clear()
        for r in runs:
            if r.analysis == "head_set":
                self.sets.addItem(f"{r.name} ({len(r.settings.get('heads', []))})", r.id)
                for c in (self.cmp_a, self.cmp_b):
                    c.addItem(f"set: {r.name}", f"set:{r.id}")
            else:
                title = KIND_TITLES.get(r.settings.get("kind", ""), r.name)
                for c in (self.cmp_a, self.cmp_b):
                    c.addItem(f"top-k of #{r.id} {title}", f"scores:{r.id}")
        for c, k in zip((self.sets, self.cmp_a, self.cmp_b), keep, strict=True):
            i = c.findData(k)
            c.setCurrentIndex(i if i >= 0 else (1 if c is self.cmp_b and c.count() > 1 else 0))

    def save_head_set(self, name: str | None = None) -> int | None:
        from workbench.heads import HeadSet

        heads = list(self.state.selected)
        if not heads:
            self.ctx.errors.handle(
                ValueError("Select heads to save: click the map or use Top-k."), "saving a head set"
            )
            return None
        s = self.state.scores
        if name is None:
            default = f"{s.kind} top-{len(heads)}" if s is not None else "my heads"
            name, ok = QInputDialog.getText(self, "Save head set", "Name:", text=default)
            if not ok or not name.strip():
                return None
        model = str(s.model.get("name", "")) if s is not None else ""
        src = f"{s.kind} run #{self.state.run_id}" if s is not None else "manual"
        hs = HeadSet(name.strip(), model, heads, src)
        p = self.ctx.state.project
        if p is None:
            return None
        rid = self.ctx.project.write(
            "saving the head set",
            lambda: p.add_run("head_set", hs.name, hs.to_dict(), {"n_heads": len(hs)}),
        )
        self.refresh_sets()
        if rid is not None:
            self.sets.setCurrentIndex(self.sets.findData(rid))
        return rid

    def head_set(self, ref: str) -> Any:
        """A HeadSet from ``"set:<run id>"`` or ``"scores:<run id>"`` (top-k of that run)."""
        from workbench.heads import HeadScores, HeadSet, top_k

        p = self.ctx.state.project
        what, _, rid = ref.partition(":")
        run = p.load_run(int(rid))
        if what == "set":
            return HeadSet.from_dict(dict(run.settings))
        return top_k(
            HeadScores.from_run(run),
            self.k.value(),
            self.order.currentData(),
            name=f"#{rid} {run.name}",
        )

    def select_set(self) -> None:
        rid = self.sets.currentData()
        if rid is None:
            self.ctx.errors.handle(
                ValueError("No head set saved yet: select heads and press Save selection."),
                "selecting a head set",
            )
            return
        try:
            hs = self.head_set(f"set:{rid}")
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "loading the head set")
            return
        self.state.selected = tuple(hs.heads)

    def compare(self) -> Any:
        from workbench.heads import compare_head_sets

        a, b = self.cmp_a.currentData(), self.cmp_b.currentData()
        try:
            if a is None or b is None:
                raise ValueError(
                    "Save two head sets or score runs to compare (e.g. the function-vector heads of two tasks)."
                )
            c = compare_head_sets(self.head_set(a), self.head_set(b))
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "comparing head sets")
            return None
        fmt = lambda hs: ", ".join(f"L{L}H{h}" for L, h in hs) or "—"  # noqa: E731
        self.compare_label.setText(
            f"<b>{len(c.shared)} shared</b> · Jaccard {c.jaccard:.2f} · overlap {c.overlap:.0%}"
            f"<br>shared: {fmt(c.shared)}<br>only A: {fmt(c.only_a)}<br>only B: {fmt(c.only_b)}"
        )
        self.last_comparison = c
        return c
