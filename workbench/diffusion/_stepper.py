"""Run a diffusers pipeline call as a job: one :class:`Progress` per denoising step.

A pipeline call is a blocking function, a job is a generator; the call runs in a helper thread
and walks in lockstep with the consumer: after each step its ``callback_on_step_end`` hands a
report over and waits until the consumer asks for the next one. Closing the job (or any error
in the consumer) makes the next callback raise, which ends the call at once: no further denoising
step and no VAE decode (setting ``pipe._interrupt`` would still decode the unfinished latents).
The call is always joined before the job finishes, so the model is free again afterwards.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from workbench import compat
from workbench.errors import WorkbenchError
from workbench.jobs import Job, Progress


class _StopPipeline(Exception):
    """Raised inside the pipeline thread to end a cancelled call."""


def pipeline_job(
    pipe: Any,
    call_kwargs: dict[str, Any],
    on_step: Callable[[int, int], Any],
    total: int,
    done_before: int = 0,
    grand_total: int | None = None,
    label: str = "",
) -> Job[Any]:
    """Yield ``Progress(done_before + step, grand_total, message, payload)`` after each
    denoising step of ``pipe(**call_kwargs)``; return the pipeline's output.

    ``payload = on_step(step_index, n_steps)`` runs in the pipeline thread, between steps
    (compute previews there). ``total`` is the expected number of steps; second-order samplers
    (Heun, DPM2) evaluate more timesteps than ``num_inference_steps``, and the pipeline's own
    count (``_num_timesteps``) then corrects ``total`` and ``grand_total``.
    """
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    resume = threading.Semaphore(0)
    cancel = threading.Event()

    def callback(_pipe: Any, i: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if cancel.is_set():
            raise _StopPipeline
        n = compat.num_timesteps(_pipe) or total
        events.put(("step", (i, n, on_step(i, n))))
        resume.acquire()
        if cancel.is_set():
            raise _StopPipeline
        return tensors

    def target() -> None:
        try:
            out = pipe(
                **call_kwargs,
                callback_on_step_end=callback,
                callback_on_step_end_tensor_inputs=["latents"],
            )
            events.put(("done", out))
        except _StopPipeline:
            if hasattr(pipe, "maybe_free_model_hooks"):
                pipe.maybe_free_model_hooks()  # leave offloaded components where they belong
            events.put(("cancelled", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            events.put(("error", exc))

    thread = threading.Thread(target=target, name="diffusion-pipeline", daemon=True)
    thread.start()
    prefix = f"{label}: " if label else ""
    grand_total = grand_total or total
    try:
        while True:
            kind, value = events.get()
            if kind == "step":
                i, n, payload = value
                if n != total:
                    grand_total, total = grand_total + n - total, n
                yield Progress(
                    done_before + i + 1, grand_total, f"{prefix}step {i + 1}/{total}", payload
                )
                resume.release()
            elif kind == "done":
                return value
            elif kind == "error":
                err = _explain(value)
                if err is value:
                    raise value
                raise err from value
            else:
                raise WorkbenchError("the pipeline call was cancelled")
    finally:
        cancel.set()
        resume.release()
        thread.join()


def _explain(exc: BaseException) -> BaseException:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return WorkbenchError(
            f"out of GPU memory while generating ({exc}). Lower the size or the batch, or reload "
            "the model with CPU offload."
        )
    if isinstance(exc, ValueError):  # diffusers' check_inputs: sizes, shapes, batch sizes
        return WorkbenchError(f"the pipeline refused these settings: {exc}")
    return exc
