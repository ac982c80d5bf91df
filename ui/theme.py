"""Light and dark themes that follow the system (Qt 6.5+ ``QStyleHints.colorScheme()``).

The palette is Fusion's with our colours; a small stylesheet per theme in
``resources/styles/{light,dark}.qss`` adds spacing and the look of a few named widgets. Plots
read :func:`plot_colors` so that they follow too.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from workbench.paths import resources_dir  # stdlib only: the window asks it before torch

RESOURCES = resources_dir()

_COLORS = {
    "dark": {
        "window": "#1f2228",
        "base": "#16181d",
        "alt": "#23262d",
        "text": "#e3e6eb",
        "mid": "#3a3f4a",
        "button": "#2a2e36",
        "highlight": "#4c8bf5",
        "link": "#7aa7ff",
        "disabled": "#7b818c",
        "tooltip": "#2b2f38",
        "accent": "#4c8bf5",
        "positive": "#4fbf8a",
        "negative": "#e0656b",
    },
    "light": {
        "window": "#f3f4f6",
        "base": "#ffffff",
        "alt": "#f7f8fa",
        "text": "#1d2128",
        "mid": "#c9cdd4",
        "button": "#e9ebef",
        "highlight": "#2f6fe4",
        "link": "#1f5bd1",
        "disabled": "#8a9099",
        "tooltip": "#ffffff",
        "accent": "#2f6fe4",
        "positive": "#1f9d63",
        "negative": "#cc3d44",
    },
}


def system_scheme() -> str:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", lambda: Qt.ColorScheme.Unknown)()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def palette(scheme: str) -> QPalette:
    c = {k: QColor(v) for k, v in _COLORS[scheme].items()}
    p = QPalette()
    R, G = QPalette.ColorRole, QPalette.ColorGroup
    p.setColor(R.Window, c["window"])
    p.setColor(R.WindowText, c["text"])
    p.setColor(R.Base, c["base"])
    p.setColor(R.AlternateBase, c["alt"])
    p.setColor(R.ToolTipBase, c["tooltip"])
    p.setColor(R.ToolTipText, c["text"])
    p.setColor(R.PlaceholderText, c["disabled"])
    p.setColor(R.Text, c["text"])
    p.setColor(R.Button, c["button"])
    p.setColor(R.ButtonText, c["text"])
    p.setColor(R.BrightText, QColor("#ffffff"))
    p.setColor(R.Highlight, c["highlight"])
    p.setColor(R.HighlightedText, QColor("#ffffff"))
    p.setColor(R.Link, c["link"])
    p.setColor(R.Mid, c["mid"])
    p.setColor(R.Dark, c["mid"].darker(130))
    p.setColor(R.Light, c["button"].lighter(120))
    for role in (R.Text, R.ButtonText, R.WindowText):
        p.setColor(G.Disabled, role, c["disabled"])
    return p


def colors(scheme: str | None = None) -> dict[str, str]:
    return dict(_COLORS[scheme or ThemeManager.current_scheme])


def plot_colors() -> dict[str, str]:
    c = colors()
    return {
        "background": c["base"],
        "foreground": c["text"],
        "accent": c["accent"],
        "grid": c["mid"],
    }


class ThemeManager(QObject):
    """Applies a theme: ``"system"`` (default, follows the OS live), ``"light"`` or ``"dark"``."""

    changed = Signal(str)  # the scheme now shown: light or dark
    current_scheme = "light"

    def __init__(self, app: QApplication, choice: str = "system"):
        super().__init__(app)
        self._app = app
        self.choice = choice
        app.setStyle("Fusion")
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._on_system_changed)
        self.apply()

    def set_choice(self, choice: str) -> None:
        self.choice = choice
        self.apply()

    def _on_system_changed(self, *_: object) -> None:
        if self.choice == "system":
            self.apply()

    def apply(self) -> None:
        scheme = system_scheme() if self.choice == "system" else self.choice
        ThemeManager.current_scheme = scheme
        self._app.setPalette(palette(scheme))
        qss = RESOURCES / "styles" / f"{scheme}.qss"
        base = RESOURCES / "styles" / "base.qss"
        text = ""
        for f in (base, qss):
            if f.exists():
                text += f.read_text(encoding="utf-8") + "\n"
        # image urls in the style sheets name files of the icons folder
        self._app.setStyleSheet(text.replace("@ICONS@", (RESOURCES / "icons").as_posix()))
        self.changed.emit(scheme)
