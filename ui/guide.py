"""Help → Getting started: a first experiment, four steps, in a dock beside the work.

Each step's button drives the panel that does the work (the Models dock loads, the Heads panel
scores, the library extracts, the Preview panel generates); the guide computes nothing itself.
A step is marked done when the app's state shows its result (a model in ``state.models``, scores
on the Heads panel, a new concept in the library, a steered generation in the Preview), so doing
a step by hand counts too. The guide is not modal: the window stays usable while it is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from ui.main_window import MainWindow

CONCEPT = "sentiment (getting started)"
PROMPT = "I think that this movie was"
COEFFICIENT = 4.0


@dataclass
class Step:
    key: str
    title: str
    text: str
    button: str


STEPS = (
    Step(
        "load",
        "1. Load the model",
        "SmolLM2-135M-Instruct ships with the app: 30 layers, 9 heads each. The Models dock "
        "loads it in the background; the window stays usable meanwhile.",
        "Load SmolLM2",
    ),
    Step(
        "heads",
        "2. Score induction heads",
        "Induction heads copy what followed an earlier occurrence of the current token. The "
        "Heads panel scores all 270 heads on repeated random tokens; in this model L18H6 and "
        "L17H4 come out on top. Click a square of the map to see that head's pattern.",
        "Score heads",
    ),
    Step(
        "extract",
        "3. Extract a sentiment concept",
        "A concept is one vector per site. The difference of means between the built-in "
        "positive and negative sentiment prompts, in the residual stream two fifths of the way "
        f"up (layer 12 of SmolLM2's 30), becomes the concept '{CONCEPT}' in the library.",
        "Extract",
    ),
    Step(
        "steer",
        "4. Steer a generation",
        f"The Preview tab continues '{PROMPT}' twice from the same seed: as the model is, and "
        f"with {COEFFICIENT:g} × the concept added at the same layer. The steered side turns "
        "positive. Try a negative coefficient next.",
        "Generate",
    ),
)


class GettingStartedDock(QDockWidget):
    """The guide. ``run_step(key)`` is what a step's button does."""

    def __init__(self, window: MainWindow):
        super().__init__("Getting started", window)
        self.setObjectName("dock_getting_started")
        self.window_ = window
        self.ctx = window.ctx
        self.done: dict[str, bool] = {s.key: False for s in STEPS}
        self.running: str | None = None
        self.concept_name: str | None = None
        self._names_before: set[str] = set()
        self.buttons: dict[str, QPushButton] = {}
        self.status: dict[str, QLabel] = {}
        self.boxes: dict[str, QFrame] = {}
        body = QWidget()
        lay = QVBoxLayout(body)
        intro = QLabel(
            "A first experiment in four steps. Each button works the real panel, so you can "
            "see where things are; you can also do any step by hand."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        for step in STEPS:
            lay.addWidget(self._step_widget(step))
        lay.addStretch(1)
        close = QPushButton("Close guide")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(close)
        lay.addLayout(row)
        self.scroll_area = QScrollArea()  # not "scroll": QWidget.scroll() is a method
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(body)
        self.scroll_area.setMinimumWidth(280)
        self.setWidget(self.scroll_area)
        st = self.ctx.state
        st.events.models.connect(self._on_models)
        st.events.concepts.connect(self._on_concepts)
        self.ctx.errors.error_shown.connect(self._on_error)
        self.ctx.executor.job_finished.connect(self._on_job_finished)
        heads = self._heads()
        if heads is not None:
            heads.state.events.scores.connect(self._on_scores)
        self._on_models(st.models)
        self.refresh()

    # ------------------------------------------------------------ layout
    def _step_widget(self, step: Step) -> QWidget:
        box = QFrame()
        box.setObjectName(f"guide_{step.key}")
        box.setFrameShape(QFrame.Shape.StyledPanel)
        v = QVBoxLayout(box)
        head = QLabel(f"<b>{step.title}</b>")
        v.addWidget(head)
        text = QLabel(step.text)
        text.setWordWrap(True)
        v.addWidget(text)
        row = QHBoxLayout()
        button = QPushButton(step.button)
        button.setObjectName(f"guide_button_{step.key}")
        button.clicked.connect(lambda _=False, k=step.key: self.run_step(k))
        row.addWidget(button)
        row.addStretch(1)
        v.addLayout(row)
        status = QLabel("")
        status.setWordWrap(True)
        status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(status)
        self.buttons[step.key] = button
        self.status[step.key] = status
        self.boxes[step.key] = box
        return box

    def refresh(self) -> None:
        """Enable the next step once the one before it is done; say what is done."""
        ready = True
        for step in STEPS:
            b = self.buttons[step.key]
            b.setEnabled(ready and self.running is None)
            if self.done[step.key]:
                b.setText("Again" if step.key != "load" else "Loaded")
                b.setEnabled(step.key != "load" and self.running is None)
            ready = ready and self.done[step.key]
        # keep the step to do next (or the one running) in view in a short dock
        current = self.running or next((s.key for s in STEPS if not self.done[s.key]), None)
        if current is not None:
            self.scroll_area.ensureWidgetVisible(self.boxes[current], 0, 0)

    def _say(self, key: str, text: str) -> None:
        self.status[key].setText(text)

    # ------------------------------------------------------------- steps
    def _heads(self) -> Any:
        return self.window_.view("heads")

    def site(self) -> str:
        """The residual stream two fifths of the way up the active model (SmolLM2: layer 12)."""
        m = self.ctx.state.model()
        n = m.hm.n_layers if m is not None else 30
        return f"blocks.{n * 2 // 5}.hook_resid_post"

    def run_step(self, key: str) -> None:
        w = self.window_
        try:
            if key == "load":
                if self.ctx.state.models:
                    self._complete("load", "Loaded already.")
                    return
                self._start(key, "Loading…")
                w.models_dock.load(None)
            elif key == "heads":
                heads = self._heads()
                if heads is None:
                    raise RuntimeError("The Heads panel is not available in this window.")
                w.show_panel("heads")
                heads.settings.set_kind("induction")
                self._start(key, "Scoring 270 heads…")
                if heads.run_score() is None:
                    self._stop(key, "Not started (see the message).")
            elif key == "extract":
                self._names_before = set(self.ctx.state.concept_names())
                self._start(key, "Extracting…")
                w.library_dock.extract(
                    prompt_set="sentiment",
                    method="diff_of_means",
                    sites=[self.site()],
                    position="last",
                    name=CONCEPT,
                )
            elif key == "steer":
                preview = w.view("preview")
                name = self.concept_name or CONCEPT
                if preview is None:
                    raise RuntimeError("The Preview panel is not available in this window.")
                if preview.vector.findText(name) < 0:
                    raise RuntimeError(
                        f"The library has no concept {name!r}: do step 3 (Extract) first."
                    )
                w.show_panel("preview")
                preview.vector.setCurrentText(name)
                preview.site.setCurrentText(self.site())
                preview.coef.setValue(COEFFICIENT)
                preview.prompt.setPlainText(PROMPT)
                self._start(key, "Generating…")
                if preview.generate() is None:
                    self._stop(key, "Not started (see the message).")
        except Exception as e:  # noqa: BLE001 - the step says why it did not start
            self.running = None
            self._say(key, f"Not started: {str(e).splitlines()[0] if str(e) else e!r}")
            self.ctx.errors.handle(e, f"getting started, step {key}")
            self.refresh()

    def _start(self, key: str, text: str) -> None:
        self.running = key
        self._say(key, text)
        self.refresh()

    def _stop(self, key: str, text: str) -> None:
        if self.running == key:
            self.running = None
        self._say(key, text)
        self.refresh()

    def _complete(self, key: str, text: str) -> None:
        self.done[key] = True
        self._stop(key, "✓ " + text)

    # ------------------------------------------------------ what happened
    def _on_models(self, models: tuple) -> None:
        if models and not self.done["load"]:
            m = models[-1]
            self._complete("load", f"{m.name} is loaded ({m.summary.get('device', 'cpu')}).")

    def _on_scores(self, scores: Any) -> None:
        if scores is None or getattr(scores, "kind", None) != "induction":
            return
        top = ", ".join(f"L{L}H{h} {v:.2f}" for L, h, v in scores.top(3))
        self._complete("heads", f"Top induction heads: {top}.")

    def _on_concepts(self, infos: tuple) -> None:
        if self.running != "extract":
            return
        new = [c.name for c in infos if c.name not in self._names_before]
        if new:
            self.concept_name = new[-1]
            self._complete("extract", f"'{self.concept_name}' is in the library.")

    def _on_job_finished(self, label: str) -> None:
        key = self.running
        if key is None:
            return
        if key == "steer" and label == "Generating":
            preview = self.window_.view("preview")
            last = getattr(preview, "last", None)
            if last is not None and preview.status.text().startswith("Done"):
                self._complete("steer", f"Steered: …{last.steered.strip()[:60]}")
            else:
                self._stop(key, preview.status.text() if preview else "Stopped.")
        elif key == "load" and label.startswith("Loading") and not self.ctx.state.models:
            self._stop(key, "The model did not load (see the Models dock).")
        elif key == "heads" and label.startswith("Head scores") and not self.done["heads"]:
            self._stop(key, "Stopped before the scores were ready.")
        elif key == "extract" and label.startswith("Extracting") and not self.done["extract"]:
            self._stop(key, "Stopped before the concept was made.")

    def _on_error(self, context: str, message: str) -> None:
        if self.running is not None:
            first = message.splitlines()[0] if message else "failed"
            self._stop(self.running, f"Failed: {first}")


def show_getting_started(window: MainWindow) -> GettingStartedDock:
    """Open (or raise) the guide on the right of the window."""
    dock = window.findChild(GettingStartedDock)  # the window holds at most one
    if dock is None:
        dock = GettingStartedDock(window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        # most of the right column: four steps, each with its explanation, fit without scrolling
        height = max(300, int(window.height() * 0.62))
        window.resizeDocks([dock], [height], Qt.Orientation.Vertical)
    dock.show()
    dock.raise_()
    return dock
