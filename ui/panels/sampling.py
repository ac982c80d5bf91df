"""Sampling settings editor (shared by Preview and Sweep)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from ui import glossary


class SamplingWidget(QWidget):
    def __init__(self, max_new_tokens: int = 32):
        super().__init__()
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 2048)
        self.max_tokens.setValue(max_new_tokens)
        self.greedy = QCheckBox("greedy")
        self.greedy.setChecked(True)
        self.greedy.setToolTip(glossary.TERMS["greedy"])
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.05, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.8)
        self.temperature.setToolTip(glossary.TERMS["temperature"])
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 100000)
        self.top_k.setValue(50)
        self.top_k.setToolTip(glossary.TERMS["top_k"])
        self.top_p = QDoubleSpinBox()
        self.top_p.setRange(0.01, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(0.95)
        self.top_p.setToolTip(glossary.TERMS["top_p"])
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip(glossary.TERMS["seed"])
        self.chat = QCheckBox("chat template")
        self.chat.setToolTip(glossary.TERMS["chat"])
        form.addRow("New tokens", self.max_tokens)
        form.addRow("Decoding", self.greedy)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-k", self.top_k)
        form.addRow("Top-p", self.top_p)
        form.addRow("Seed", self.seed)
        form.addRow("", self.chat)
        self.greedy.toggled.connect(self._on_greedy)
        self._on_greedy(True)

    def _on_greedy(self, on: bool) -> None:
        for w in (self.temperature, self.top_k, self.top_p):
            w.setEnabled(not on)

    def settings(self) -> Any:
        from workbench.models.generation import SamplingSettings

        return SamplingSettings(
            max_new_tokens=self.max_tokens.value(),
            do_sample=not self.greedy.isChecked(),
            temperature=self.temperature.value(),
            top_k=self.top_k.value(),
            top_p=self.top_p.value(),
            seed=self.seed.value(),
            chat=self.chat.isChecked(),
        )
