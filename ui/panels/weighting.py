"""A small form for per-token weights of the steering vector (Preview and Sweep).

Three choices: every token alike (plain steering), weights given per token position, or
weights from each token's projection on the steered concept's own direction,
``sigmoid((x·d - center) / scale)`` (optionally inverted). The widget only reads its fields;
the engine (:mod:`workbench.models.token_weights`) checks and applies them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

MODES = (
    ("plain", "Every token alike"),
    ("given", "Given per token"),
    ("projection", "By projection on the concept"),
)


class TokenWeightingWidget(QWidget):
    """Choice of per-token weights; :meth:`weighting` gives the engine's JSON-able form."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.mode = QComboBox()
        for key, label in MODES:
            self.mode.addItem(label, key)
        self.mode.setToolTip(
            "How much of the vector each token gets: the same everywhere, a weight per token "
            "position, or a weight from how strongly the token already reads along the concept"
        )
        self.values = QLineEdit("0, 0, 1")
        self.values.setToolTip(
            "Weight per token position from the first prompt token; later tokens take the last "
            "weight"
        )
        self.center = QDoubleSpinBox()
        self.center.setRange(-1e6, 1e6)
        self.center.setDecimals(2)
        self.center.setToolTip("Projection at which the weight is 0.5")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.01, 1e6)
        self.scale.setValue(1.0)
        self.scale.setToolTip("How sharply the weight goes from 0 to 1 around the center")
        self.invert = QCheckBox("invert")
        self.invert.setToolTip("Steer the tokens that read low along the concept instead")
        # The choice on one line, its parameters under it (the forms it sits in are narrow).
        self.center_label = QLabel("center")
        self.scale_label = QLabel("scale")
        params = QHBoxLayout()
        params.setContentsMargins(0, 0, 0, 0)
        params.addWidget(self.values, 1)
        for w in (self.center_label, self.center, self.scale_label, self.scale, self.invert):
            params.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.mode)
        lay.addLayout(params)
        self.mode.currentIndexChanged.connect(self._on_mode)
        self._on_mode()

    def _on_mode(self) -> None:
        key = self.mode.currentData()
        self.values.setVisible(key == "given")
        for w in (self.center_label, self.center, self.scale_label, self.scale, self.invert):
            w.setVisible(key == "projection")

    def set_mode(self, key: str) -> None:
        self.mode.setCurrentIndex(self.mode.findData(key))

    def weighting(self) -> dict[str, Any] | None:
        """None (plain), or the form a sweep spec stores (``SteeringSweepSpec.weighting``).

        Raises
        ------
        WorkbenchError
            For weights that are not numbers (the message says how to write them).
        """
        from workbench.models.token_weights import check_weighting, parse_weights

        key = self.mode.currentData()
        if key == "given":
            values = list(parse_weights(self.values.text()))
            d: dict[str, Any] = {"mode": "given", "values": values, "rest": values[-1]}
        elif key == "projection":
            d = {
                "mode": "projection",
                "center": self.center.value(),
                "scale": self.scale.value(),
                "invert": self.invert.isChecked(),
                "probe": None,  # the steered concept's own direction
            }
        else:
            return None
        check_weighting(d)
        return d

    def token_weights(self, direction: Any) -> Any:
        """The engine's ``TokenWeights`` for a steering vector ``direction`` (None: plain)."""
        from workbench.models.token_weights import token_weights_from_dict

        return token_weights_from_dict(self.weighting(), direction)
