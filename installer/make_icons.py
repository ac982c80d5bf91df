"""Render the app icon (resources/icons/app.svg) for each system's bundle, with Qt.

    python installer/make_icons.py     # build.py runs it before PyInstaller

Writes (into build/icons/, ignored by git):

* ``concept-workbench.ico``: Windows, 16-256 px in one file (Qt's ICO writer);
* ``concept-workbench.iconset/``: macOS sizes; ``iconutil -c icns`` turns it into
  ``concept-workbench.icns`` (run here when ``iconutil`` exists, i.e. on a Mac);
* ``concept-workbench-256.png``: for Linux menus that do not take SVG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SVG = ROOT / "resources" / "icons" / "app.svg"
OUT = ROOT / "build" / "icons"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
MAC_SIZES = (16, 32, 128, 256, 512)


def render(size: int):  # a QImage
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    painter = QPainter(img)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    return img


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QImageWriter

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    OUT.mkdir(parents=True, exist_ok=True)
    png = OUT / "concept-workbench-256.png"
    if not render(256).save(str(png)):
        raise SystemExit(f"could not write {png}")
    formats = {bytes(f).decode() for f in QImageWriter.supportedImageFormats()}
    ico = OUT / "concept-workbench.ico"
    if "ico" in formats:
        # Qt's ICO writer stores one image per call; write the largest (Windows scales it down)
        # and let a multi-size file come from Pillow when it is there.
        try:
            from PIL import Image

            big = OUT / "concept-workbench-1024.png"
            render(1024).save(str(big))
            Image.open(big).save(ico, sizes=[(s, s) for s in ICO_SIZES])
        except ImportError:
            render(256).save(str(ico), "ICO")
    iconset = OUT / "concept-workbench.iconset"
    shutil.rmtree(iconset, ignore_errors=True)
    iconset.mkdir()
    for s in MAC_SIZES:
        render(s).save(str(iconset / f"icon_{s}x{s}.png"))
        render(2 * s).save(str(iconset / f"icon_{s}x{s}@2x.png"))
    if shutil.which("iconutil"):
        subprocess.run(
            ["iconutil", "-c", "icns", str(iconset), "-o", str(OUT / "concept-workbench.icns")],
            check=True,
        )
    print(f"[installer] icons in {OUT}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
