"""Preferences: where long sweeps run (this process, or a Ray cluster).

The setting lives in the per-user ``ui.ini`` (:func:`ui.main_window.settings`). When it is on,
the Heads tab's ablation and patching sweeps and the Sweep tab's steering sweep are sent to
the cluster address (:mod:`workbench.cluster`); everything else runs here. Results come back to
this process, which alone writes the project.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

KEY_ON = "cluster/enabled"
KEY_ADDRESS = "cluster/address"
DEFAULT_ADDRESS = "local:2"


def _settings() -> QSettings:
    from ui.main_window import settings

    return settings()


def cluster_address() -> str | None:
    """The cluster address long sweeps go to, or None (run here). None too when Ray is not
    installed or the stored address no longer parses."""
    s = _settings()
    if str(s.value(KEY_ON, "false")).lower() != "true":
        return None
    from workbench.cluster import ClusterError, available, parse_address

    text = str(s.value(KEY_ADDRESS, DEFAULT_ADDRESS))
    try:
        parse_address(text)
    except ClusterError:
        return None
    return text if available() else None


class ClusterSettingsWidget(QWidget):
    """A check box and an address field, checked as they are typed."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from workbench.cluster import ADDRESS_HELP, available

        s = _settings()
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.enabled = QCheckBox("Send long sweeps to a Ray cluster")
        self.enabled.setToolTip(
            "Head ablation and patching sweeps and steering sweeps run on the cluster's "
            "workers; the results are the same numbers as here"
        )
        self.enabled.setChecked(str(s.value(KEY_ON, "false")).lower() == "true")
        self.address = QLineEdit(str(s.value(KEY_ADDRESS, DEFAULT_ADDRESS)))
        self.address.setPlaceholderText("local:2, auto, ray://host:10001 or host:6379")
        self.address.setToolTip(ADDRESS_HELP)
        self.note = QLabel()
        self.note.setWordWrap(True)
        form.addRow(self.enabled)
        form.addRow("Cluster address", self.address)
        form.addRow(self.note)
        self._ray = available()
        if not self._ray:
            self.enabled.setChecked(False)
            self.enabled.setEnabled(False)
            self.address.setEnabled(False)
        self.address.textChanged.connect(self._check)
        self.enabled.toggled.connect(self._check)
        self._check()

    def _check(self) -> None:
        from workbench.cluster import ClusterError, parse_address

        if not self._ray:
            self.note.setText(
                "Ray is not installed: pip install 'concept-workbench[cluster]' to use a cluster."
            )
            return
        try:
            parse_address(self.address.text())
        except ClusterError as e:
            self.note.setText(str(e))
            return
        self.note.setText(
            "local:N starts N workers on this machine (each loads the model once); other "
            "addresses join a running cluster whose workers can read the model's path."
            if self.enabled.isChecked()
            else "Sweeps run in this process."
        )

    def is_valid(self) -> bool:
        from workbench.cluster import ClusterError, parse_address

        try:
            parse_address(self.address.text())
        except ClusterError:
            return not self.enabled.isChecked()
        return True

    def save(self) -> None:
        s = _settings()
        s.setValue(KEY_ON, "true" if self.enabled.isChecked() else "false")
        s.setValue(KEY_ADDRESS, self.address.text().strip())
        s.sync()


class PreferencesDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        lay = QVBoxLayout(self)
        self.cluster = ClusterSettingsWidget(self)
        lay.addWidget(self.cluster)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _accept(self) -> None:
        if not self.cluster.is_valid():
            self.cluster.address.setFocus()
            return
        self.cluster.save()
        self.accept()
