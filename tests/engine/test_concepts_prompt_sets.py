"""Prompt sets: loaders, clear errors, built-in sets."""

from __future__ import annotations

import json

import pytest

from workbench.concepts.prompt_sets import (
    PromptSet,
    builtin_set,
    builtin_sets,
    load_prompt_set,
    resolve_prompt_set,
    resources_dir,
)
from workbench.errors import PromptSetError


def test_builtin_sets_are_there_and_big_enough():
    sets = builtin_sets()
    assert (resources_dir() / "prompt_sets").is_dir()
    for name in ("sentiment", "formality", "english_french", "honesty", "love_hate"):
        assert sets[name].kind == "contrastive" and len(sets[name]) >= 24, name
    assert len(sets["antonyms"]) >= 60
    assert len(sets["country_capital"]) >= 40
    assert len(sets["english_to_french"]) >= 40
    assert len(sets["present_past"]) >= 40
    ordinal = sets["ordinal"].sequences
    assert ordinal[0][:3] == ["one", "two", "three"] and len(ordinal[1]) == 20
    assert ordinal[2][0] == "Monday" and len(ordinal[3]) == 12 and ordinal[4][-1] == "Z"
    for s in sets.values():
        assert s.source == f"builtin:{s.name}"
        assert len(set(map(tuple, [[t] for t in s.all_texts()]))) > 0
    assert sets["sentiment"].poles == ("positive", "negative")


def test_round_trip_json(tmp_path):
    for s in builtin_sets().values():
        p = tmp_path / f"{s.name}.json"
        s.save(p)
        again = load_prompt_set(p)
        assert again.to_dict() == s.to_dict()


def test_csv_kinds_are_guessed(tmp_path):
    p = tmp_path / "pairs.csv"
    p.write_text("positive,negative\nI love it,I hate it\nso good,so bad\n")
    ps = load_prompt_set(p)
    assert (
        ps.kind == "contrastive" and ps.positive == ["I love it", "so good"] and ps.name == "pairs"
    )
    t = tmp_path / "lab.tsv"
    t.write_text("Text\tLabel\nhello\ta\nbye\tb\n")
    ps = load_prompt_set(t)
    assert ps.kind == "labelled" and ps.labels == ["a", "b"]
    d = tmp_path / "demo.jsonl"
    d.write_text('{"input": "hot", "output": "cold"}\n{"input": "big", "output": "small"}\n')
    ps = load_prompt_set(d)
    assert ps.kind == "demonstrations" and ps.demo_text([0], query="big") == "hot -> cold\nbig ->"


def test_plain_and_ordinal_text(tmp_path):
    p = tmp_path / "p.txt"
    p.write_text("first prompt\n\nsecond prompt\n")
    assert load_prompt_set(p).texts == ["first prompt", "second prompt"]
    o = tmp_path / "o.txt"
    o.write_text("one, two, three\nMonday,Tuesday\n")
    assert load_prompt_set(o, kind="ordinal").sequences == [
        ["one", "two", "three"],
        ["Monday", "Tuesday"],
    ]
    j = tmp_path / "l.json"
    j.write_text(json.dumps(["a", "b"]))
    assert load_prompt_set(j).kind == "plain"


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.txt", "", "is empty"),
        ("blank.csv", "positive,negative\n", "no rows"),
        ("cols.csv", "good,bad\nx,y\n", "found columns"),
        ("missing.csv", "positive,other\nx,y\n", "found columns"),
        ("hole.csv", "positive,negative\nx,\n", "row 1 has an empty 'negative'"),
        ("bad.json", "{not json", "not valid JSON"),
        ("kind.json", '{"kind": "weird", "pairs": []}', "unknown kind|'kind' is"),
        ("nopairs.json", '{"kind": "contrastive"}', "needs a 'pairs' list"),
        ("emptypairs.json", '{"kind": "contrastive", "pairs": []}', "is empty"),
        ("short.json", '{"kind": "contrastive", "pairs": [["only one"]]}', "malformed"),
    ],
)
def test_loader_errors_are_clear(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(PromptSetError, match=match):
        load_prompt_set(p)


def test_forced_kind_needs_columns(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("text\nhello\n")
    with pytest.raises(
        PromptSetError, match="needs columns positive, negative; missing positive, negative"
    ):
        load_prompt_set(p, kind="contrastive")


def test_validation_and_views():
    with pytest.raises(PromptSetError, match="one negative for each positive"):
        PromptSet("x", "contrastive", positive=["a", "b"], negative=["c"])
    with pytest.raises(PromptSetError, match="item 2 is empty"):
        PromptSet("x", "plain", texts=["a", " "])
    with pytest.raises(PromptSetError, match="no such file"):
        load_prompt_set("/nonexistent/prompts.csv")
    with pytest.raises(PromptSetError, match="no built-in prompt set 'nope'"):
        builtin_set("nope")
    ps = PromptSet(
        "s", "contrastive", positive=list("abcd"), negative=list("efgh"), poles=("up", "down")
    )
    texts, labels = ps.labelled()
    assert texts == list("abcdefgh") and labels == ["up"] * 4 + ["down"] * 4
    train, test = ps.split(0.25, seed=1)
    assert len(train) == 3 and len(test) == 1
    assert sorted(train.positive + test.positive) == list("abcd")
    # pairs stay together
    for p, n in zip(test.positive, test.negative, strict=True):
        assert "abcd".index(p) == "efgh".index(n)
    assert resolve_prompt_set("sentiment").name == "sentiment"
    with pytest.raises(PromptSetError, match="probe needs"):
        PromptSet("p", "plain", texts=["a"]).labelled()
