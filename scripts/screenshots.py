"""Screenshots of every tab at three common window sizes, in the light and the dark theme,
with the embedded model, under a virtual display.

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshots.py [--out screenshots]

Opens a copy of the example project (``projects/example.wbproj``; make it with
``python projects/make_examples.py``), loads the embedded SmolLM2-135M model, fills every tab
(a canvas, a preview, a sweep, an induction head score with a pattern, a function-vector
search is left to the user), then writes ``<size>/<theme>/<tab>.png`` for 1366×768, 1600×1000
and 1920×1080 in both themes, and the README's pictures (``--readme`` writes them to
``docs/screenshots``). Look at them: a cut label or an invisible check box shows here first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ((1366, 768), (1600, 1000), (1920, 1080))
THEMES = ("light", "dark")
README_SHOTS = {  # docs/screenshots/<name>.png: (tab, theme) at 1600×1000
    "canvas": ("canvas", "light"),
    "preview": ("preview", "light"),
    "heads": ("heads", "light"),
    "preview_dark": ("preview", "dark"),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="screenshots")
    ap.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES))
    ap.add_argument("--themes", default=",".join(THEMES))
    ap.add_argument("--readme", action="store_true", help="also write docs/screenshots/*.png")
    args = ap.parse_args()
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",") if s]
    themes = [t for t in args.themes.split(",") if t]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="wb-shots-")
    os.environ.setdefault("WORKBENCH_CONFIG_DIR", os.path.join(tmp, "config"))
    os.environ.setdefault("WORKBENCH_DATA_DIR", os.path.join(tmp, "data"))
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from ui.app import create_window

    w = create_window(theme_choice="light", interactive=False)
    w.ctx.project.ask = False
    w.resize(1600, 1000)
    w.show()

    def settle(seconds: float = 0.3) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def wait(pred, timeout: float = 900.0) -> None:
        t0 = time.time()
        while not pred():
            if time.time() - t0 > timeout:
                raise TimeoutError("timed out waiting")
            settle(0.1)

    def idle() -> None:
        wait(lambda: not w.ctx.executor.busy)
        settle(0.4)

    def shot(path: Path, widget=None) -> None:
        settle(0.4)
        path.parent.mkdir(parents=True, exist_ok=True)
        (widget or w).grab().save(str(path))
        print("wrote", path, flush=True)

    w.finish_startup(model=None)
    idle()
    shot(out / "empty_state.png")
    w.ctx.project.open_example()
    w.models_dock.load(None)
    wait(lambda: bool(w.ctx.state.models), timeout=600)
    idle()
    # fill every tab
    canvas = w.view("canvas")
    canvas.recompute()
    idle()
    w.ctx.state.selected_concepts = ("happy",)
    w.show_panel("preview")
    preview = w.view("preview")
    preview.use_selected()
    preview.site.setCurrentText("blocks.20.hook_resid_post")
    preview.coef.setValue(6.0)
    preview.prompt.setPlainText("I think that this movie was")
    preview.sampling.max_tokens.setValue(30)
    preview.generate()
    idle()
    w.show_panel("sweep")
    sweep = w.view("sweep")
    sweep.use_selected()
    sweep.layers.setText("6, 12, 18, 24")
    sweep.coefs.setText("-6, -3, 0, 3, 6")
    sweep.tokens.setValue(6)
    sweep.targets.setText("great, wonderful, terrible, awful")
    sweep.run()
    idle()
    heads = w.view("heads")
    if heads is not None:
        w.show_panel("heads")
        heads.settings.set_kind("induction")
        heads.run_score()
        idle()
        if heads.run is not None:  # the strongest head: selected, its pattern shown
            scores = heads.run.scores
            layer, head = divmod(int(scores.scores.argmax()), int(scores.scores.shape[1]))
            heads._on_head_clicked(layer, head)
            idle()
    for theme in themes:
        w.theme.set_choice(theme)
        idle()
        for width, height in sizes:
            w.showNormal()
            w.resize(width, height)
            settle(0.5)
            for key in list(w.panels):
                w.show_panel(key)
                idle()
                shot(out / f"{width}x{height}" / theme / f"{key}.png")
                if args.readme and (width, height) == (1600, 1000):
                    for name, (tab, th) in README_SHOTS.items():
                        if (tab, th) == (key, theme):
                            shot(ROOT / "docs" / "screenshots" / f"{name}.png")
    w.theme.set_choice("system")
    w.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
