"""Load options for a model too big for one device: a device map, memory limits and an
offload folder (:mod:`workbench.models.placement`), shown under the Models dock's other load
options. Empty fields load the whole model on the chosen device."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QToolButton,
    QWidget,
)

MAPS = ["", "auto", "balanced", "sequential"]


class PlacementOptionsWidget(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from workbench.models import placement

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.device_map = QComboBox()
        self.device_map.setEditable(True)
        self.device_map.addItems(MAPS)
        self.device_map.setToolTip(placement.MAP_HELP)
        line = self.device_map.lineEdit()
        if line is not None:
            line.setPlaceholderText('none, auto, or {"0-11": 0, "12-29": "cpu"}')
        self.max_memory = QLineEdit()
        self.max_memory.setPlaceholderText("e.g. 0=10GiB,cpu=30GiB")
        self.max_memory.setToolTip(placement.MEMORY_HELP)
        self.offload = QLineEdit()
        self.offload.setPlaceholderText("a folder for weights placed on disk")
        self.offload.setToolTip(placement.OFFLOAD_HELP)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the offload folder")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.offload, 1)
        row.addWidget(browse)
        form.addRow("Device map", self.device_map)
        form.addRow("Max memory", self.max_memory)
        form.addRow("Offload folder", row)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Offload folder")
        if folder:
            self.offload.setText(folder)

    def load_kwargs(self) -> dict[str, Any]:
        """The loader's keyword arguments; the loader checks them and says what is wrong."""
        dmap = self.device_map.currentText().strip()
        return {
            "device_map": dmap or None,
            "max_memory": self.max_memory.text().strip() or None,
            "offload_folder": self.offload.text().strip() or None,
        }
