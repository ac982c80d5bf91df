"""The function-vector tab of the Heads panel: build a function vector from the selected heads
(Todd et al. 2024), search layers × coefficients for the best setting, and show it with its
held-out accuracy.

The computation is the engine's :func:`workbench.heads.function_vector_concept_job`: the
demonstration set's pairs are split (30 % held out, seeded), the vector is built from the
training pairs, the search runs on the training words, and the accuracy (zero-shot and with
the vector at the best setting) is measured on the held-out words the vector never saw. This
widget builds its arguments and shows its result.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.errors import first_line
from ui.panels.heads.jobs import HeadsState
from ui.widgets import hint, primary, title

DEFAULT_COEFFICIENTS = "1, 2, 4, 8"


def default_layers(n_layers: int) -> str:
    """Every layer up to two thirds of the model (function vectors work early to middle)."""
    return f"0-{max(0, (2 * n_layers) // 3)}"


class FunctionVectorWidget(QWidget):
    def __init__(self, ctx: AppContext, state: HeadsState):
        super().__init__()
        self.ctx, self.state = ctx, state
        self.last_fv: Any = None  # the last FunctionVectorResult
        lay = QVBoxLayout(self)
        lay.addWidget(title("Function vector"))
        lay.addWidget(
            hint(
                "The sum of the selected heads' mean outputs at the last token of in-context "
                "prompts; added to the residual stream it makes the model do the task "
                "zero-shot (Todd et al. 2024). <b>1.</b> Score heads with "
                "<i>Function-vector heads</i>. <b>2.</b> Select the top heads (Top-k). "
                "<b>3.</b> Build: the layer × coefficient search finds the best setting on the "
                "training words; accuracy is measured on held-out words."
            )
        )
        self.heads_label = hint("No heads selected: click cells of the map or use Top-k.")
        lay.addWidget(self.heads_label)
        form = QFormLayout()
        self.fv_demos = QComboBox()
        self.fv_demos.setToolTip("Demonstrations (input → output pairs) from the Prompts dock")
        self.fv_demos.setMinimumContentsLength(14)
        self.fv_shots = QSpinBox()
        self.fv_shots.setRange(1, 32)
        self.fv_shots.setValue(5)
        self.fv_shots.setToolTip(
            "Demonstrations in each in-context prompt, written 'Q: input / A: output' as the "
            "command line does"
        )
        self.fv_prompts = QSpinBox()
        self.fv_prompts.setRange(1, 512)
        self.fv_prompts.setValue(24)  # workbench.heads.function_vector.FV_PROMPTS, as the CLI
        self.fv_prompts.setToolTip("In-context prompts whose head outputs are averaged")
        self.fv_search = QCheckBox("search layers × coefficients for the best setting")
        self.fv_search.setChecked(True)
        self.fv_search.setToolTip(
            "Zero-shot accuracy on the training words at every layer × coefficient; the best "
            "cell is the vector's setting (the held-out words are not used to choose it)"
        )
        self.fv_search.toggled.connect(self._on_search_toggled)
        self.fv_layers = QLineEdit()
        self.fv_layers.setToolTip("Layers to search, e.g. 0-20 or 4, 8, 12 (from-to:step)")
        self.fv_coefs = QLineEdit(DEFAULT_COEFFICIENTS)
        self.fv_coefs.setToolTip("Coefficients to search (the vector is added × each)")
        self.fv_layer = QSpinBox()
        self.fv_layer.setToolTip(
            "Without a search: add it at blocks.{layer}.hook_resid_post (Todd et al.: "
            "~n_layers/3), coefficient 1"
        )
        self.fv_name = QLineEdit()
        self.fv_name.setPlaceholderText("fv:<task>")
        self.fv_measure = QCheckBox("measure held-out zero-shot accuracy")
        self.fv_measure.setToolTip(
            "30% of the set's pairs are held out (seeded): the vector is built from the others "
            "and its accuracy measured on these"
        )
        self.fv_measure.setChecked(True)
        form.addRow("Demos", self.fv_demos)
        form.addRow("Shots", self.fv_shots)
        form.addRow("Prompts", self.fv_prompts)
        form.addRow("", self.fv_search)
        form.addRow("Layers", self.fv_layers)
        form.addRow("Coefficients", self.fv_coefs)
        form.addRow("Layer", self.fv_layer)
        form.addRow("Name", self.fv_name)
        form.addRow("", self.fv_measure)
        lay.addLayout(form)
        self.fv_button = primary(
            "Build function vector → library",
            "Build it from the selected heads, search its best setting, add it to the library",
        )
        self.fv_button.clicked.connect(lambda: self.build_function_vector())
        lay.addWidget(self.fv_button)
        self.best = QLabel("")
        self.best.setObjectName("fvBest")
        self.best.setWordWrap(True)
        self.best.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.best)
        self.grid = QTableWidget(0, 0)
        self.grid.setToolTip("Zero-shot accuracy on the training words with the vector added")
        self.grid.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.grid.setVisible(False)
        self.grid.setMinimumHeight(160)
        lay.addWidget(self.grid, 1)
        self.status = hint("")
        lay.addWidget(self.status)
        lay.addStretch(0)
        state.events.selected.connect(self._on_selected)
        ctx.state.events.prompt_sets.connect(self._refill_demos)
        ctx.state.events.active_model.connect(self._on_model)
        ctx.state.events.models.connect(self._on_model)
        self._refill_demos()
        self._on_model()
        self._on_search_toggled(True)

    # ------------------------------------------------------------ choices
    def _refill_demos(self, *_: Any) -> None:
        keep = self.fv_demos.currentData() or "antonyms"
        self.fv_demos.clear()
        for p in self.ctx.state.prompt_sets:
            if p["kind"] == "demonstrations":
                self.fv_demos.addItem(p["name"], p["name"])
        self.fv_demos.setCurrentIndex(max(self.fv_demos.findData(keep), 0))

    def _on_model(self, *_: Any) -> None:
        m = self.ctx.state.model()
        if m is not None:
            n = m.hm.n_layers
            self.fv_layer.setRange(0, n - 1)
            self.fv_layer.setValue(n // 3)
            self.fv_layers.setText(default_layers(n))

    def _on_search_toggled(self, on: bool) -> None:
        self.fv_layers.setEnabled(on)
        self.fv_coefs.setEnabled(on)
        self.fv_layer.setEnabled(not on)

    def _on_selected(self, heads: tuple) -> None:
        if not heads:
            self.heads_label.setText("No heads selected: click cells of the map or use Top-k.")
        else:
            names = ", ".join(f"L{L}H{h}" for L, h in heads[:12])
            more = f" … (+{len(heads) - 12})" if len(heads) > 12 else ""
            self.heads_label.setText(f"{len(heads)} heads selected: {names}{more}")

    def _heads(self) -> tuple[Any, list]:
        m = self.ctx.state.model()
        if m is None:
            raise RuntimeError("No model is loaded. Load one in the Models dock (Ctrl+L).")
        heads = list(self.state.selected)
        if not heads:
            raise ValueError(
                "Select heads first to build a function vector: run the Function-vector heads "
                "score, then click cells of the map or use Top-k."
            )
        bad = [(L, h) for L, h in heads if m.hm.n_layers <= L or h >= m.hm.n_heads]
        if bad:
            raise ValueError(f"Heads {bad} are not in {m.name}; run a score with this model first.")
        return m, heads

    def _search(self, n_layers: int) -> tuple[list[int], list[float]]:
        from ui.panels.sweep_panel import parse_numbers

        if not self.fv_search.isChecked():
            return [], []
        try:
            layers = [int(x) for x in parse_numbers(self.fv_layers.text(), integer=True)]
            coefs = [float(x) for x in parse_numbers(self.fv_coefs.text())]
        except ValueError as e:
            raise ValueError(
                "Layers and coefficients are numbers or ranges, e.g. layers 0-20 or 2, 4, 6 "
                "and coefficients 1, 2, 4, 8."
            ) from e
        if not layers or not coefs:
            raise ValueError("Give at least one layer and one coefficient to search.")
        bad = [L for L in layers if not 0 <= L < n_layers]
        if bad:
            raise ValueError(f"Layers {bad} are not in this model (0 to {n_layers - 1}).")
        return list(dict.fromkeys(layers)), list(dict.fromkeys(coefs))

    # ------------------------------------------------------------- build
    def build_function_vector(self) -> int | None:
        from workbench.heads import ICLTask, function_vector_concept_job
        from workbench.heads.function_vector import FV_SEPARATOR, FV_TEMPLATE

        try:
            m, heads = self._heads()
            name = self.fv_demos.currentData()
            p = self.ctx.state.prompt_set(name) if name else None
            if p is None:
                raise ValueError(
                    "Pick a demonstration set (antonyms, country → capital…); add one in the "
                    "Prompts dock."
                )
            if len(p["set"]) < self.fv_shots.value() + 1:
                raise ValueError(
                    f"{name!r} has {len(p['set'])} pairs; {self.fv_shots.value()} shots need "
                    f"{self.fv_shots.value() + 1}. Use fewer shots."
                )
            layers, coefs = self._search(m.hm.n_layers)
        except Exception as e:  # noqa: BLE001 - shown in the status line and by the error handler
            self.status.setText(f"Not started: {e}")
            self.ctx.errors.handle(e, "building a function vector")
            return None
        self.fv_button.setEnabled(False)
        self.grid.setVisible(False)
        self.best.setText("")
        cells = f", searching {len(layers)} layers × {len(coefs)} coefficients" if layers else ""
        self.status.setText(f"Building a function vector of {name} from {len(heads)} heads{cells}…")
        return self.ctx.executor.submit(
            "heads-fv",
            function_vector_concept_job,
            m.hm,
            heads,
            ICLTask.from_prompt_set(p["set"], FV_TEMPLATE, FV_SEPARATOR),  # as the CLI does
            self.fv_prompts.value(),
            self.fv_shots.value(),
            self.fv_layer.value(),
            self.fv_name.text().strip(),
            1.0,
            self.fv_measure.isChecked(),
            search_layers=layers,
            search_coefficients=coefs,
            label="Function vector",
            on_result=self._on_fv,
            on_error=self._on_error,
            on_done=self._on_done,
        )

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText(f"Failed: {first_line(exc)}")
        self.ctx.errors.handle(exc, "building a function vector")

    def _on_done(self) -> None:
        self.fv_button.setEnabled(True)
        if self.status.text().endswith("…"):
            self.status.setText("Stopped.")

    def _on_fv(self, r: Any) -> None:
        from ui.commands import add_concept

        self.last_fv = r
        name = add_concept(self.ctx, r.concept).name
        from workbench.models.sites import resid_post

        site = resid_post(r.layer)
        acc = r.accuracy
        setting = f"layer {r.layer}, coefficient {r.coefficient:g}"
        if acc:
            self.best.setText(
                f"<b>{setting}</b>: held-out accuracy <b>{acc['with_fv']:.0%}</b> "
                f"(zero-shot without it {acc['zero_shot']:.0%}) on {r.held_out} words the "
                f"vector was not built from."
            )
        else:
            self.best.setText(f"<b>{setting}</b> (held-out accuracy not measured)")
        if r.search is not None:
            self._show_search(r.search)
        self.status.setText(
            f"Added {name!r} to the library ({site}, coefficient {r.coefficient:g}); try it in "
            "Preview or sweep it."
        )

    def _show_search(self, s: dict) -> None:
        layers, coefs, acc = s["layers"], s["coefficients"], s["accuracy"]
        self.grid.clear()
        self.grid.setRowCount(len(layers))
        self.grid.setColumnCount(len(coefs))
        self.grid.setHorizontalHeaderLabels([f"×{c:g}" for c in coefs])
        self.grid.setVerticalHeaderLabels([f"layer {L}" for L in layers])
        best = (s["best_layer"], s["best_coefficient"])
        for i, L in enumerate(layers):
            for j, c in enumerate(coefs):
                item = QTableWidgetItem(f"{acc[i][j]:.0%}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if (L, c) == best:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                    item.setBackground(QBrush(QColor(80, 160, 90, 110)))
                    item.setToolTip("the best setting on the training words")
                self.grid.setItem(i, j, item)
        self.grid.setVisible(True)
        self.grid.setToolTip(
            f"Zero-shot accuracy on the training words (unsteered {s['baseline']:.0%}) with "
            "the vector added at each layer × coefficient; bold: the best"
        )
