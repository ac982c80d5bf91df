"""Two-way links between a widget and one field of an evented model: the widget writes the
field when its user changes it, and shows the field whenever it changes (in code, on undo, on
restore). Equal values stop the round trip, so neither side echoes the other forever."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QSpinBox


def _field(state: Any, name: str) -> Any:
    return getattr(state.events, name)


def bind_spin(spin: QSpinBox | QDoubleSpinBox, state: Any, name: str) -> None:
    """A spin box shows ``state.<name>`` and writes it back."""
    cast = int if isinstance(spin, QSpinBox) else float
    spin.setValue(getattr(state, name))
    spin.valueChanged.connect(lambda v: setattr(state, name, cast(v)))

    def show(v: Any) -> None:
        if spin.value() != v:
            spin.setValue(v)

    _field(state, name).connect(show)


def bind_line(edit: QLineEdit, state: Any, name: str) -> None:
    edit.setText(getattr(state, name))
    edit.textChanged.connect(lambda t: setattr(state, name, t))

    def show(v: str) -> None:
        if edit.text() != v:
            edit.setText(v)

    _field(state, name).connect(show)


def bind_plain_text(edit: QPlainTextEdit, state: Any, name: str) -> None:
    edit.setPlainText(getattr(state, name))
    edit.textChanged.connect(lambda: setattr(state, name, edit.toPlainText()))

    def show(v: str) -> None:
        if edit.toPlainText() != v:
            edit.setPlainText(v)

    _field(state, name).connect(show)


def bind_combo_data(combo: QComboBox, state: Any, name: str) -> None:
    """A combo whose items' data are the field's values."""

    def show(v: Any) -> None:
        i = combo.findData(v)
        if i >= 0 and combo.currentIndex() != i:
            combo.setCurrentIndex(i)

    show(getattr(state, name))
    combo.currentIndexChanged.connect(lambda *_: setattr(state, name, combo.currentData()))
    _field(state, name).connect(show)


def bind_combo_text(combo: QComboBox, state: Any, name: str) -> None:
    """A combo whose items' texts are the field's values."""

    def show(v: str) -> None:
        if combo.currentText() != v:
            combo.setCurrentText(v)

    show(getattr(state, name))
    combo.currentTextChanged.connect(lambda t: setattr(state, name, t))
    _field(state, name).connect(show)
