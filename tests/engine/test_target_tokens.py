"""One word -> token rule: the Sweep, the Heads scores and the logit lens read a target word as
the same token (workbench.models.tokens), on a BPE tokenizer where `` Paris`` and ``Paris``
are different tokens."""

from __future__ import annotations

import functools

import pytest
import torch

from workbench.errors import PromptSetError
from workbench.models import tokens

CORPUS = [
    "The capital of France is Paris. Paris is large.",
    "The capital of Japan is Tokyo. Tokyo is large.",
    "Paris, Tokyo, Rome: capitals of France, Japan, Italy.",
    "cold hot warm cool Monday Tuesday",
] * 20


@functools.lru_cache(maxsize=1)
def bpe_tokenizer():
    """A small byte-level BPE (the GPT-2 scheme: a leading space is part of the token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )


@pytest.fixture(scope="module")
def bpe_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    from workbench.models.hooked import HookedModel

    tok = bpe_tokenizer()
    torch.manual_seed(0)
    cfg = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=4,
        n_positions=64,
        vocab_size=len(tok),
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    return HookedModel(GPT2LMHeadModel(cfg).eval(), tok)


def test_the_tokenizer_tells_a_spaced_word_from_a_bare_one() -> None:
    tok = bpe_tokenizer()
    spaced = tok(" Paris", add_special_tokens=False)["input_ids"]
    bare = tok("Paris", add_special_tokens=False)["input_ids"]
    assert len(spaced) == 1 and spaced != bare  # the two readings the panels used to differ by


@pytest.mark.parametrize("word", ["Paris", " Paris", "Paris ", "Tokyo", " cold", "Monday"])
def test_sweep_heads_and_lens_read_a_word_as_one_token(bpe_model, word: str) -> None:
    from workbench.analysis._readout import target_token
    from workbench.concepts.steering_sweep import target_token_ids
    from workbench.heads.data import TaskPrompts
    from workbench.heads.metrics import encode_task

    tok = bpe_model.tokenizer
    want = tok(" " + word.strip(), add_special_tokens=False)["input_ids"][0]  # rule 1 by hand
    sweep = target_token_ids(tok, [word])  # the Sweep panel / `concepts sweep --targets`
    task = TaskPrompts(["The capital of France is"], [word], [" Tokyo"])
    heads = encode_task(bpe_model, task)  # the Heads panel / `heads score --target`
    lens_id, lens_text, _ = target_token(bpe_model, word)  # logit lens / patching
    assert sweep == [want]
    assert int(heads.metric.target_ids[0]) == want
    assert lens_id == want and lens_text == tok.decode([want])


def test_multi_token_word_is_scored_by_its_first_token_with_a_note() -> None:
    tok = bpe_tokenizer()
    ids = tok(" Parisian", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1
    tid, text, note = tokens.target_token(tok, "Parisian")
    assert tid == ids[0] and "first token" in note and text in note


def test_single_token_items_use_the_same_reading() -> None:
    tok = bpe_tokenizer()
    assert tokens.single_token_id(tok, "Paris") == tokens.target_token_id(tok, "Paris")
    assert tokens.single_token_id(tok, "Parisian") is None


def test_exact_continuations_are_tokenised_as_given() -> None:
    tok = bpe_tokenizer()
    bare = tok("Paris", add_special_tokens=False)["input_ids"][0]
    assert (
        tokens.continuation_token_id(tok, "Paris") == bare != tokens.target_token_id(tok, "Paris")
    )


def test_an_empty_target_is_refused() -> None:
    with pytest.raises(PromptSetError, match="empty"):
        tokens.target_token_id(bpe_tokenizer(), "  ")


def test_answer_rule() -> None:
    assert tokens.answer_matches(" cold\n\nQ:", "cold")
    assert not tokens.answer_matches(" colder", "cold")
    assert tokens.answer_matches(" Mexico City.\n", "Mexico City")
    assert not tokens.answer_matches(" Mexico\n\nQ:", "Mexico City")
