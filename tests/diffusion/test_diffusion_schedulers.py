"""Sampler choice, second-order samplers' step counts, and what provenance says about them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.diffusion.generate import generate_image
from workbench.diffusion.loading import wrap_pipeline
from workbench.diffusion.provenance import read_provenance
from workbench.diffusion.schedulers import compatible_schedulers, set_scheduler
from workbench.diffusion.tiny import tiny_sd_pipeline
from workbench.errors import WorkbenchError
from workbench.jobs import Progress, run


@pytest.fixture()
def own_sd():
    return wrap_pipeline(tiny_sd_pipeline(seed=0), name="tiny-sd-own")


def test_a1111_names_and_provenance(own_sd, make_spec):
    assert set_scheduler(own_sd, "Euler a") == "EulerAncestralDiscreteScheduler"
    spec = make_spec(prompt="castle", seed=3)
    first, second = run(generate_image(own_sd, spec)), run(generate_image(own_sd, spec))
    np.testing.assert_array_equal(first.array, second.array)  # ancestral noise is seeded too
    reference = own_sd.pipe(
        prompt="castle", num_inference_steps=2, guidance_scale=7.5, height=64, width=64,
        generator=torch.Generator("cpu").manual_seed(3), output_type="np",
    ).images[0]  # fmt: skip
    np.testing.assert_array_equal(first.array, reference)
    parsed = read_provenance(first.png_bytes())["parsed"]
    assert parsed["Sampler"] == "Euler a"
    assert set_scheduler(own_sd, "DPM++ 2M Karras") == "DPMSolverMultistepScheduler"
    assert own_sd.pipe.scheduler.config.use_karras_sigmas
    info = run(generate_image(own_sd, spec)).info
    assert info["sampler"] == "DPM++ 2M Karras"
    assert info["scheduler_config"]["beta_schedule"] == "scaled_linear"  # the trained schedule


def test_second_order_sampler_counts_its_timesteps(own_sd, make_spec):
    set_scheduler(own_sd, "HeunDiscreteScheduler")
    reports: list[Progress] = []
    run(generate_image(own_sd, make_spec(prompt="castle", steps=2)), on_progress=reports.append)
    n = own_sd.pipe._num_timesteps
    assert n == 3  # Heun: 2 steps = 3 denoiser evaluations
    assert [(p.done, p.total) for p in reports] == [(1, 3), (2, 3), (3, 3)]
    assert all(p.payload.image is not None for p in reports)


def test_incompatible_scheduler(sd3_dm, own_sd):
    with pytest.raises(WorkbenchError, match="does not fit"):
        set_scheduler(sd3_dm, "Euler a")
    assert "FlowMatchEulerDiscreteScheduler" in compatible_schedulers(sd3_dm)
    with pytest.raises(WorkbenchError):
        set_scheduler(own_sd, "no such sampler")
