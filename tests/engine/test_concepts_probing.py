"""Layer-wise probes on planted data, and diagnostics (norms, cosines, logit lens, axes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny import tiny_hooked

from workbench.concepts.concept import Concept
from workbench.concepts.diagnostics import (
    axis_coordinates,
    cosine_matrix,
    logit_lens,
    logit_scores,
    norms_by_layer,
    project_items_job,
    typical_norms_job,
)
from workbench.concepts.probing import probe_accuracy, probe_layers_job
from workbench.concepts.prompt_sets import PromptSet
from workbench.errors import PromptSetError, ShapeMismatchError
from workbench.jobs import run
from workbench.models.sites import resid_post


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


def planted(n=80, d=16, signal=3.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array([i % 2 for i in range(n)])
    x = rng.normal(size=(n, d))
    x[:, 3] += signal * (2 * y - 1)
    return x, y


def test_probe_finds_planted_direction():
    x, y = planted()
    acc, _ = probe_accuracy(x, y, folds=5)
    assert acc > 0.95
    noise, _ = probe_accuracy(np.random.default_rng(1).normal(size=(80, 16)), y, folds=5)
    assert noise < 0.8
    held, sd = probe_accuracy(x, y, folds=None, test_fraction=0.25)
    assert held > 0.9 and sd == 0
    groups = [i // 2 for i in range(80)]
    assert probe_accuracy(x, y, folds=4, groups=groups)[0] > 0.95
    with pytest.raises(PromptSetError, match="two or more classes"):
        probe_accuracy(x, [1] * 80)


def test_probe_curve_on_tiny_model(hm):
    # the label word is the last token, so the last-token activation separates them everywhere
    texts = [
        f"{a} {b} is {w}"
        for a in ("the", "a")
        for b in ("movie", "film", "food", "city")
        for w in ("good", "bad")
    ]
    labels = [t.split()[-1] for t in texts]
    ps = PromptSet("planted", "labelled", texts=texts, labels=labels)
    curve = run(probe_layers_job(hm, ps, folds=4))
    assert [L for L, _ in curve.points] == list(range(hm.n_layers))
    assert all(acc == 1.0 for _, acc in curve.points)
    assert curve.chance == 0.5 and curve.classes == ["bad", "good"] and curve.n_examples == 16
    assert curve.to_dict()["points"][0] == [0, 1.0]


def concept(name, vecs, ref):
    return Concept(
        name, {resid_post(i): torch.tensor(v, dtype=torch.float32) for i, v in enumerate(vecs)}, ref
    )


def test_cosine_matrix_and_norms(hm):
    a = concept("a", [[1.0] + [0.0] * 31, [0.0, 2.0] + [0.0] * 30], hm.ref)
    b = concept("b", [[1.0, 1.0] + [0.0] * 30, [0.0, -1.0] + [0.0] * 30], hm.ref)
    m = cosine_matrix([a, b])
    assert m.sites == [resid_post(0), resid_post(1)]
    assert m.matrix[0][0] == pytest.approx(1.0)
    assert m.matrix[0][1] == pytest.approx((2**-0.5 - 1) / 2)
    assert m.matrix[0][1] == m.matrix[1][0]
    assert cosine_matrix([a, b], site=resid_post(1)).matrix[0][1] == pytest.approx(-1.0)
    assert norms_by_layer(a) == [(resid_post(0), 1.0), (resid_post(1), 2.0)]
    c = Concept("c", {resid_post(2): torch.ones(32)}, hm.ref)
    with pytest.raises(ShapeMismatchError, match="share no site"):
        cosine_matrix([a, c])


def test_logit_lens_reference(hm):
    torch.manual_seed(0)
    v = torch.randn(hm.d_model)
    W = hm.model.get_output_embeddings().weight.detach()
    g = hm.adapter.final_norm().weight.detach()
    rms = v.pow(2).mean().add(hm.model.config.rms_norm_eps).sqrt()
    torch.testing.assert_close(logit_scores(hm, v), W @ (g * v) / rms, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logit_scores(hm, v, norm="none"), W @ v, atol=1e-5, rtol=1e-5)
    # the read-out of a token's own unembedding row promotes that token
    happy = hm.tokenizer.convert_tokens_to_ids("happy")
    lens = logit_lens(hm, W[happy] / g, k=3)
    assert lens.promoted[0][0] == "happy"
    assert (
        lens.promoted[0][1] >= lens.promoted[1][1]
        and lens.suppressed[0][1] <= lens.suppressed[1][1]
    )


def test_logit_lens_layernorm_drops_bias():
    g2 = tiny_hooked("gpt2")
    with torch.no_grad():
        g2.adapter.final_norm().bias.fill_(3.0)
    v = torch.randn(g2.d_model)
    ln = g2.adapter.final_norm()
    expected = g2.model.get_output_embeddings().weight.detach() @ (
        ln.weight.detach() * (v - v.mean()) / (v.var(unbiased=False) + ln.eps).sqrt()
    )
    torch.testing.assert_close(logit_scores(g2, v), expected, atol=1e-4, rtol=1e-4)


def test_axis_projection(hm):
    a, b = torch.zeros(4), torch.tensor([2.0, 0, 0, 0])
    x = torch.tensor([[0.0, 1, 1, 1], [2.0, 5, 0, 0], [1.0, 0, 0, 0]])
    assert axis_coordinates(x, a, b).tolist() == [0.0, 1.0, 0.5]
    assert axis_coordinates(x, None, b).tolist() == [0.0, 2.0, 1.0]
    items = ["the king", "the queen", "Paris", "happy"]
    sites = [resid_post(1)]
    cap = hm.capture(items, sites)
    ca = Concept("a", {sites[0]: cap.acts[sites[0]][0]}, hm.ref)
    cb = Concept("b", {sites[0]: cap.acts[sites[0]][1]}, hm.ref)
    proj = run(project_items_job(hm, items, (ca, cb), (None, cb)))
    assert proj.x[0] == pytest.approx(0.0, abs=1e-5) and proj.x[1] == pytest.approx(1.0, abs=1e-5)
    assert proj.site == sites[0] and proj.x_label == "a → b" and len(proj.y) == 4
    norms = run(typical_norms_job(hm, items, sites))
    assert norms[sites[0]] == pytest.approx(float(cap.acts[sites[0]].norm(dim=-1).mean()), rel=1e-5)
