"""Prompt concepts at the text-encoder output and at the token embeddings."""

from __future__ import annotations

import pytest
import torch

from workbench.concepts.algebra import combine, evaluate
from workbench.concepts.concept import ModelRef
from workbench.diffusion.embeddings import (
    HIDDEN,
    POOLED,
    encode_concept,
    encode_prompts,
    encode_token_embeds,
    token_embeddings,
)
from workbench.errors import ShapeMismatchError


def test_sd_concept_is_the_pipelines_prompt_embedding(sd_dm):
    c = encode_concept(sd_dm, "a castle", name="castle")
    assert c.name == "castle"
    assert set(c.vectors) == {HIDDEN}  # SD1.x has no pooled vector
    assert c.model.kind == "diffusion" and c.model == sd_dm.ref
    assert c.recipe["method"] == "prompt_embedding" and c.recipe["prompt"] == "a castle"
    assert c.recipe["level"] == "text_encoder"
    ref, _ = sd_dm.pipe.encode_prompt("a castle", "cpu", 1, False)
    torch.testing.assert_close(c.vectors[HIDDEN], ref[0], rtol=0, atol=0)
    assert c.vectors[HIDDEN].shape == (77, 8) and c.vectors[HIDDEN].dtype == torch.float32


def test_sdxl_concept_has_sequence_and_pooled(sdxl_dm):
    c = encode_concept(sdxl_dm, "a castle")
    assert set(c.vectors) == {HIDDEN, POOLED}
    seq, _, pooled, _ = sdxl_dm.pipe.encode_prompt(
        prompt="a castle", device="cpu", do_classifier_free_guidance=False
    )
    torch.testing.assert_close(c.vectors[HIDDEN], seq[0], rtol=0, atol=0)
    torch.testing.assert_close(c.vectors[POOLED], pooled[0], rtol=0, atol=0)
    # both encoders' penultimate layers, concatenated: 8 + 8
    assert c.vectors[HIDDEN].shape == (77, 16) and c.vectors[POOLED].shape == (8,)


def test_token_embeddings_are_the_encoders_input_embeddings(sdxl_dm):
    pipe = sdxl_dm.pipe
    vectors = token_embeddings(sdxl_dm, "a castle")
    assert set(vectors) == {"text_encoder.token_embeds", "text_encoder_2.token_embeds"}
    for name, tok in (("text_encoder", pipe.tokenizer), ("text_encoder_2", pipe.tokenizer_2)):
        ids = tok("a castle", padding="max_length", max_length=77, return_tensors="pt").input_ids
        expected = getattr(pipe, name).get_input_embeddings()(ids)[0]
        torch.testing.assert_close(vectors[f"{name}.token_embeds"], expected, rtol=0, atol=0)


@pytest.mark.parametrize("which", ["sd_dm", "sdxl_dm"])
def test_token_embeds_round_trip_through_the_encoders(which, request):
    dm = request.getfixturevalue(which)
    vectors = token_embeddings(dm, "a snowy castle")
    again = encode_token_embeds(dm, vectors, base_prompt="a snowy castle")
    plain = encode_prompts(dm, "a snowy castle")
    torch.testing.assert_close(again.hidden, plain.hidden, rtol=0, atol=0)
    if plain.pooled is not None:
        torch.testing.assert_close(again.pooled, plain.pooled, rtol=0, atol=0)


def test_token_concept(sd_dm):
    c = encode_concept(sd_dm, "winter", level="token_embeds")
    assert c.sites == ["text_encoder.token_embeds"]
    assert c.recipe["level"] == "token_embeds"


def test_concepts_combine_with_the_shared_algebra(sdxl_dm):
    a = encode_concept(sdxl_dm, "castle")
    b = encode_concept(sdxl_dm, "winter")
    out = evaluate("castle + 0.5*winter", {"castle": a, "winter": b})
    for site in (HIDDEN, POOLED):
        torch.testing.assert_close(out.vectors[site], a.vectors[site] + 0.5 * b.vectors[site])
    assert out.model == sdxl_dm.ref
    assert set(combine([(1.0, a), (0.5, b)])) == {HIDDEN, POOLED}


def test_levels_do_not_mix_and_models_do_not_mix(sd_dm, sdxl_dm):
    text = encode_concept(sd_dm, "castle")
    tokens = encode_concept(sd_dm, "castle", level="token_embeds")
    with pytest.raises(ShapeMismatchError):
        combine([(1.0, text), (1.0, tokens)])
    with pytest.raises(ShapeMismatchError):
        combine([(1.0, text), (1.0, encode_concept(sdxl_dm, "castle"))])


def test_concept_from_another_model_is_refused(sd_dm, make_spec):
    from workbench.diffusion.generate import generate_image
    from workbench.jobs import run

    c = encode_concept(sd_dm, "castle")
    c.model = ModelRef(name="other", file_hash="f" * 64, kind="diffusion")
    with pytest.raises(ShapeMismatchError, match="re-encode"):
        run(generate_image(sd_dm, make_spec(terms=[(1.0, c)])))
