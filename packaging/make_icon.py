"""Draw the application icon once: ``resources/icon.png`` (256 px) and ``resources/icon.ico``.

Run from the repository root when the icon should change (the files are committed):
``QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icon.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPen

ROOT = Path(__file__).resolve().parent.parent


def draw(size: int) -> QImage:
    """Two essays side by side, one ticked: comparative judgement in one picture."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    s = size / 256
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#1f5f8b"))
    p.drawRoundedRect(QRectF(8 * s, 8 * s, 240 * s, 240 * s), 48 * s, 48 * s)
    for x, tilt in ((44, -6), (132, 6)):
        p.save()
        p.translate((x + 40) * s, 128 * s)
        p.rotate(tilt)
        p.setBrush(QColor("#ffffff"))
        p.drawRoundedRect(QRectF(-40 * s, -64 * s, 80 * s, 128 * s), 8 * s, 8 * s)
        p.setPen(QPen(QColor("#9bb7cc"), max(1.0, 6 * s)))
        for row in range(5):
            y = (-40 + row * 20) * s
            p.drawLine(int(-26 * s), int(y), int((26 - (row % 2) * 14) * s), int(y))
        p.setPen(Qt.PenStyle.NoPen)
        p.restore()
    p.setPen(QPen(QColor("#f2b632"), 18 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.drawLine(int(150 * s), int(196 * s), int(172 * s), int(218 * s))
    p.drawLine(int(172 * s), int(218 * s), int(222 * s), int(160 * s))
    p.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    assert app is not None
    out = ROOT / "resources"
    if not draw(256).save(str(out / "icon.png")):
        return 1
    if not draw(256).save(str(out / "icon.ico")):  # Qt's ICO writer (plugin imageformats/qico)
        return 1
    print(out / "icon.png", out / "icon.ico")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
