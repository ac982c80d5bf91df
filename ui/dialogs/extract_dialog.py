"""Extract a concept: prompt set, method, sites/layers, token position, name."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui import glossary
from ui.widgets import hint
from workbench.concepts.methods import METHODS as ENGINE_METHODS
from workbench.models.sites import site_name

# The engine's methods, the usual choice (ActAdd / CAA's difference of means) first.
METHODS = ("diff_of_means", *(m for m in ENGINE_METHODS if m != "diff_of_means"))
SITE_KINDS = ("resid_post", "resid_pre", "resid_mid", "attn_out", "mlp_out")
_EXTRA_TIPS = {
    "task_vector": (
        "Task vector",
        "Shift of the query's last-token latent caused by k demonstrations in the context (Hendel et al.; function vectors).",
    ),
    "embedding": (
        "Embedding direction",
        "Mean of the words' token rows of the embedding matrix W_E.",
    ),
    "unembedding": (
        "Unembedding direction",
        "Mean of the words' token rows of the unembedding matrix W_U.",
    ),
}


def method_tip(m: str) -> str:
    name, text = glossary.METHODS.get(m) or _EXTRA_TIPS.get(m, (m, ""))
    return f"{name}: {text}"


class ExtractDialog(QDialog):
    """Returns its choices from :meth:`values`; the library dock runs the job."""

    def __init__(
        self,
        prompt_sets: list[str],
        current_set: str | None,
        n_layers: int,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Extract a concept")
        self.setMinimumWidth(460)
        lay = QVBoxLayout(self)
        lay.addWidget(
            hint(
                "A concept is one vector per site, computed from the model's activations on a prompt set."
            )
        )
        form = QFormLayout()
        self.prompt_set = QComboBox()
        self.prompt_set.addItems(prompt_sets)
        if current_set in prompt_sets:
            self.prompt_set.setCurrentText(current_set)
        self.method = QComboBox()
        for i, m in enumerate(METHODS):
            self.method.addItem(m)
            self.method.setItemData(i, method_tip(m), 3)  # Qt.ToolTipRole
        self.method.currentTextChanged.connect(self._on_method)
        self.site_kind = QComboBox()
        for i, k in enumerate(SITE_KINDS):
            self.site_kind.addItem(k)
            self.site_kind.setItemData(i, glossary.SITES[k], 3)
        self.first = QSpinBox()
        self.last = QSpinBox()
        self.step = QSpinBox()
        for s in (self.first, self.last):
            s.setRange(0, max(0, n_layers - 1))
        self.last.setValue(max(0, n_layers - 1))
        self.step.setRange(1, max(1, n_layers))
        self.step.setValue(1)
        layers = QHBoxLayout()
        for label, w in (("from", self.first), ("to", self.last), ("every", self.step)):
            layers.addWidget(QLabelLite(label))
            layers.addWidget(w)
        self.position = QComboBox()
        for i, p in enumerate(glossary.POSITIONS):
            self.position.addItem(p)
            self.position.setItemData(i, glossary.POSITIONS[p], 3)
        self.words = QLineEdit()
        self.words.setPlaceholderText("words, comma-separated (embedding/unembedding only)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("default: from the prompt set and method")
        form.addRow("Prompt set", self.prompt_set)
        form.addRow("Method", self.method)
        form.addRow("Site", self.site_kind)
        form.addRow("Layers", layers)
        form.addRow("Token position", self.position)
        form.addRow("Words", self.words)
        form.addRow("Name", self.name)
        lay.addLayout(form)
        self.method_help = hint("")
        lay.addWidget(self.method_help)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Extract")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._on_method(self.method.currentText())

    def _on_method(self, m: str) -> None:
        self.method_help.setText(method_tip(m))
        self.words.setEnabled(m in ("embedding", "unembedding"))

    def values(self) -> dict[str, Any]:
        kind = self.site_kind.currentText()
        lo, hi = sorted((self.first.value(), self.last.value()))
        layers = list(range(lo, hi + 1, self.step.value()))
        return {
            "prompt_set": self.prompt_set.currentText(),
            "method": self.method.currentText(),
            "sites": [site_name(kind, L) for L in layers],
            "position": self.position.currentText(),
            "words": [w.strip() for w in self.words.text().split(",") if w.strip()],
            "name": self.name.text().strip(),
        }


def QLabelLite(text: str) -> QWidget:
    from PySide6.QtWidgets import QLabel

    return QLabel(text)
