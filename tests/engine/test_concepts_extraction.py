"""Extraction methods against hand computations from Hugging Face's own hidden states."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.concepts.extraction import ExtractionSpec, extract_job, first_direction
from workbench.concepts.prompt_sets import PromptSet
from workbench.errors import PromptSetError
from workbench.jobs import Cancelled, Progress, run
from workbench.models.sites import resid_post

POS = [
    "I feel very good today",
    "the movie was great",
    "this food is nice",
    "I love the weather",
    "she is happy",
    "the film was really great !",
    "we are very happy today",
    "I love this city",
]
NEG = [
    "I feel very bad today",
    "the movie was terrible",
    "this food is awful",
    "I hate the weather",
    "she is sad",
    "the film was really terrible !",
    "we are very sad today",
    "I hate this city",
]
SENT = PromptSet("tiny-sentiment", "contrastive", positive=POS, negative=NEG, poles=("good", "bad"))


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


_REF: dict = {}


def hf_hidden(hm, texts, layer, position="last"):
    """Reference: one prompt at a time, HF's hidden_states[layer + 1] (cached per prompt)."""
    out = []
    for t in texts:
        key = (id(hm), t)
        if key not in _REF:
            with torch.no_grad():
                _REF[key] = hm.model(**hm.encode([t]), output_hidden_states=True).hidden_states
        h = _REF[key][layer + 1][0]
        out.append(h[-1] if position == "last" else h.mean(0))
    return torch.stack(out)


@pytest.mark.parametrize("position", ["last", "mean"])
def test_diff_of_means_equals_hand_computation(hm, position):
    spec = ExtractionSpec(
        "diff_of_means", layers=[0, 1], position=position, prompts=SENT, batch_size=3
    )
    c = run(extract_job(hm, spec))
    for L in (0, 1):
        expected = hf_hidden(hm, POS, L, position).mean(0) - hf_hidden(hm, NEG, L, position).mean(0)
        torch.testing.assert_close(c.vectors[resid_post(L)], expected, atol=1e-5, rtol=1e-5)
    assert c.model == hm.ref
    r = c.recipe
    assert r["method"] == "diff_of_means" and r["position"] == position
    assert r["sites"] == [resid_post(0), resid_post(1)]
    assert r["prompts"]["pairs"][0] == [POS[0], NEG[0]]
    assert r["library_version"] and r["model"]["name"] == hm.ref.name


def test_mean_activation(hm):
    c = run(
        extract_job(
            hm, ExtractionSpec("mean", layers=[1], prompts=SENT, params={"pole": "positive"})
        )
    )
    torch.testing.assert_close(
        c.vectors[resid_post(1)], hf_hidden(hm, POS, 1).mean(0), atol=1e-5, rtol=1e-5
    )


def _pc1(x):
    x = x.double() - x.double().mean(0)
    evals, evecs = torch.linalg.eigh(x.T @ x)
    return evecs[:, -1].float()


@pytest.mark.parametrize("method", ["pca_diff", "pca_center"])
def test_pca_matches_eigenvector_and_sign(hm, method):
    c = run(extract_job(hm, ExtractionSpec(method, layers=[1], prompts=SENT)))
    v = c.vectors[resid_post(1)]
    pos, neg = hf_hidden(hm, POS, 1), hf_hidden(hm, NEG, 1)
    if method == "pca_diff":
        expected = _pc1(pos - neg)
    else:
        mid = (pos + neg) / 2
        expected = _pc1(torch.cat([pos - mid, neg - mid]))
    assert abs(float(v.norm()) - 1) < 1e-5
    assert abs(abs(float(v @ expected)) - 1) < 1e-4  # same axis
    # sign: positives project above their negatives in most pairs
    assert float(((pos @ v) > (neg @ v)).float().mean()) >= 0.5
    assert 0 < c.recipe["explained_variance"][resid_post(1)] <= 1


def test_pca_diff_uncentred_is_first_singular_vector():
    x = torch.randn(20, 6) + torch.tensor([5.0, 0, 0, 0, 0, 0])
    d, _ = first_direction(x, center=False)
    assert abs(float(d[0])) > 0.95
    d2, _ = first_direction(x, center=True)
    assert abs(float(d2[0])) < 0.9


