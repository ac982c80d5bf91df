"""An inline warning under a steering form: the addition's size next to the residual stream's
(the numbers and the sentence are :class:`workbench.concepts.steering_scale.SteeringScale`'s)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


class ScaleWarningLabel(QLabel):
    """Hidden while the scale is ordinary or unknown; the engine's sentence otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("scaleWarning")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setToolTip(
            "Compares |coefficient| × the vector's norm with the typical norm of the residual "
            "stream at the site (median over the tokens of an ordinary sentence)."
        )
        self.scale: Any = None
        self.hide()

    def show_scale(self, scale: Any) -> None:
        """Show ``scale``'s warning (a SteeringScale), or hide for None or an ordinary one."""
        self.scale = scale
        text = scale.message() if scale is not None else ""
        self.setText(f"⚠ {text}" if text else "")
        self.setVisible(bool(text))
        self._fit_height()

    def _fit_height(self) -> None:
        """Ask for the wrapped text's height: a scrolled panel sizes itself from minimum
        sizes, which leave a wrapped label's height out (the rows below got squeezed)."""
        h = self.heightForWidth(self.width()) if self.text() else 0
        if h > 0 and h != self.minimumHeight():
            self.setMinimumHeight(h)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_height()
