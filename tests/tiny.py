"""Tiny random language models of every supported family, built from configs (nothing is
downloaded), and a small offline word-level tokenizer."""

from __future__ import annotations

import functools

import torch

WORDS = [
    "the",
    "a",
    "an",
    "is",
    "was",
    "of",
    "to",
    "in",
    "and",
    "on",
    "I",
    "you",
    "he",
    "she",
    "it",
    "we",
    "they",
    "feel",
    "am",
    "are",
    "very",
    "good",
    "bad",
    "happy",
    "sad",
    "love",
    "hate",
    "great",
    "terrible",
    "king",
    "queen",
    "man",
    "woman",
    "Paris",
    "France",
    "London",
    "capital",
    "city",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "hot",
    "cold",
    "big",
    "small",
    "yes",
    "no",
    "not",
    "really",
    "today",
    "weather",
    "movie",
    "film",
    "this",
    "that",
    "food",
    "nice",
    "awful",
    "fine",
    "ok",
    ".",
    ",",
    "!",
]
VOCAB_SIZE = 128
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gpt2", "gpt_neox", "phi")


@functools.lru_cache(maxsize=1)
def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        vocab.setdefault(c, len(vocab))
    assert len(vocab) <= VOCAB_SIZE
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
    )


def tiny_config(family: str):
    import transformers as T

    common = dict(vocab_size=VOCAB_SIZE, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    llama_like = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        **common,
    )
    if family == "llama":
        return T.LlamaConfig(**llama_like)
    if family == "mistral":
        return T.MistralConfig(**llama_like, sliding_window=None)
    if family == "qwen2":
        return T.Qwen2Config(**llama_like)
    if family == "qwen3":
        return T.Qwen3Config(**llama_like, head_dim=8)
    if family == "gemma":
        return T.GemmaConfig(**llama_like, head_dim=8)
    if family == "gemma2":
        return T.Gemma2Config(**llama_like, head_dim=8, sliding_window=64, query_pre_attn_scalar=8)
    if family == "gpt2":
        return T.GPT2Config(n_layer=3, n_embd=32, n_head=4, n_positions=128, **common)
    if family == "gpt_neox":
        return T.GPTNeoXConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=128,
            rotary_pct=0.5,
            **common,
        )
    if family == "phi":
        return T.PhiConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=128,
            partial_rotary_factor=0.5,
            **common,
        )
    raise ValueError(family)


def tiny_hf_model(family: str, attn: str = "sdpa", seed: int = 0):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    cfg = tiny_config(family)
    try:
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation=attn, dtype=torch.float32)
    except ValueError:  # families without SDPA (Gemma 2) run eager
        model = AutoModelForCausalLM.from_config(
            cfg, attn_implementation="eager", dtype=torch.float32
        )
    return model.eval()


def tiny_hooked(family: str = "llama", attn: str = "sdpa", seed: int = 0):
    from workbench.models.hooked import HookedModel

    return HookedModel(tiny_hf_model(family, attn, seed), tiny_tokenizer())


# An in-context task in the tiny vocabulary (function vectors, head interventions).
OPPOSITE_PAIRS = [
    ("hot", "cold"), ("big", "small"), ("good", "bad"), ("happy", "sad"), ("yes", "no"),
    ("love", "hate"), ("king", "queen"), ("man", "woman"), ("great", "terrible"), ("nice", "awful"),
]  # fmt: skip