def test_icv_mean_and_pca(hm):
    demos = PromptSet(
        "opp",
        "demonstrations",
        inputs=["hot", "big", "good", "happy"],
        outputs=["cold", "small", "bad", "sad"],
    )
    mean = run(
        extract_job(
            hm, ExtractionSpec("icv", layers=[1], prompts=demos, params={"aggregate": "mean"})
        )
    )
    # one-word demonstrations: read after a start token, not at the attention-sink position 0
    prefix = mean.recipe["context_prefix"]
    assert prefix == hm.tokenizer.bos_token
    ins = [prefix + t for t in demos.inputs]
    outs = [prefix + t for t in demos.outputs]
    diffs = hf_hidden(hm, outs, 1) - hf_hidden(hm, ins, 1)
    torch.testing.assert_close(mean.vectors[resid_post(1)], diffs.mean(0), atol=1e-5, rtol=1e-5)
    pca = run(extract_job(hm, ExtractionSpec("icv", layers=[1], prompts=demos)))
    extra = pca.vectors[resid_post(1)] - diffs.mean(0)
    assert abs(float(extra.norm()) - 1) < 1e-4
    assert abs(abs(float(extra @ _pc1(diffs))) - 1) < 1e-4
    assert float(extra @ diffs.mean(0)) >= 0
    # two sites: one principal direction over both, unit norm over the concatenation
    both = run(extract_job(hm, ExtractionSpec("icv", layers=[0, 1], prompts=demos)))
    d0 = hf_hidden(hm, outs, 0) - hf_hidden(hm, ins, 0)
    parts = [both.vectors[resid_post(0)] - d0.mean(0), both.vectors[resid_post(1)] - diffs.mean(0)]
    joint = torch.cat(parts)
    assert abs(float(joint.norm()) - 1) < 1e-4
    assert abs(abs(float(joint @ _pc1(torch.cat([d0, diffs], 1)))) - 1) < 1e-4


def test_task_vector(hm):
    demos = PromptSet(
        "opp",
        "demonstrations",
        inputs=["hot", "big", "good", "happy", "yes"],
        outputs=["cold", "small", "bad", "sad", "no"],
        template="{input} {output}",
        separator=" . ",
    )
    c = run(
        extract_job(
            hm,
            ExtractionSpec(
                "task_vector", layers=[0], prompts=demos, params={"k": 2, "n_queries": 3}
            ),
        )
    )
    assert c.vectors[resid_post(0)].shape == (hm.d_model,)
    assert c.recipe["example_prompt"].count(" . ") == 2


def test_probe_direction_on_planted_data(hm):
    c = run(
        extract_job(
            hm, ExtractionSpec("probe", layers=[1], prompts=SENT, params={"test_fraction": 0.25})
        )
    )
    v = c.vectors[resid_post(1)]
    assert abs(float(v.norm()) - 1) < 1e-5
    assert 0 <= c.recipe["accuracy"][resid_post(1)] <= 1
    assert c.recipe["positive_label"] == "good"


def test_token_directions(hm):
    c = run(extract_job(hm, ExtractionSpec("embedding", words=["happy", "good"])))
    W = hm.model.get_input_embeddings().weight.detach()
    tok = hm.tokenizer.convert_tokens_to_ids
    torch.testing.assert_close(c.vectors["hook_embed"], (W[tok("happy")] + W[tok("good")]) / 2)
    u = run(extract_job(hm, ExtractionSpec("unembedding", words=["sad"])))
    WU = hm.model.get_output_embeddings().weight.detach()
    torch.testing.assert_close(u.vectors[resid_post(hm.n_layers - 1)], WU[tok("sad")])


def test_job_reports_progress_and_cancels(hm):
    seen: list[Progress] = []
    run(
        extract_job(hm, ExtractionSpec("diff_of_means", layers=[0], prompts=SENT, batch_size=4)),
        on_progress=seen.append,
    )
    assert seen[-1].done == seen[-1].total == 16
    with pytest.raises(Cancelled):
        run(
            extract_job(
                hm, ExtractionSpec("diff_of_means", layers=[0], prompts=SENT, batch_size=4)
            ),
            should_cancel=lambda: True,
        )


def test_wrong_set_kind_is_clear(hm):
    plain = PromptSet("p", "plain", texts=["the king"])
    with pytest.raises(PromptSetError, match="needs a contrastive"):
        run(extract_job(hm, ExtractionSpec("diff_of_means", layers=[0], prompts=plain)))
    with pytest.raises(PromptSetError, match="at least one layer"):
        run(extract_job(hm, ExtractionSpec("diff_of_means", prompts=SENT)))


def test_gpt2_family_too():
    g = tiny_hooked("gpt2")
    c = run(extract_job(g, ExtractionSpec("diff_of_means", layers=[1], prompts=SENT)))
    expected = hf_hidden(g, POS, 1).mean(0) - hf_hidden(g, NEG, 1).mean(0)
    torch.testing.assert_close(c.vectors[resid_post(1)], expected, atol=1e-5, rtol=1e-5)


def test_a_parameter_the_method_does_not_read_is_refused():
    """``C`` means something to the probe only: given to another method it would change
    nothing, silently. The check names what the method does read."""
    from workbench.concepts.extraction import METHOD_PARAMS, METHODS, check_params
    from workbench.errors import PromptSetError

    check_params("probe", {"C": 0.1, "seed": 1})
    check_params("diff_of_means", {})
    with pytest.raises(PromptSetError, match=r"diff_of_means takes no parameters; 'C'"):
        check_params("diff_of_means", {"C": 0.1})
    with pytest.raises(PromptSetError, match=r"icv reads aggregate; 'k' would change nothing"):
        check_params("icv", {"k": 5})
    assert set(METHOD_PARAMS) <= set(METHODS)
