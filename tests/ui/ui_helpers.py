"""Helpers for the desktop app's tests (imported by the test modules)."""

from __future__ import annotations


def wait_idle(qtbot, ctx, timeout: int = 60000) -> None:
    """Wait (on the executor's signal) until no job runs or waits."""
    if ctx.executor.busy:
        with qtbot.waitSignal(
            ctx.executor.busy_changed, timeout=timeout, check_params_cb=lambda busy: not busy
        ):
            pass


def make_window(qtbot, project=None):
    from ui.app import create_window

    w = create_window(theme_choice="light", interactive=False)
    qtbot.addWidget(w)
    w.ctx.project.ask = False
    w.show()
    w.finish_startup(model=None, project=str(project) if project else None)
    wait_idle(qtbot, w.ctx)
    return w


TINY_PAIRS = [
    ["I feel very happy today", "I feel very sad today"],
    ["this movie is good", "this movie is bad"],
    ["I love the food", "I hate the food"],
    ["the weather is nice", "the weather is awful"],
]
