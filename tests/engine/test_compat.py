"""One test per private attribute of transformers and diffusers behind ``workbench/compat.py`` (superqt's: tests/ui/test_superqt_compat.py):
when an upgrade renames one, the test named after it fails (and nothing else needs reading)."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hf_model

from workbench import compat


@pytest.fixture(scope="module")
def llama():
    return tiny_hf_model("llama")


@pytest.fixture(scope="module")
def sd_pipe():
    from workbench.diffusion.tiny import tiny_sd_pipeline

    return tiny_sd_pipeline(seed=0)


def test_config_attn_implementation(llama):
    assert compat.attn_implementation(llama.config) == "sdpa"
    compat.set_attn_implementation(llama.config, "eager")
    try:
        assert compat.attn_implementation(llama.config) == "eager"
        assert llama.config._attn_implementation == "eager"  # what the model reads
    finally:
        compat.set_attn_implementation(llama.config, "sdpa")


def test_config_name_or_path(llama, tmp_path):
    from transformers import AutoConfig

    llama.config.save_pretrained(tmp_path)
    assert compat.name_or_path(AutoConfig.from_pretrained(tmp_path)) == str(tmp_path)


def test_model_tied_weights_keys():
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    tied = compat.tied_weights_keys(AutoModelForCausalLM.from_config(cfg))
    assert tied is not None and "lm_head.weight" in tied


def test_pipeline_execution_device(sd_pipe):
    assert torch.device(compat.execution_device(sd_pipe)) == torch.device("cpu")


def test_pipeline_num_timesteps(sd_pipe):
    seen = []

    def callback(pipe, i, t, tensors):
        seen.append(compat.num_timesteps(pipe))
        return tensors

    sd_pipe(
        "a castle",
        num_inference_steps=2,
        height=64,
        width=64,
        output_type="latent",
        callback_on_step_end=callback,
    )
    assert seen == [2, 2]


def test_flux_unpack_latents():
    from workbench.diffusion.tiny import tiny_flux_pipeline

    pipe = tiny_flux_pipeline(seed=0)
    h = w = 64
    channels = pipe.transformer.config.in_channels // 4
    lat = torch.randn(
        1, channels, 2 * (h // pipe.vae_scale_factor // 2), 2 * (w // pipe.vae_scale_factor // 2)
    )
    packed = pipe._pack_latents(lat, 1, channels, lat.shape[2], lat.shape[3])
    torch.testing.assert_close(compat.unpack_latents(pipe, packed, h, w), lat)


def test_diffusers_dtype_keyword():
    import diffusers
    from packaging.version import Version

    want = "dtype" if Version(diffusers.__version__) >= Version("0.42") else None
    got = compat.diffusers_dtype_kwarg()
    assert got in ("dtype", "torch_dtype")
    if want:
        assert got == want, f"diffusers {diffusers.__version__} takes dtype=; the probe says {got}"
