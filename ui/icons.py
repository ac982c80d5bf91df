"""Toolbar and menu icons that read in both themes.

The style's standard media glyphs (play, seek forward, stop) are black shapes: on the dark
theme's toolbar they all but vanished. :func:`standard_icon` gives those glyphs in the
palette's text colour; :func:`retint` redraws them when the theme changes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyle, QWidget

SP = QStyle.StandardPixmap
# one-colour glyphs: drawn in the text colour of the theme
MONO = {SP.SP_MediaPlay, SP.SP_MediaSeekForward, SP.SP_MediaStop, SP.SP_MediaPause}
PROPERTY = "workbench_standard_icon"


def standard_icon(widget: QWidget, sp: QStyle.StandardPixmap) -> QIcon:
    base = widget.style().standardIcon(sp)
    if sp not in MONO:
        return base
    pal = QApplication.palette()
    icon = QIcon()
    for size in (16, 24, 32, 48):
        for mode, group in (
            (QIcon.Mode.Normal, QPalette.ColorGroup.Normal),
            (QIcon.Mode.Disabled, QPalette.ColorGroup.Disabled),
        ):
            src = base.pixmap(size, size)
            out = QPixmap(src.size())
            out.fill(Qt.GlobalColor.transparent)
            p = QPainter(out)
            p.drawPixmap(0, 0, src)
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
            p.fillRect(out.rect(), pal.color(group, QPalette.ColorRole.WindowText))
            p.end()
            icon.addPixmap(out, mode)
    return icon


def set_standard_icon(action: QAction, widget: QWidget, sp: QStyle.StandardPixmap) -> None:
    action.setIcon(standard_icon(widget, sp))
    action.setProperty(PROPERTY, int(sp.value) if hasattr(sp, "value") else int(sp))


def retint(window: QWidget) -> None:
    """Redraw the one-colour glyphs of ``window``'s actions in the current palette."""
    for action in window.findChildren(QAction):
        sp = action.property(PROPERTY)
        if sp is not None:
            action.setIcon(standard_icon(window, SP(int(sp))))
