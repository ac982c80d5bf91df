"""The status bar: what runs now (with progress and Cancel), the model, the autosave state."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

from ui.context import AppContext
from ui.eta import ProgressClock


class JobStatusBar(QStatusBar):
    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.job_label = QLabel("")
        self.clock = ProgressClock()  # the share done and the time left of the running job
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the running job at its next step (Esc)")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(lambda: ctx.executor.cancel())
        self.model_label = QLabel("No model loaded")
        self.model_label.setToolTip("The active model: extraction, preview and sweeps run on it.")
        self.save_label = QLabel("")
        self.save_label.setToolTip("Every change is written to the project file as you make it.")
        self.addWidget(self.job_label, 1)
        self.addWidget(self.progress)
        self.addWidget(self.cancel_button)
        self.addPermanentWidget(self.model_label)
        self.addPermanentWidget(self.save_label)
        ex = ctx.executor
        ex.job_started.connect(self._on_started)
        ex.job_progress.connect(self._on_progress)
        ex.busy_changed.connect(self._on_busy_changed)
        ctx.state.events.save_status.connect(lambda text, *_: self.save_label.setText(text))
        ctx.state.events.models.connect(self._on_models_changed)
        ctx.state.events.active_model.connect(self._on_models_changed)
        ctx.state.events.loading.connect(self._on_models_changed)

    def _on_started(self, label: str) -> None:
        self.clock.reset()
        self.job_label.setText(f"{label}…")
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)

    def _on_progress(self, label: str, p: Any) -> None:
        frac = getattr(p, "fraction", None)
        msg = getattr(p, "message", "")
        if frac is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(frac * 1000))
        self.clock.add(p)
        done = self.clock.text()
        text = f"{label}: {msg}" if msg else label
        self.job_label.setText(f"{text} · {done}" if done else text)

    def show_stopping(self, label: str) -> None:
        """The window is closing: the job stops at its next step."""
        self.job_label.setText(f"Stopping {label}…")
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(False)

    def _on_busy_changed(self, busy: bool) -> None:
        if not busy:
            self.job_label.setText("Ready")
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)

    def _on_models_changed(self, *_: Any) -> None:
        st = self.ctx.state
        m = st.model()
        text = f"Model: {m.name}" if m else "No model loaded"
        if st.loading:
            text += f" · loading {st.loading}…"
        self.model_label.setText(text)
