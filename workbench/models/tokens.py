"""Words and tokens: the one rule for which token a target word means.

A *target word* names what a model should say next, after a prompt: a steering sweep's target
words, a head score's target and foil, the logit lens's and activation patching's target. All of
them read a word the same way:

1. **As it follows a prompt.** The word gets one leading space (surrounding whitespace is
   dropped first): ``"Paris"`` and ``" Paris"`` both mean `` Paris``, the token a BPE model
   predicts after ``"The capital of France is"``. (Write the prompt without a trailing space.)
2. **Its first token.** A word of several tokens is scored by its first one;
   :func:`target_token` says so in a note.
3. **The bare word when the spaced one is not known.** A tokenizer that reads the spaced form as
   no token or the unknown token is asked for the bare word.

An *exact continuation* (a function vector's answer, written by its template with or without a
space) is tokenised as given: :func:`continuation_token_id`.

An answer is *right* when the model's greedy continuation starts with it, word for word
(:func:`answer_matches`): case and surrounding punctuation are ignored, and an answer of several
words needs every one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.errors import PromptSetError


def target_text(word: str) -> str:
    """``word`` as it follows a prompt: stripped, with one leading space (rule 1)."""
    return " " + word.strip()


def _ids(tokenizer: Any, text: str) -> list[int]:
    return [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]


def _known(tokenizer: Any, ids: list[int]) -> bool:
    unk = getattr(tokenizer, "unk_token_id", None)
    return bool(ids) and ids[0] != unk


def target_token_ids_of(tokenizer: Any, word: str) -> list[int]:
    """Every token of target ``word`` by the rule above (rules 1 and 3)."""
    if not word.strip():
        raise PromptSetError("A target word is empty: give a word such as 'Paris'.")
    for text in (target_text(word), word.strip()):
        ids = _ids(tokenizer, text)
        if _known(tokenizer, ids):
            return ids
    raise PromptSetError(
        f"target word {word.strip()!r} is not in this model's vocabulary (it reads as an unknown "
        "token): remove it or give another."
    )


def target_token_id(tokenizer: Any, word: str) -> int:
    """The token target ``word`` means: the first of :func:`target_token_ids_of`."""
    return target_token_ids_of(tokenizer, word)[0]


def target_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """:func:`target_token_id` of each word (empty words are left out)."""
    return [target_token_id(tokenizer, w) for w in words if w.strip()]


def target_token(tokenizer: Any, word: str) -> tuple[int, str, str]:
    """``(id, token text, note)`` of target ``word``; the note is empty when the word is one
    token, else it says which token is scored."""
    ids = target_token_ids_of(tokenizer, word)
    tok = tokenizer.decode([ids[0]])
    note = ""
    if len(ids) > 1:
        note = (
            f"{word.strip()!r} is {len(ids)} tokens; its first token {tok!r} is scored. Give a "
            "one-token word to score the word itself."
        )
    return ids[0], tok, note


def single_token_id(tokenizer: Any, word: str) -> int | None:
    """The token of ``word`` when it is one known token, read by the same rule (spaced first,
    then bare); None when it is more (successor and copying tables keep one-token items)."""
    for text in (target_text(word), word.strip()):
        ids = _ids(tokenizer, text)
        if len(ids) == 1 and _known(tokenizer, ids):
            return ids[0]
    return None


def continuation_token_id(tokenizer: Any, text: str) -> int:
    """The first token of an exact continuation ``text``, tokenised as given."""
    ids = _ids(tokenizer, text)
    if not ids:
        raise PromptSetError(f"{text!r} has no tokens: give a non-empty answer.")
    return ids[0]


def answer_matches(text: str, answer: str) -> bool:
    """A continuation is right when its first words are the answer's words (as many as the
    answer has; case and surrounding punctuation ignored): ``" cold\\n\\nQ:"`` answers
    ``"cold"``, ``" New York"`` does not answer ``"New Delhi"``."""

    def words(s: str) -> list[str]:
        return [w.strip(".,;:!?\"'()[]").lower() for w in s.split()]

    want = [w for w in words(answer) if w]
    return bool(want) and words(text)[: len(want)] == want
