"""Choose a pipeline's sampler by diffusers class name or by its AUTOMATIC1111 name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.diffusion.loading import DiffusionModel

# diffusers scheduler class -> A1111 sampler name (" Karras" is appended for Karras sigmas)
A1111_SAMPLERS = {
    "DDIMScheduler": "DDIM",
    "DDPMScheduler": "DDPM",
    "PNDMScheduler": "PLMS",
    "LMSDiscreteScheduler": "LMS",
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "HeunDiscreteScheduler": "Heun",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DPMSolverSinglestepScheduler": "DPM++ SDE",
    "KDPM2DiscreteScheduler": "DPM2",
    "KDPM2AncestralDiscreteScheduler": "DPM2 a",
    "UniPCMultistepScheduler": "UniPC",
    "FlowMatchEulerDiscreteScheduler": "Euler",
}


def sampler_name(scheduler: Any) -> str:
    """The A1111 name of a scheduler instance (its class name when A1111 has none)."""
    cls = type(scheduler).__name__
    name = A1111_SAMPLERS.get(cls, cls)
    if getattr(scheduler, "config", {}).get("use_karras_sigmas"):
        name += " Karras"
    return name


def compatible_schedulers(dm: DiffusionModel) -> list[str]:
    """Scheduler class names this pipeline can use (flow-matching families have few)."""
    names = {c.__name__ for c in getattr(dm.pipe.scheduler, "compatibles", [])}
    names.add(type(dm.pipe.scheduler).__name__)
    return sorted(names)


def set_scheduler(dm: DiffusionModel, name: str) -> str:
    """Swap the pipeline's scheduler, keeping its trained schedule (betas, prediction type).

    ``name``: a diffusers class (``"EulerAncestralDiscreteScheduler"``) or an A1111 name
    (``"Euler a"``, ``"DPM++ 2M Karras"``). Returns the class name now in use.
    """
    import diffusers

    karras = name.endswith(" Karras")
    base = name[: -len(" Karras")] if karras else name
    by_a1111 = {
        v.lower(): k for k, v in A1111_SAMPLERS.items() if k != "FlowMatchEulerDiscreteScheduler"
    }
    cls_name = base if hasattr(diffusers, base) else by_a1111.get(base.lower(), "")
    allowed = compatible_schedulers(dm)
    if dm.family in ("sd3", "flux") and base == "Euler":
        cls_name = "FlowMatchEulerDiscreteScheduler"
    if cls_name not in allowed:
        raise WorkbenchError(
            f"{name!r} does not fit this {dm.family} pipeline; choose one of {', '.join(allowed)}."
        )
    overrides = {"use_karras_sigmas": True} if karras else {}
    dm.pipe.scheduler = getattr(diffusers, cls_name).from_config(
        dm.pipe.scheduler.config, **overrides
    )
    return cls_name
