"""Successor-head analysis: OV table, mod-10 features on held-out numbers, vector arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny import tiny_hooked

from workbench.errors import UnsupportedModelError, WorkbenchError
from workbench.heads._model import effective_embeddings
from workbench.heads.ov_scores import ov_logits
from workbench.heads.successor import (
    head_inputs,
    head_ov_logits,
    mod10_probe,
    number_tokens,
    number_words,
    ov_table,
    successor_analysis_job,
)
from workbench.jobs import run


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


def test_number_words():
    assert number_words(7) == ("seven", "seventh")
    assert number_words(40) == ("forty", "fortieth")
    assert number_words(23) == ("twenty-three", "twenty-third")


def test_head_ov_logits_is_the_ov_score_map(hm):
    ids = torch.tensor([40, 41, 42])
    cand = torch.arange(20)
    all_heads = ov_logits(hm, ids, cand)  # [n, L, H, c]
    e = effective_embeddings(hm, ids)
    one = head_ov_logits(hm, e, 1, 2, cand)
    torch.testing.assert_close(one, all_heads[:, 1, 2], rtol=1e-5, atol=1e-5)


def test_number_tokens_of_the_tiny_vocabulary(hm):
    nums = number_tokens(hm.tokenizer, 20)
    got = {(t.value, t.text.strip()) for t in nums}
    assert (7, "7") in got and (7, "seven") in got and (10, "ten") in got
    assert len({t.token_id for t in nums}) == len(nums)


def _planted(digit_signal: float, n_values=40, forms=3, d=24, seed=0):
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(10, d))
    vals = np.repeat(np.arange(n_values), forms)
    x = rng.normal(size=(len(vals), d)) + digit_signal * dirs[vals % 10]
    return x, vals


def test_mod10_probe_finds_planted_digit_directions_on_held_out_numbers():
    x, vals = _planted(3.0)
    p = mod10_probe(x, vals)
    assert p.accuracy["diff_of_means"] > 0.9 and p.accuracy["linear"] > 0.9
    assert p.n_numbers == 40 and p.chance == pytest.approx(0.1)
    x0, _ = _planted(0.0)
    assert mod10_probe(x0, vals).accuracy["diff_of_means"] < 0.3


def test_mod10_probe_holds_numbers_out():
    """Embeddings that identify each number but share nothing across a last digit: a probe
    tested on numbers it saw would be perfect; on held-out numbers it is at chance or below."""
    rng = np.random.default_rng(1)
    vals = np.repeat(np.arange(30), 3)
    ident = rng.normal(size=(30, 64)) * 5
    x = ident[vals] + 0.1 * rng.normal(size=(len(vals), 64))
    p = mod10_probe(x, vals)
    assert p.accuracy["diff_of_means"] < 0.3 and p.accuracy["linear"] < 0.3


def test_analysis_on_the_tiny_model_and_arithmetic_by_hand(hm):
    r = run(successor_analysis_job(hm, 1, 2, max_number=20, k=3))
    assert r.label == "L1H2" and r.table and len(r.table[0].top_tokens) == 3
    assert 0 <= r.arithmetic.success_rate <= 1 and r.arithmetic.n_edits > 0
    d = r.to_dict()
    assert d["probe"]["n_tokens"] > 0 and d["label"] == "L1H2"
    # by hand: the "0" -> "7" edit, e(0) - f_0 + f_7 through L1H2 with the features built
    # leaving the number 0 out (in the tiny vocabulary only 0 and 10 share a last digit, so
    # only the number 0 can be edited: its own digit's feature comes from 10)
    nums = number_tokens(hm.tokenizer, 20)
    vals = np.array([t.value for t in nums])
    e = effective_embeddings(hm, torch.tensor([t.token_id for t in nums])).float()
    out = torch.tensor(vals != 0)
    mu = e[out].mean(0)
    f = {dg: e[out & torch.tensor(vals % 10 == dg)].mean(0) - mu for dg in (0, 7)}
    (k,) = [k for k, t in enumerate(nums) if t.value == 0]
    logits = head_ov_logits(
        hm, (e[k] - f[0] + f[7])[None], 1, 2, torch.tensor([n.token_id for n in nums])
    )
    top = int(vals[int(logits.argmax())])
    assert r.arithmetic.by_digits[0][7] == (1.0 if top == 8 else 0.0)
    assert r.arithmetic.n_edits == 9  # 0 -> 1..9; no other number has its digit twice
    spec = r.figure_spec()
    assert spec["kind"] == "heatmap" and len(spec["values"]) == len(spec["rows"])


def test_best_head_and_bad_arguments(hm):
    r = run(successor_analysis_job(hm, max_number=20))
    assert r.score is not None
    with pytest.raises(WorkbenchError, match="both"):
        run(successor_analysis_job(hm, 1, None))
    with pytest.raises(WorkbenchError, match="layers 0-2"):
        run(successor_analysis_job(hm, 7, 0))
    with pytest.raises(WorkbenchError, match="methods"):
        run(successor_analysis_job(hm, 1, 0, methods=["svm"]))


@pytest.mark.slow
def test_cli_successor_json_project_and_figure(tmp_path, capsys, tiny_llama_dir):
    import json

    from workbench.cli import main
    from workbench.store import Project

    proj, fig = tmp_path / "s.wbproj", tmp_path / "ov.svg"
    argv = ["heads", "successor", "--model", str(tiny_llama_dir), "--head", "L1H2",
            "--max-number", "20", "--project", str(proj), "--figure", str(fig), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["label"] == "L1H2" and fig.read_text().startswith("<?xml")
    with Project.open(proj, read_only=True) as p:
        assert [r.analysis for r in p.runs()] == ["successor"] and len(p.figures()) == 1
    assert main(["heads", "successor", "--model", str(tiny_llama_dir), "--head", "L9H0"]) == 1
    assert "layer" in capsys.readouterr().err
    assert main(["heads", "successor", "--forms", "roman"]) == 1
    assert "--forms" in capsys.readouterr().err


def test_mod10_diff_of_means_is_nearest_centroid():
    # digits on a line (x = digit): a bare (x - mean)·f_d picks 0 or 9 for every number; the
    # nearest class mean picks the right digit
    rng = np.random.default_rng(0)
    vals = np.repeat(np.arange(40), 2)
    x = 0.05 * rng.normal(size=(len(vals), 6))
    x[:, 0] += vals % 10
    assert mod10_probe(x, vals, ["diff_of_means"]).accuracy["diff_of_means"] > 0.95


def test_ov_table_successor_skips_a_dropped_item_instead_of_relabelling(hm):
    rows, _ = ov_table(hm, 1, 2, [["one", "two", "notaword", "four", "five", "six"]], k=2)
    by = {r.token: r for r in rows}
    assert "notaword" not in by
    assert by["two"].successor is None and by["two"].correct is None  # "three"-slot dropped
    assert by["one"].successor == "two" and by["four"].successor == "five"
    assert by["six"].successor is None


def test_layer_zero_heads_read_the_plain_embedding(hm):
    ids = torch.tensor([40, 41, 42])
    plain = hm.adapter.embed()(ids.to(hm.device)).float()
    torch.testing.assert_close(head_inputs(hm, ids, 0).float(), plain)
    torch.testing.assert_close(head_inputs(hm, ids, 1), effective_embeddings(hm, ids))
    assert not torch.allclose(
        head_inputs(hm, ids, 0).float(), effective_embeddings(hm, ids).float()
    )
    r = run(successor_analysis_job(hm, 0, 1, max_number=20, k=3))
    assert r.settings["effective_embedding"].startswith("E (layer 0")


def test_gemma2_post_attention_norm_is_refused():
    g = tiny_hooked("gemma2")
    with pytest.raises(UnsupportedModelError, match="normalises the attention output"):
        run(successor_analysis_job(g, 1, 0, max_number=20))
    with pytest.raises(UnsupportedModelError, match="normalises"):
        head_ov_logits(g, effective_embeddings(g, torch.tensor([40])), 1, 0, None)
