"""Looking at one head: its attention pattern on an editable prompt (token labels on both
axes) and the tokens it attends to most over a prompt set. Follows the panel's focused head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.panels.heads.jobs import HeadsState
from ui.widgets import hint

NO_MODEL = "No model is loaded. Load one in the Models dock (Ctrl+L)."


class HeadLookWidget(QTabWidget):
    def __init__(self, ctx: AppContext, state: HeadsState):
        super().__init__()
        self.ctx, self.state = ctx, state
        self.patterns: Any = None  # PatternView of the prompt (every head)
        self.top_tokens: Any = None  # TopAttended
        self.view: Any = None  # PatternWidget, made on first use (imports pyqtgraph)
        self.addTab(self._pattern_tab(), "Pattern")
        self.addTab(self._tokens_tab(), "Top tokens")
        ctx.state.events.prompt_sets.connect(self._refill_sets)
        state.events.focus.connect(self._on_focus)
        self._refill_sets()

    def _pattern_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        self.prompt = QLineEdit(
            "The cat sat on the mat. The dog ran in the park. The cat sat on the"
        )
        self.prompt.setToolTip(
            "The prompt whose attention is shown (repeat a phrase to see induction)"
        )
        self.prompt.returnPressed.connect(lambda: self.show_patterns())
        show = QPushButton("Show")
        show.setToolTip("Attention of the focused head on this prompt")
        show.clicked.connect(lambda: self.show_patterns())
        export = QPushButton("Export…")
        export.setToolTip("Save this pattern as PNG, SVG or PDF (also stored in the project)")
        export.clicked.connect(lambda: self.view is not None and self.view.export_dialog())
        # the prompt on a row of its own: the column stays narrow enough for a 1366-pixel screen
        lay.addWidget(self.prompt)
        row.addStretch(1)
        row.addWidget(show)
        row.addWidget(export)
        lay.addLayout(row)
        self.stack = QStackedWidget()
        self.stack.addWidget(hint("Click a head on the map to see its attention pattern."))
        lay.addWidget(self.stack, 1)
        return w

    def _tokens_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        self.tt_set = QComboBox()
        self.tt_set.setToolTip("Texts to look over (the first 64)")
        self.tt_k = QSpinBox()
        self.tt_k.setRange(1, 200)
        self.tt_k.setValue(15)
        self.tt_k.setPrefix("k = ")
        self.tt_button = QPushButton("Find")
        self.tt_button.setToolTip("The tokens the focused head attends to most over these texts")
        self.tt_button.clicked.connect(lambda: self.find_top_tokens())
        lay.addWidget(self.tt_set)  # a row of its own (a narrow column)
        row.addWidget(self.tt_k, 1)
        row.addWidget(self.tt_button)
        lay.addLayout(row)
        self.tt_label = hint("")
        lay.addWidget(self.tt_label)
        self.tt_table = QTableWidget(0, 4)
        self.tt_table.setHorizontalHeaderLabels(["token", "total", "per occurrence", "count"])
        self.tt_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.tt_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.tt_table.setToolTip(
            "total: attention summed over every query and prompt; per occurrence: total divided "
            "by how often the token occurs as a key (the first token, the sink, is left out)"
        )
        lay.addWidget(self.tt_table, 1)
        return w

    def _refill_sets(self, *_: Any) -> None:
        keep = self.tt_set.currentData() or "open_prompts"
        self.tt_set.clear()
        for p in self.ctx.state.prompt_sets:
            if p["kind"] in ("plain", "labelled", "contrastive", "demonstrations"):
                self.tt_set.addItem(p["name"], p["name"])
        self.tt_set.setCurrentIndex(max(self.tt_set.findData(keep), 0))

    # ----------------------------------------------------------- patterns
    def _on_focus(self, head: Any) -> None:
        if head is None:
            return
        if self.patterns is not None and self.patterns.prompt == self.prompt.text():
            self._draw()
        elif self.ctx.state.model() is not None:
            self.show_patterns()

    def show_patterns(self) -> int | None:
        """Compute every head's pattern on the prompt (one forward, in the executor)."""
        from ui.panels.heads.jobs import patterns_job

        m = self.ctx.state.model()
        prompt = self.prompt.text()
        try:
            if m is None:
                raise RuntimeError(NO_MODEL)
            if not prompt.strip():
                raise ValueError("The prompt is empty: type a prompt to see its attention.")
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "showing attention patterns")
            return None
        if (
            self.state.focus is None
        ):  # no head yet: the best of the score, or the last layer's first
            s = self.state.scores
            self.state.focus = tuple(s.top(1)[0][:2]) if s is not None else (m.hm.n_layers - 1, 0)
        return self.ctx.executor.submit(
            "heads-pattern",
            patterns_job,
            m.hm,
            prompt,
            label="Attention patterns",
            on_result=self._on_patterns,
        )

    def _on_patterns(self, view: Any) -> None:
        self.patterns = view
        self._draw()

    def _draw(self) -> None:
        from ui.panels.heads.jobs import pattern_spec

        if self.state.focus is None or self.patterns is None:
            return
        L, h = self.state.focus
        v = self.patterns
        if L not in v.layers or h >= v.patterns.shape[1]:
            return
        if self.view is None:
            from ui.panels.heads.plots import PatternWidget

            self.view = PatternWidget()
            self.view.exported.connect(self._store_figure)
            self.stack.addWidget(self.view)
        self.stack.setCurrentWidget(self.view)
        self.view.set_spec(pattern_spec(v, L, h, self.state.run_id))

    def _store_figure(self, spec: dict, path: str) -> None:
        p = self.ctx.state.project
        if p is None:
            return
        fmt = Path(path).suffix.lstrip(".").lower()
        data = Path(path).read_bytes()
        self.ctx.project.write(
            "saving the pattern figure", lambda: p.add_figure(spec["title"], spec, {fmt: data})
        )

    # --------------------------------------------------------- top tokens
    def find_top_tokens(self) -> int | None:
        from workbench.heads import top_attended_tokens_job

        m = self.ctx.state.model()
        try:
            if m is None:
                raise RuntimeError(NO_MODEL)
            if self.state.focus is None:
                raise ValueError("Click a head on the map first: its top tokens are found.")
            entry = self.ctx.state.prompt_set(self.tt_set.currentData())
            if entry is None:
                raise ValueError("Pick a prompt set to look over (Prompts dock).")
            ps = entry["set"]
            if ps.kind == "demonstrations":  # look at in-context prompts, six shots each
                n = len(ps)
                texts = [ps.demo_text([(i + j) % n for j in range(6)]) for i in range(0, n, 6)]
            else:
                texts = ps.all_texts()
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "finding top attended tokens")
            return None
        L, h = self.state.focus
        self.tt_button.setEnabled(False)
        self.tt_label.setText(f"L{L}H{h} over {min(len(texts), 64)} texts of {ps.name}…")
        return self.ctx.executor.submit(
            "heads-tokens",
            top_attended_tokens_job,
            m.hm,
            texts[:64],
            L,
            h,
            self.tt_k.value(),
            label=f"Top tokens of L{L}H{h}",
            on_result=self._on_top_tokens,
            on_done=lambda: self.tt_button.setEnabled(True),
        )

    def _on_top_tokens(self, t: Any) -> None:
        self.top_tokens = t
        self.tt_label.setText(self.tt_label.text().rstrip("…"))
        self.tt_table.setRowCount(len(t.tokens))
        for i, (tok, total, mean, n) in enumerate(t.tokens):
            for j, text in enumerate((repr(tok), f"{total:.2f}", f"{mean:.3f}", str(n))):
                self.tt_table.setItem(i, j, QTableWidgetItem(text))
