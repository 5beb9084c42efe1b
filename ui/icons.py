"""Small icons drawn once and shared: the coloured dot that marks a status or an outcome."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

_dots: dict[str, QIcon] = {}


def dot_icon(color: str) -> QIcon:
    """A filled circle of ``color`` (any name ``QColor`` reads) on a 12 px transparent square;
    one icon per colour for the app's life (icons are made on the GUI thread only)."""
    icon = _dots.get(color)
    if icon is None:
        pixmap = QPixmap(12, 12)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(color))
        painter.drawEllipse(1, 1, 10, 10)
        painter.end()
        icon = _dots[color] = QIcon(pixmap)
    return icon
