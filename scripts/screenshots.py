"""Screenshots of each main view, with the embedded model, under a virtual display.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots.py [--out screenshots]

Opens a copy of the example project (``projects/example.wbproj``; make it with
``python projects/make_examples.py``), loads the embedded SmolLM2-135M model, then visits the
empty state, canvas, library, preview, sweep, compare dialog and the dark theme, writing one PNG
of each.
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="screenshots")
    ap.add_argument("--theme", default="light")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="wb-shots-")
    os.environ.setdefault("WORKBENCH_CONFIG_DIR", os.path.join(tmp, "config"))
    os.environ.setdefault("WORKBENCH_DATA_DIR", os.path.join(tmp, "data"))
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from ui.app import create_window

    w = create_window(theme_choice=args.theme, interactive=False)
    w.ctx.project.ask = False
    w.resize(1560, 960)
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

    def shot(name: str, widget=None) -> None:
        settle(0.3)
        path = out / f"{name}.png"
        (widget or w).grab().save(str(path))
        print("wrote", path, flush=True)

    w.finish_startup(model=None)
    idle()
    shot("00_empty_state")
    w.ctx.project.open_example()
    w.models_dock.load(None)
    wait(lambda: bool(w.ctx.state.models), timeout=600)
    idle()
    canvas = w.view("canvas")
    canvas.recompute()
    idle()
    shot("01_canvas")
    w.ctx.state.selected_concepts = ("happy",)
    w.library_dock.details.setCurrentIndex(1)
    idle()
    shot("02_library_norms")
    w.library_dock.details.setCurrentIndex(2)
    idle()
    shot("03_library_logit_lens")
    w.show_panel("preview")
    preview = w.view("preview")
    preview.vector.setCurrentText("happy")
    preview.site.setCurrentText("blocks.12.hook_resid_post")
    preview.coef.setValue(6.0)
    preview.prompt.setPlainText("I think that this movie was")
    preview.sampling.max_tokens.setValue(30)
    preview.generate()
    idle()
    shot("04_preview")
    w.show_panel("sweep")
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("happy")
    sweep.layers.setText("6, 12, 18")
    sweep.coefs.setText("-6, 0, 6")
    sweep.tokens.setValue(6)
    sweep.targets.setText("great, wonderful, terrible, awful")
    sweep.run()
    idle()
    shot("05_sweep")
    w.ctx.state.selected_concepts = ("happy", "formal", "calm", "happy and formal")
    w.library_dock.compare_selected()
    dlg = w.library_dock._compare
    idle()
    shot("06_compare", dlg)
    dlg.close()
    w.theme.set_choice("dark")
    w.show_panel("canvas")
    idle()
    shot("07_dark_canvas")
    w.show_panel("preview")
    shot("08_dark_preview")
    w.theme.set_choice("system")
    w.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
