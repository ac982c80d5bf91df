"""Long jobs show the share done on one scale and an estimate of the time left (issue 18
item 6: function-vector head scoring ran 7.6 min with no estimate, its text jumping back)."""

from __future__ import annotations

import itertools

import torch
from ui_helpers import wait_idle

from ui.eta import ProgressClock, format_duration
from workbench.concepts.concept import Concept
from workbench.jobs import Progress


def test_the_clock_estimates_from_the_rate_and_restarts_when_the_scale_does():
    t = iter(float(x) for x in itertools.count())
    clock = ProgressClock(now=lambda: next(t))
    clock.add(Progress(0, 100, "a"))  # t = 0
    clock.add(Progress(10, 100, "a"))  # t = 1: too early for an estimate
    assert clock.text() == "10 %"
    for done in (20, 30, 40):  # t = 2, 3, 4: 10 % a second
        clock.add(Progress(done, 100, "a"))
    assert abs(clock.seconds_left - 6.0) < 1e-9 and clock.text() == "40 % · about 0:06 left"
    clock.add(Progress(1, 30, "b"))  # another scale: the clock starts again
    assert clock.seconds_left is None
    clock.add(Progress(0, None, "c"))
    assert clock.text() == ""
    assert format_duration(3725) == "1:02:05" and format_duration(59.6) == "1:00"


def test_a_sweep_shows_share_and_time_left_in_the_status_bar(qtbot, loaded_window):
    w = loaded_window
    ctx = w.ctx
    hm = ctx.state.model().hm
    vecs = {f"blocks.{L}.hook_resid_post": torch.ones(hm.d_model) for L in range(hm.n_layers)}
    w.library_dock.add_concept(Concept("probe", vecs, hm.ref))
    ticks = itertools.count()
    w.status.clock._now = lambda: float(next(ticks))  # a second per report
    sweep = w.view("sweep")
    sweep.concept.setCurrentText("probe")
    sweep.layers.setText("0, 1")
    sweep.coefs.setText("0, 1, 2")
    sweep.tokens.setValue(8)
    sweep.targets.setText("")
    texts: list[str] = []
    ctx.executor.job_progress.connect(lambda *_: texts.append(w.status.job_label.text()))
    sweep.run()
    wait_idle(qtbot, ctx)
    assert sweep.result is not None, ctx.errors.history
    assert any("%" in t for t in texts), texts
    assert any(t.endswith(" left") and "about" in t for t in texts), texts
    shares = [int(t.rsplit(" · ", 2)[1].split()[0]) for t in texts if t.count(" · ") >= 2]
    assert shares == sorted(shares)  # one scale: never goes back
