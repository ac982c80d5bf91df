"""Vector canvas: drag concepts in, weigh them, group, normalise, project out; the expression
as text; live diagnostics (norm per layer, top tokens, cosine to the library) computed off the
GUI thread, debounced; save the result as a new concept."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui import glossary
from ui.canvas_model import CanvasModel
from ui.commands import AddConceptCommand
from ui.context import AppContext
from ui.panels.canvas_terms import TermListWidget
from ui.panels.scale_warning import ScaleWarningLabel
from ui.widgets import EmptyStateWidget, hint, primary, title, tokens_html
from workbench.errors import WorkbenchError

CANVAS_NAME = "main"


class CanvasPanel(QWidget):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.model: CanvasModel = ctx.state.canvas  # the app state's canvas, shared
        self.result: Any = None  # the last CanvasResult
        self._restoring = False
        lay = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(title("Terms"))
        w = ctx.window
        self.empty = EmptyStateWidget(
            "Build a steering vector",
            [
                "Load a model in the <b>Models</b> dock (the embedded SmolLM2 loads by itself).",
                "Pick a prompt set in the <b>Prompts</b> dock, e.g. <i>sentiment</i>.",
                "Press <b>Extract…</b> in the <b>Concept library</b> (Ctrl+E).",
                "Drag concepts from the library onto this canvas and set their coefficients.",
                "Try the result in <b>Preview</b> (Ctrl+2) or save it as a new concept.",
            ],
            [
                ("Extract a concept…", lambda: w and w.library_dock.extract_dialog()),
                ("Open example project", lambda: ctx.project.open_example()),
            ],
        )
        self.terms = TermListWidget(self.model, self.empty)
        self.terms.concepts_dropped.connect(self._add_terms)
        ll.addWidget(self.terms, 1)
        opts = QHBoxLayout()
        self.group_box = QHBoxLayout()
        opts.addLayout(self.group_box)
        opts.addStretch(1)
        self.norm_result = QCheckBox("normalise result")
        self.norm_result.setToolTip(
            "Scale the final vector to unit norm (then the preview coefficient sets its size)."
        )
        self.norm_result.toggled.connect(self.model.set_normalize_result)
        opts.addWidget(self.norm_result)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.model.clear)
        opts.addWidget(clear)
        ll.addLayout(opts)
        ll.addWidget(title("Expression"))
        self.expression = QLabel("—")
        self.expression.setObjectName("expression")
        self.expression.setWordWrap(True)
        self.expression.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.expression.setToolTip(
            "The canvas as concept algebra; the saved concept's recipe keeps this text."
        )
        ll.addWidget(self.expression)
        save_row = QHBoxLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("Name for the new concept")
        self.save_button = primary(
            "Save as concept",
            "Add the combined vector to the library (its recipe keeps the expression)",
        )
        self.save_button.clicked.connect(lambda: self.save_result())
        self.preview_button = QPushButton("Preview →")
        self.preview_button.setToolTip("Steer with this vector in the Preview tab")
        self.preview_button.clicked.connect(self.send_to_preview)
        save_row.addWidget(self.name, 1)
        save_row.addWidget(self.save_button)
        save_row.addWidget(self.preview_button)
        ll.addLayout(save_row)
        splitter.addWidget(left)
        splitter.addWidget(self._build_diagnostics())
        splitter.setSizes([600, 380])
        lay.addWidget(splitter)
        self._undoing = False  # a change that must not become an undo step of its own
        self._snapshot: dict = self.model.to_dict()  # the layout the last undo step ends with
        self._timer = QTimer(self, singleShot=True, interval=150)
        self._timer.timeout.connect(self.recompute)
        self._save_timer = QTimer(self, singleShot=True, interval=500)
        self._save_timer.timeout.connect(self._save_layout)
        self.model.changed.connect(self._on_model_changed)
        ctx.state.events.project.connect(self._on_project_changed)
        ctx.project.flush_requested.connect(self.shutdown)  # write a pending layout now
        ctx.state.events.models.connect(lambda *_: self._timer.start())
        self._on_model_changed()

    def _build_diagnostics(self) -> QWidget:
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(title("Diagnostics"))
        row.addStretch(1)
        self.site = QComboBox()
        self.site.setToolTip("Site for top tokens and cosines")
        self.site.setMinimumContentsLength(22)
        self.site.currentTextChanged.connect(lambda *_: self._timer.start())
        row.addWidget(self.site)
        rl.addLayout(row)
        self.diag_status = hint(
            "Add terms to see the result's norm, top tokens and similarity to the library."
        )
        rl.addWidget(self.diag_status)
        self.scale_warning = ScaleWarningLabel()  # ‖result‖ against the residual stream's norm
        rl.addWidget(self.scale_warning)
        self.plot_stack = QStackedWidget()
        self.plot_stack.addWidget(QWidget())
        self.plot: Any = None
        rl.addWidget(self.plot_stack, 2)
        self.tokens = QLabel("")
        self.tokens.setWordWrap(True)
        self.tokens.setToolTip(glossary.TERMS["logit_lens"])
        rl.addWidget(self.tokens)
        self.cosines = QTreeWidget()
        self.cosines.setHeaderLabels(["Library concept", "cosine"])
        self.cosines.setRootIsDecorated(False)
        self.cosines.setToolTip(glossary.TERMS["cosine"])
        rl.addWidget(self.cosines, 2)
        return right

    # ------------------------------------------------------------ terms
    def _add_terms(self, names: list[str]) -> None:
        for name in names:
            self.add_term(name)

    def add_term(self, name: str, coefficient: float = 1.0, **kw: Any) -> None:
        if self.ctx.state.concept_info(name) is None:
            return
        self.model.add(name, coefficient, **kw)

    def _on_model_changed(self) -> None:
        self.expression.setText(self.model.to_text() or "—")
        while self.group_box.count():
            item = self.group_box.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        for g in self.model.groups_used():
            cb = QCheckBox(f"normalise group {g}")
            cb.setChecked(self.model.group_normalize.get(g, False))
            cb.setToolTip(glossary.TERMS["group"])
            cb.toggled.connect(lambda on, g=g: self.model.set_group_normalize(g, on))
            self.group_box.addWidget(cb)
        self.norm_result.blockSignals(True)
        self.norm_result.setChecked(self.model.normalize_result)
        self.norm_result.blockSignals(False)
        self.save_button.setEnabled(bool(self.model.terms))
        self._timer.start()
        if not self._restoring:
            self._save_timer.start()
        self._record_undo()

    # ------------------------------------------------------------- undo
    def _record_undo(self) -> None:
        layout = self.model.to_dict()
        if self._restoring or self._undoing or not self.model.tracking:
            self._snapshot = layout
            return
        if layout == self._snapshot:
            return
        from ui.commands import CanvasEditCommand

        before, self._snapshot = self._snapshot, layout
        self.ctx.undo.push(CanvasEditCommand(self, before, layout))

    def restore_layout(self, layout: dict) -> None:
        """Put the canvas back to ``layout`` (undo/redo), without recording a new step."""
        self.without_undo(lambda: self.model.load(layout))

    def without_undo(self, change: Any) -> None:
        self._undoing = True
        try:
            change()
        finally:
            self._undoing = False
        self._snapshot = self.model.to_dict()

    # ---------------------------------------------------------- compute
    def recompute(self) -> None:
        """Evaluate the canvas in the executor (newest request wins)."""
        tree = self.model.to_tree()
        if tree is None:
            self.result = None
            self.diag_status.setText(
                "Add terms to see the result's norm, top tokens and similarity to the library."
            )
            self.tokens.setText("")
            self.cosines.clear()
            self.plot_stack.setCurrentIndex(0)
            self.scale_warning.show_scale(None)
            return
        from ui.model_jobs import canvas_job

        try:
            gone = [n for n in self.model.concept_names() if not self.ctx.state.concept_info(n)]
            if gone:
                raise ValueError(
                    f"{', '.join(repr(n) for n in gone)} is no longer in the library: remove "
                    "the term, or undo the deletion (Ctrl+Z)."
                )
            concepts = {n: self.ctx.concepts.get(n) for n in self.model.concept_names()}
            library = [self.ctx.concepts.get(n) for n in self.ctx.state.concept_names()]
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self._show_error(e)
            return
        first = next(iter(concepts.values()))
        m = self.ctx.model_for(first)
        self.diag_status.setText("Computing…")
        self.ctx.executor.submit(
            "canvas",
            canvas_job,
            tree,
            concepts,
            library,
            m.hm if m else None,
            self.site.currentText() or None,
            self.name.text().strip(),
            label="Canvas diagnostics",
            on_result=self._show_result,
            on_error=self._show_error,
        )

    def _show_error(self, e: BaseException) -> None:
        """Nothing of the last good result stays on screen next to an error."""
        self.result = None
        self.diag_status.setText(f"Cannot combine: {e}")
        self.tokens.setText("")
        self.cosines.clear()
        self.save_button.setEnabled(False)
        self.plot_stack.setCurrentIndex(0)
        self.scale_warning.show_scale(None)

    def _show_result(self, r: Any) -> None:
        from workbench.figures import norms_per_layer_spec

        self.result = r
        sites = r.concept.sites
        if [self.site.itemText(i) for i in range(self.site.count())] != sites:
            self.site.blockSignals(True)
            self.site.clear()
            self.site.addItems(sites)
            self.site.setCurrentText(r.lens_site or sites[-1])
            self.site.blockSignals(False)
        n = len(sites)
        note = (
            f" · at the sites every term has ({len(r.dropped)} other site"
            f"{'s' if len(r.dropped) != 1 else ''} left out)"
            if r.dropped
            else ""
        )
        self.diag_status.setText(
            f"{n} site{'s' if n != 1 else ''}{note} · norm at {r.lens_site}: "
            f"{r.norms.get(r.lens_site, 0):.3g}"
        )
        self.save_button.setEnabled(True)
        self.scale_warning.show_scale(r.scale)  # steered at coefficient 1 (Preview multiplies)
        if self.plot is None:
            from ui.plots import LinePlotWidget

            self.plot = LinePlotWidget()
            self.plot_stack.addWidget(self.plot)
        self.plot_stack.setCurrentWidget(self.plot)
        self.plot.set_spec(norms_per_layer_spec("Result norm per layer", {"result": r.norms}))
        if r.lens:
            top, bottom = tokens_html(r.lens["top"][:8]), tokens_html(r.lens["bottom"][:8])
            self.tokens.setText(f"<b>Promotes</b> {top}<br><b>Suppresses</b> {bottom}")
        else:
            self.tokens.setText("Load the concepts' model to read top tokens.")
        self.cosines.clear()
        for name, cos in sorted(r.cosines.items(), key=lambda kv: -kv[1]):
            item = QTreeWidgetItem([name, f"{cos:+.3f}"])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            self.cosines.addTopLevelItem(item)
        self.cosines.resizeColumnToContents(0)

    # ------------------------------------------------------------- save
    def save_result(self, name: str | None = None) -> Any:
        """Evaluate now (small, on the main thread) and add the concept to the library."""
        from workbench.concepts.algebra import evaluate

        tree = self.model.to_tree()
        if tree is None:
            return None
        name = (name or self.name.text()).strip() or tree.to_text()
        try:
            concepts = {n: self.ctx.concepts.get(n) for n in self.model.concept_names()}
            concept = evaluate(tree, concepts, name=name, sites_rule="shared")
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.ctx.errors.handle(e, "combining the canvas")
            return None
        if self.ctx.state.concept_info(name):
            self.ctx.errors.handle(
                ValueError(f"A concept named {name!r} exists; choose another name."),
                "saving the canvas",
            )
            return None
        self.ctx.undo.push(AddConceptCommand(self.ctx, concept))
        self.name.clear()
        return concept

    def send_to_preview(self) -> None:
        if self.model.to_tree() is not None:
            if self.ctx.window is not None:  # first: a tab is built when first shown, and the
                self.ctx.window.show_panel("preview")  # Preview must exist to hear the emit
            self.model.use_in_preview.emit()  # the Preview tab listens (see ui.state)

    def canvas_concept(self) -> Any:
        """The canvas result as a Concept (evaluated now), or None."""
        return self.model.to_concept(self.ctx.concepts.get)

    # ---------------------------------------------------------- project
    def _save_layout(self) -> None:
        p = self.ctx.state.project
        if p is not None and not p.read_only:
            self.ctx.project.write(
                "saving the canvas", lambda: p.save_canvas(CANVAS_NAME, self.model.to_dict())
            )

    def _on_project_changed(self, project: Any) -> None:
        self._restoring = True
        try:
            layout = (project.canvases() if project is not None else {}).get(CANVAS_NAME)
        except WorkbenchError as e:  # a damaged canvases table: say which canvas, start empty
            layout = None
            self.ctx.errors.handle(e, f"reading the vector canvas {CANVAS_NAME!r}")
        try:
            self.model.load(layout or {})
        except Exception as e:  # noqa: BLE001 - a damaged layout (a NaN coefficient...): say so, start empty
            self.model.load({})
            self.ctx.errors.handle(e, "restoring the vector canvas")
        self._restoring = False

    def refresh_theme(self) -> None:
        if self.plot is not None:
            self.plot.refresh_theme()

    def shutdown(self) -> None:
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_layout()
