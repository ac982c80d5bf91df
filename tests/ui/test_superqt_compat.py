"""One test per private attribute of superqt behind ``ui/compat.py``."""

from __future__ import annotations

from superqt.utils import create_worker

from ui.compat import release_worker_generator, worker_generator


def test_generator_worker_generator(qtbot):
    def job():
        yield 1

    worker = create_worker(job, _start_thread=False)
    gen = worker_generator(worker)
    assert gen is not None and next(gen) == 1
    release_worker_generator(worker)
    assert worker_generator(worker) is None
