"""Attention patterns with token labels, top attended tokens, figures, and score files."""

from __future__ import annotations

import json

import pytest
import torch
from tiny import tiny_hooked

from workbench.heads.figures import figure_head_map, figure_pattern
from workbench.heads.patterns import attention_patterns, head_pattern, top_attended_tokens_job
from workbench.heads.result import HeadScores
from workbench.heads.score import SCORE_KINDS, ScoreSpec, score_job
from workbench.jobs import run

PROMPT = "the king is a man . the king is"


def test_patterns_match_output_attentions_and_label_tokens():
    hm = tiny_hooked("llama", attn="eager")
    view = attention_patterns(hm, PROMPT)
    with torch.no_grad():
        ref = hm.model(**hm.encode([PROMPT]), output_attentions=True).attentions
    assert view.tokens == PROMPT.split()
    for L in range(hm.n_layers):
        torch.testing.assert_close(view.patterns[L], ref[L][0], atol=1e-6, rtol=0)
    tokens, p = head_pattern(hm, PROMPT, 1, 2)
    torch.testing.assert_close(p, ref[1][0, 2], atol=1e-6, rtol=0)
    d = view.to_dict(1, 2)
    assert d["tokens"] == tokens and len(d["pattern"]) == len(tokens)


def test_top_attended_tokens_of_a_planted_previous_token_head():
    from test_pattern_scores import PlantPattern

    hm = tiny_hooked("llama")
    plant = PlantPattern("blocks.1.attn.hook_pattern", head=0, rule="previous")
    prompts = ["the king is a man", "a king is the man"]
    top = run(top_attended_tokens_job(hm, prompts, 1, 0, k=5, interventions=[plant]))
    # every query q >= 2 looks at q - 1, so each key but the last gets weight 1 per occurrence
    totals = {t: w for t, w, _, _ in top.tokens}
    assert totals["king"] == pytest.approx(2.0) and totals["is"] == pytest.approx(2.0)
    assert "man" not in totals or totals["man"] == pytest.approx(0.0)
    assert ("is", "king", pytest.approx(2.0)) in [(q, k, w) for q, k, w in top.pairs]
    assert top.examples[0]["argmax_key"][2:] == [1, 2, 3]


def test_figures_are_agg_figures_and_export(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s = HeadScores("ablation", torch.randn(6, 4), {}, {"name": "tiny"})
    fig = figure_head_map(s, "ablation map")
    assert isinstance(fig, Figure) and isinstance(fig.canvas, FigureCanvasAgg)
    for ext in ("png", "svg", "pdf"):
        fig.savefig(tmp_path / f"map.{ext}")
        assert (tmp_path / f"map.{ext}").stat().st_size > 1000
    fig2 = figure_pattern(torch.softmax(torch.randn(5, 5), -1), ["a", "b", "c", "d", "\n"], "L1H2")
    fig2.savefig(tmp_path / "pattern.svg")
    assert b"L1H2" in (tmp_path / "pattern.svg").read_bytes()
    figure_head_map(torch.rand(30, 9))  # a bare tensor works too


def test_head_scores_json_csv_roundtrip(tmp_path):
    s = HeadScores(
        "induction", torch.rand(3, 4), {"seq_len": 8}, {"name": "tiny"}, {"n_queries": 3}
    )
    s.save(tmp_path / "s.json")
    back = HeadScores.load(tmp_path / "s.json")
    torch.testing.assert_close(back.scores, s.scores)
    assert back.settings == {"seq_len": 8} and back.extras == {"n_queries": 3}
    s.save(tmp_path / "s.csv")
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "layer,head,score" and len(rows) == 13
    assert float(rows[1 + 4 * 2 + 3].split(",")[2]) == pytest.approx(float(s.scores[2, 3]))
    assert json.loads(s.to_json())["shape"] == [3, 4]


def test_save_to_project(tmp_path):
    pytest.importorskip("workbench.store")
    from workbench.store import Project

    s = HeadScores("induction", torch.rand(3, 4), {"seq_len": 8}, {"name": "tiny"})
    with Project.open(tmp_path / "p.wbproj", create=True) as project:
        run_id = s.save_to_project(project, "induction map")
        runs = project.runs(analysis="head_scores")
    assert runs[0].id == run_id and runs[0].name == "induction map"
    assert runs[0].tensors == ("scores",)


@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_every_kind_runs_from_a_spec(kind):
    from workbench.heads.data import TaskPrompts

    hm = tiny_hooked("llama")
    task = TaskPrompts(
        ["the king is a", "I feel very"],
        [" man", " happy"],
        [" woman", " sad"],
        ["the queen is a", "I feel not"],
    )
    spec = ScoreSpec(kind, n_seqs=2, seq_len=6, n_tokens=20, task=task)
    s = run(score_job(hm, spec))
    assert s.kind == kind and s.scores.shape == (3, 4)
    back = ScoreSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back.kind == kind
    if kind in ("dla", "ablation"):
        assert back.task == task
