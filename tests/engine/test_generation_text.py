"""Streamed pieces never carry the U+FFFD of a character whose bytes are still coming, their
concatenation is the stored text, and the stored text is the whole token sequence decoded
(issue 18 item 10: stored steered text held U+FFFD)."""

from __future__ import annotations

from tiny import tiny_hooked

from workbench.jobs import run
from workbench.models.generation import SamplingSettings, generate_job


def test_an_unfinished_character_is_held_back_and_a_cut_one_dropped():
    hm = tiny_hooked("llama")
    tok = hm.tokenizer
    real = tok.decode

    # Every character takes two tokens (as byte-level BPE splits an accented letter): after an
    # odd number of new tokens the text ends in an unfinished character, read as U+FFFD.
    def decode(ids, **kw):
        n = len(list(ids))
        return "é" * (n // 2) + ("\ufffd" if n % 2 else "")

    tok.decode = decode
    try:
        pieces: list[str] = []
        s = SamplingSettings(max_new_tokens=5, stop_at_eos=False)
        gen = run(
            generate_job(hm, ["the king is"], (), s),
            on_progress=lambda p: pieces.append(p.payload[0]) if p.payload else None,
        )
    finally:
        tok.decode = real
    assert len(gen.token_ids[0]) == 5
    assert pieces == ["", "é", "", "é", ""]  # the unfinished character is held back
    # the stored text: the whole sequence decoded, less the character cut at the end
    assert gen.texts[0] == "éé" == "".join(pieces)
