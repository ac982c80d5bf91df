"""Tiny random diffusion pipelines built from config, for tests, benchmarks and demos.

Nothing is downloaded: the CLIP tokenizer is built from a byte-level vocabulary (the 256 byte
symbols, the same with ``</w>``, and the two special tokens) and no merges, which is what
diffusers' own tests get from their tiny hub tokenizer. The component sizes follow diffusers'
``get_dummy_components`` for SD1.x and SDXL; ``width`` scales the UNet for benchmarks.
"""

from __future__ import annotations

from typing import Any


def _bytes_to_unicode() -> list[str]:
    # GPT-2/CLIP's reversible byte -> printable-character table.
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_clip_tokenizer(model_max_length: int = 77) -> Any:
    """A byte-level CLIP tokenizer with 514 tokens; ``<|endoftext|>`` has the largest id.

    The largest id matters: CLIP configs with ``eos_token_id == 2`` pool at ``argmax(input_ids)``.
    """
    from transformers import CLIPTokenizer

    symbols = _bytes_to_unicode()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": i + 256 for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def _clip_config(hidden: int, projection: int = 0, layers: int = 2) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_attention_heads=2,
        num_hidden_layers=layers,
        vocab_size=1000,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        projection_dim=projection or hidden,
        hidden_act="gelu",
    )


def _vae(latent_channels: int = 4) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=latent_channels,
        norm_num_groups=2,
    )


def _ddim() -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def tiny_sd_pipeline(seed: int = 0, width: int = 4, text_dim: int = 8) -> Any:
    """A random SD1.x-style ``StableDiffusionPipeline`` (CPU, float32, 2 steps well under 1 s).

    ``width`` is the UNet's first block width (4 as in diffusers' tests; larger for benchmarks).
    """
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(width, 2 * width),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=text_dim,
        norm_num_groups=2,
    )
    vae = _vae()
    text_encoder = CLIPTextModel(_clip_config(text_dim)).eval()
    pipe: Any = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(),
        unet=unet,
        scheduler=_ddim(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sdxl_pipeline(seed: int = 0) -> Any:
    """A random SDXL-style pipeline: two CLIP encoders (the second with a projection, whose
    ``text_embeds`` is the pooled vector) and a UNet with ``text_time`` added conditioning."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    hidden = 8
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + hidden,  # 6 time ids + pooled
        cross_attention_dim=2 * hidden,  # both encoders' sequences, concatenated
        norm_num_groups=2,
    )
    vae = _vae()
    text_encoder = CLIPTextModel(_clip_config(hidden)).eval()
    text_encoder_2 = CLIPTextModelWithProjection(_clip_config(hidden, projection=hidden)).eval()
    pipe: Any = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tiny_clip_tokenizer(),
        tokenizer_2=tiny_clip_tokenizer(),
        unet=unet,
        scheduler=_ddim(),
        add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_t5_tokenizer() -> Any:
    """A character-level T5 (Unigram) tokenizer: pad 0, ``</s>`` 1, unk 2, no extra ids."""
    import string

    from transformers import T5Tokenizer

    chars = list(string.ascii_lowercase + string.digits + ".,!?'-")
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in chars] + [("▁" + c, -2.5) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=512)


def _t5(d_model: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config(
        vocab_size=128, d_model=d_model, d_kv=8, d_ff=2 * d_model, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, pad_token_id=0,
        eos_token_id=1,
    )  # fmt: skip
    return T5EncoderModel(cfg).eval()


def _flow_vae(latent_channels: int) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,),
        layers_per_block=1, latent_channels=latent_channels, norm_num_groups=1,
        use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
        scaling_factor=1.5035,
    )  # fmt: skip


def tiny_sd3_pipeline(seed: int = 0) -> Any:
    """A random SD3-style pipeline (MMDiT, two CLIPs with projections, a T5, flow matching)."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=32, patch_size=1, in_channels=4, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=64,
        pooled_projection_dim=64, out_channels=4,
    )  # fmt: skip
    pipe: Any = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=_flow_vae(4),
        text_encoder=CLIPTextModelWithProjection(_clip_config(32, projection=32)).eval(),
        tokenizer=tiny_clip_tokenizer(),
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(32, projection=32)).eval(),
        tokenizer_2=tiny_clip_tokenizer(),
        text_encoder_3=_t5(64),
        tokenizer_3=tiny_t5_tokenizer(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_flux_pipeline(seed: int = 0) -> Any:
    """A random Flux-style pipeline (CLIP for the pooled vector, T5 for the sequence)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=(4, 4, 8),
    )  # fmt: skip
    pipe: Any = FluxPipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=_flow_vae(1),  # packed 2x2: 1 channel -> the transformer's 4
        text_encoder=CLIPTextModel(_clip_config(32)).eval(),
        tokenizer=tiny_clip_tokenizer(),
        text_encoder_2=_t5(32),
        tokenizer_2=tiny_t5_tokenizer(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
