"""``--self-test``: prove that an installed app works, end to end, without a person.

It opens the main window (offscreen unless a platform is set), loads the embedded model through
the Models dock as a normal start does, generates a few tokens through the model executor,
writes a generation into the scratch project a plain start makes, saves it as a file in a
temporary folder (File → Save As), opens that file again through the window and checks that the
generation is there. It exits 0 only if every stage worked, and
prints one line per stage with the seconds since the process started (a start from a checkout
with the model cache warm, on 2 CPU cores)::

    self-test: window shown                  0.60 s
    self-test: model ready                   5.71 s  (SmolLM2-135M-Instruct, cpu, from cache)
    self-test: first token                   6.64 s
    self-test: 8 tokens                      7.02 s  'Paris.\n\nThe answer is:'
    self-test: project written+reopened      7.71 s  (/tmp/.../self-test.wbproj)
    self-test: passed

With ``WORKBENCH_STARTUP_REPORT`` set it also prints machine-readable
``WORKBENCH_STAGE <name> <seconds>`` lines (benchmarks/bench_startup.py reads them). User
settings, recent files and unsaved-work recovery are kept in the temporary folder; the model
cache is the user's own, so a warm cache is used. The whole test gives up after ``timeout_s``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROMPT = "The capital of France is"
N_TOKENS = 8


def _log_file() -> Path | None:
    """Where the report also goes when there is no console (a windowed build on Windows)."""
    if sys.stdout is None or not hasattr(sys.stdout, "write"):
        return Path(tempfile.gettempdir()) / "concept-workbench-self-test.log"
    return None


class SelfTest:
    def __init__(self, t0: float, timeout_s: float, model: str = "embedded"):
        self.t0 = t0
        self.timeout_s = timeout_s
        self.model = model
        self.tmp = tempfile.TemporaryDirectory(prefix="workbench-self-test-")
        self.project_path = Path(self.tmp.name) / "self-test.wbproj"
        self.failed: str | None = None
        self.window: Any = None
        self.lines: list[str] = []
        self._first_token: float | None = None
        self._log = _log_file()
        self._report = bool(os.environ.get("WORKBENCH_STARTUP_REPORT"))

    # ------------------------------------------------------------ output
    def say(self, text: str) -> None:
        self.lines.append(text)
        if self._log is not None:
            with open(self._log, "a", encoding="utf-8") as f:
                f.write(text + "\n")
        else:
            print(text, flush=True)

    def stage(self, name: str, label: str, detail: str = "") -> None:
        t = time.perf_counter() - self.t0
        if self._report and self._log is None:  # seconds since start, and of CPU (all threads)
            print(f"WORKBENCH_STAGE {name} {t:.3f} {time.process_time():.3f}", flush=True)
        self.say(f"self-test: {label:<27} {t:6.2f} s" + (f"  {detail}" if detail else ""))

    def fail(self, where: str, why: str) -> None:
        if self.failed is None:
            self.failed = f"{where}: {why}"
            self.say(f"self-test: FAILED while {where}: {why}")
        self._quit(1)

    def _quit(self, code: int) -> None:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        def close() -> None:
            if self.window is not None:
                self.window.ctx.project.ask = False
                self.window.ctx.executor.cancel()
                self.window.close()
            QApplication.exit(code)

        QTimer.singleShot(0, close)

    # ------------------------------------------------------------ stages
    def start(self, window: Any) -> None:
        """Called once the window is shown (from the event loop)."""
        from PySide6.QtCore import QTimer

        self.window = window
        ctx = window.ctx
        if not window.isVisible():
            self.fail("opening the window", "the main window is not visible")
            return
        self.stage("window_shown", "window shown")
        ctx.errors.error_shown.connect(self._on_error)
        ctx.state.events.models.connect(self._on_models)
        QTimer.singleShot(int(self.timeout_s * 1000), self._on_timeout)
        try:
            # as a plain start does (a scratch project once the model is ready); its folders
            # are temporary, so there is no unsaved work or last project to offer back
            window.finish_startup(model=self.model, recover=False)
        except Exception as e:  # noqa: BLE001 - the stage that broke, in one line
            self.fail("finishing startup", f"{type(e).__name__}: {e}")

    def _on_timeout(self) -> None:
        self.fail("waiting", f"gave up after {self.timeout_s:.0f} s")

    def _on_error(self, context: str, message: str) -> None:
        self.fail(context or "running", message.splitlines()[0] if message else "error")

    def _on_models(self, models: tuple) -> None:
        if not models or self.failed:
            return
        self.window.ctx.state.events.models.disconnect(self._on_models)
        m = models[-1]
        src = "from cache" if m.hm.info.get("from_cache") else "converted now"
        self.stage("model_ready", "model ready", f"({m.name}, {m.summary['device']}, {src})")
        self._generate(m.hm)

    def _generate(self, hm: Any) -> None:
        from workbench.models.generation import SamplingSettings, generate_job

        settings = SamplingSettings(max_new_tokens=N_TOKENS, do_sample=False, stop_at_eos=False)

        def progress(p: Any) -> None:
            if p.payload is not None and self._first_token is None:
                self._first_token = time.perf_counter()
                self.stage("first_token", "first token")

        self.window.ctx.executor.submit(
            "self-test",
            generate_job,
            hm,
            [PROMPT],
            (),
            settings,
            label="Self-test generation",
            on_progress=progress,
            on_result=self._on_generated,
            on_error=lambda e: self.fail("generating", f"{type(e).__name__}: {e}"),
        )

    def _on_generated(self, gen: Any) -> None:
        ids = gen.token_ids[0]
        text = gen.texts[0]
        if len(ids) != N_TOKENS or not text.strip():
            self.fail("generating", f"expected {N_TOKENS} tokens, got {len(ids)}: {text!r}")
            return
        self.stage("generated", f"{N_TOKENS} tokens", repr(text.strip()[:40]))
        self._check_project(text)

    def _check_project(self, text: str) -> None:
        ctx = self.window.ctx
        project = ctx.state.project
        check: Callable[[], bool]
        try:
            if project is None or not ctx.state.project_is_scratch:
                raise RuntimeError("the window did not start a scratch project")
            gid = ctx.project.write(
                "saving the self-test generation",
                lambda: project.add_generation(
                    medium="text",
                    prompt=PROMPT,
                    baseline=text,
                    steered=text,
                    provenance={"self_test": True},
                ),
            )
            if gid is None:
                raise RuntimeError("the project did not accept the generation")
            # Save it as a file (what File → Save As does), close it (a scratch project takes
            # its place), then open the file again.
            if not ctx.project.save_as(self.project_path):
                raise RuntimeError(f"could not save the project as {self.project_path}")
            if not ctx.project.new(confirm=False):
                raise RuntimeError("could not close the project")
            if not ctx.project.open(str(self.project_path), confirm=False):
                raise RuntimeError(f"could not reopen {self.project_path}")
            reopened = ctx.state.project

            def check() -> bool:
                return any(
                    g.baseline == text and g.prompt == PROMPT
                    for g in reopened.generations(images=False)
                )

            if not check():
                raise RuntimeError("the reopened project does not hold the generation")
        except Exception as e:  # noqa: BLE001 - the self-test reports the stage that broke
            self.fail("writing and reopening the project", f"{type(e).__name__}: {e}")
            return
        self.stage("project", "project written+reopened", f"({self.project_path})")
        self.say("self-test: passed")
        self._quit(0)


def run_self_test(
    argv0: str, model: str = "embedded", timeout_s: float = 900, t0: float | None = None
) -> int:
    """Run the self-test in a fresh QApplication; the process exit code (0: passed)."""
    t0 = time.perf_counter() if t0 is None else t0
    test = SelfTest(t0, timeout_s, model)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not os.environ.get("WORKBENCH_LOG"):  # an expected error is the FAILED line; a bug's
        logging.getLogger("ui").setLevel(logging.ERROR)  # traceback is still logged
    # user settings, the recent list and scratch recovery stay out of the user's folders
    os.environ["WORKBENCH_CONFIG_DIR"] = os.path.join(test.tmp.name, "config")
    os.environ["WORKBENCH_DATA_DIR"] = os.path.join(test.tmp.name, "data")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.app import create_window

    app = QApplication.instance() or QApplication([argv0])
    app.setApplicationName("Concept Workbench")
    try:
        window = create_window(interactive=False)
        window.show()
    except Exception as e:  # noqa: BLE001 - the self-test reports the stage that broke
        test.say(f"self-test: FAILED while opening the window: {type(e).__name__}: {e}")
        return 1
    QTimer.singleShot(0, lambda: test.start(window))
    code = app.exec()
    if code == 0 and test.failed is None and test.lines[-1:] == ["self-test: passed"]:
        result = 0
    else:
        result = 1
    with contextlib.suppress(OSError):
        test.tmp.cleanup()
    return result
