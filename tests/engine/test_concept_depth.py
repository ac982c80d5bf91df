"""Concept depth under perturbation: identities (noise 0, 16-bit weights) and a hand-checked
quantizer."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_hooked

from workbench.concepts.depth import (
    DepthSpec,
    TokenReplace,
    concept_depth_job,
    embedding_rms,
    quantize_weight,
    quantized_copy,
)
from workbench.concepts.prompt_sets import PromptSet
from workbench.errors import WorkbenchError
from workbench.jobs import run


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


def _set():
    pos = [f"I feel very {w} today" for w in ("good", "happy", "great", "nice", "fine", "ok")] * 2
    neg = [f"I feel very {w} today" for w in ("bad", "sad", "terrible", "awful", "cold", "no")] * 2
    pos = [p + (" ." if i % 2 else " !") for i, p in enumerate(pos)]
    neg = [p + (" ." if i % 2 else " !") for i, p in enumerate(neg)]
    return PromptSet(
        name="tiny_sentiment", kind="contrastive", positive=pos, negative=neg, poles=("pos", "neg")
    )


def test_quantize_weight_by_hand():
    w = torch.tensor([[0.5, -0.25, 0.1], [2.0, 1.0, -0.3]])
    q = quantize_weight(w, 3)  # qmax 3: row scales 0.5/3 and 2/3
    s0, s1 = 0.5 / 3, 2.0 / 3
    want = torch.tensor(
        [[3 * s0, -2 * s0, 1 * s0], [3 * s1, 2 * s1, 0 * s1]]
    )  # 1.5 -> 2 (half to even)
    torch.testing.assert_close(q, want)
    assert torch.equal(quantize_weight(torch.zeros(2, 2), 4), torch.zeros(2, 2))


def test_quantized_copy_leaves_the_model_alone(hm):
    before = {k: v.clone() for k, v in hm.model.state_dict().items()}
    q = quantized_copy(hm, 2)
    for k, v in hm.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    changed = [k for k, v in q.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any("q_proj" in k for k in changed)
    assert not any("embed_tokens" in k or "lm_head" in k for k in changed)


def test_quantized_copy_quantizes_gpt2_conv1d_per_output_channel():
    g = tiny_hooked("gpt2")
    q = quantized_copy(g, 2)
    before = g.model.state_dict()
    changed = [k for k, v in q.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any("c_attn.weight" in k for k in changed) and any("c_fc.weight" in k for k in changed)
    w = before["transformer.h.0.mlp.c_fc.weight"]  # Conv1D: [in, out]
    got = q.model.state_dict()["transformer.h.0.mlp.c_fc.weight"]
    torch.testing.assert_close(got, quantize_weight(w.T, 2).T)
    assert got.unique().numel() > 3  # per column scales, not one scale
    for col in range(3):  # 2 bits: every output channel takes values in {-s, 0, s}
        assert got[:, col].unique().numel() <= 3


def test_embedding_noise_is_on_the_scale_of_gemmas_scaled_embedding():
    # Gemma's embedding module multiplies its lookup by sqrt(d_model): a replacement token and
    # the noise scale must come from the module's output, not the raw table
    g = tiny_hooked("gemma")
    emb = g.adapter.embed()
    scale = g.d_model**0.5
    w = emb.weight.detach()
    torch.testing.assert_close(emb(torch.tensor([5])), w[5:6] * scale)
    torch.testing.assert_close(
        embedding_rms(emb), float(w.pow(2).mean().sqrt()) * scale, rtol=1e-5, atol=0
    )
    iv = TokenReplace(
        "hook_embed",
        fraction=1.0,
        embed=emb,
        pool=torch.tensor([7]),
        generator=torch.Generator().manual_seed(0),
    )
    got = g.capture(["I feel very happy"], ["hook_embed"], interventions=[iv])["hook_embed"]
    torch.testing.assert_close(got[0], w[7] * scale)


@pytest.mark.slow
def test_noise_zero_and_sixteen_bits_leave_the_curve_unchanged(hm):
    ps = _set()
    spec = DepthSpec(
        token_noise=(0.0, 0.5), embed_noise=(0.0, 2.0), bits=(16, 2), folds=3, layers=(0, 2)
    )
    r = run(concept_depth_job(hm, ps, spec))
    assert r.labels == ["plain", "tokens replaced 0", "tokens replaced 0.5", "embedding noise 0",
                        "embedding noise 2", "16-bit weights", "2-bit weights"]  # fmt: skip
    plain = r.curves[0]
    assert r.curves[1].points == plain.points and r.curves[1].std == plain.std  # noise 0
    assert r.curves[3].points == plain.points and r.curves[3].std == plain.std
    assert r.curves[5].points == plain.points  # 16-bit weights: the same accuracies
    # the 16-bit copy's activations differ from the plain model's by rounding only
    site = "blocks.2.hook_resid_post"
    q = quantized_copy(hm, 16)
    a = hm.capture(ps.positive[:4], [site])[site]
    b = q.capture(ps.positive[:4], [site])[site]
    assert (a - b).abs().max() <= 1e-3 * a.abs().max()
    fig = r.figure_spec()
    assert set(fig["errors"]) == set(fig["series"]) and len(fig["series"]) == 7


def test_noise_is_reproducible_and_changes_the_activations(hm):
    ps = _set()
    spec = DepthSpec(token_noise=(0.5,), folds=3, layers=(1,))
    a = run(concept_depth_job(hm, ps, spec))
    b = run(concept_depth_job(hm, ps, spec))
    assert a.curves[1].points == b.curves[1].points


def test_bad_levels_are_refused():
    with pytest.raises(WorkbenchError, match="fractions"):
        DepthSpec(token_noise=(1.5,))
    with pytest.raises(WorkbenchError, match="standard deviations"):
        DepthSpec(embed_noise=(-1,))
    with pytest.raises(WorkbenchError, match="bits"):
        DepthSpec(bits=(1,))


@pytest.mark.slow
def test_cli_probe_under_perturbation(tmp_path, capsys, tiny_llama_dir):
    import json

    from workbench.cli import main
    from workbench.store import Project

    ps = _set()
    (tmp_path / "pos.txt").write_text("\n".join(ps.positive))
    (tmp_path / "neg.txt").write_text("\n".join(ps.negative))
    proj, fig = tmp_path / "d.wbproj", tmp_path / "depth.pdf"
    argv = ["concepts", "probe", "--model", str(tiny_llama_dir), "--positive", str(tmp_path / "pos.txt"),
            "--negative", str(tmp_path / "neg.txt"), "--layers", "1,2", "--folds", "3",
            "--token-noise", "0.3", "--bits", "4", "--figure", str(fig), "--project", str(proj), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["label"] for c in out["conditions"]] == [
        "plain",
        "tokens replaced 0.3",
        "4-bit weights",
    ]
    assert fig.read_bytes().startswith(b"%PDF")
    with Project.open(proj, read_only=True) as p:
        assert [r.analysis for r in p.runs()] == ["concept_depth"]
    assert main(argv[:-1] + ["--bits", "4.5"]) == 1
    assert "whole numbers" in capsys.readouterr().err
    assert main(argv[:-5] + ["--token-noise", "2"]) == 1
    assert "fractions" in capsys.readouterr().err
