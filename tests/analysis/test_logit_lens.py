"""The prompt logit lens against Hugging Face's own forward pass."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.analysis import logit_lens
from workbench.errors import PromptSetError
from workbench.figures import render


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma2"])
def test_last_row_is_the_models_own_logits(family):
    hm = tiny_hooked(family)
    prompt = "the capital of France is"
    lens = logit_lens(hm, prompt, target="Paris", k=3)
    enc = hm.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        ref = hm.model(**enc).logits[0].float()  # Hugging Face's forward, no hooks
    probs = torch.softmax(ref, -1)
    top_p, top_i = probs.topk(3, -1)
    assert lens.top_ids[-1] == top_i.tolist()
    assert torch.allclose(torch.tensor(lens.top_probs[-1]), top_p, atol=1e-5)
    tid = lens.target_id
    assert torch.allclose(torch.tensor(lens.target_prob[-1]), probs[:, tid], atol=1e-5)
    ranks = (ref > ref[:, tid : tid + 1]).sum(-1) + 1
    assert lens.target_rank[-1] == ranks.tolist()
    assert len(lens.rows) == hm.n_layers + 1 and lens.rows[0] == "embed"
    assert len(lens.tokens) == enc["input_ids"].shape[1]


def test_embedding_row_and_hand_unembedding():
    """Row 0 is the embedding read through the final norm and lm_head, by hand."""
    hm = tiny_hooked("llama")
    lens = logit_lens(hm, "I feel happy", k=2)
    ids = hm.tokenizer("I feel happy", return_tensors="pt")["input_ids"]
    m = hm.model
    with torch.no_grad():
        e = m.model.embed_tokens(ids)
        lg = m.lm_head(m.model.norm(e))[0]
    assert lens.top_ids[0] == lg.topk(2, -1).indices.tolist()
    assert lens.target_prob is None


def test_multi_token_target_says_which_token_is_scored():
    hm = tiny_hooked("llama")
    lens = logit_lens(hm, "the king", target="Paris France")
    assert "first token" in lens.note
    with pytest.raises(PromptSetError):
        logit_lens(hm, "the king", target="")


def test_figure_spec_has_a_token_per_cell_and_renders():
    hm = tiny_hooked("llama")
    lens = logit_lens(hm, "the capital of France is", target="Paris")
    spec = lens.figure_spec()
    assert len(spec["cell_text"]) == len(spec["rows"]) == hm.n_layers + 1
    assert len(spec["cell_text"][0]) == len(spec["cols"]) == len(lens.tokens)
    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
        assert render(spec, fmt).startswith(magic)
    d = lens.to_dict()
    assert d["kind"] == "logit_lens" and d["settings"]["target"] == "Paris"


def test_log10_scale_colours_by_log_probability():
    hm = tiny_hooked("llama")
    lens = logit_lens(hm, "the capital of France is", target="Paris", scale="log10")
    spec = lens.figure_spec()
    assert spec["vmin"] == -10.0 and spec["vmax"] == 0.0
    import math

    assert spec["values"][-1][-1] == pytest.approx(math.log10(lens.target_prob[-1][-1]), abs=1e-5)
    with pytest.raises(ValueError):
        logit_lens(hm, "the king", scale="log")
