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
    pipe = StableDiffusionPipeline(
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
    pipe = StableDiffusionXLPipeline(
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
