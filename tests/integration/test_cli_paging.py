"""``workbench project generations|concepts`` list a page at a time: --offset, --limit,
--search, --sort, --reverse, --json; the page says on stderr where the next one starts."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.cli import main
from workbench.cli.project import CONCEPT_SORTS, GENERATION_SORTS
from workbench.concepts.concept import Concept, ModelRef
from workbench.store import Project
from workbench.store._listing import CONCEPT_SORTS as STORE_CONCEPT_SORTS
from workbench.store._listing import GENERATION_SORTS as STORE_GENERATION_SORTS


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "p.wbproj"
    model = ModelRef("m", d_model=4, model_type="llama")
    with Project.open(path, create=True) as p:
        p.add_generations(
            {
                "prompt": f"prompt {k}",
                "steered": f"out {k}" + (" needle" if k % 10 == 0 else ""),
                "provenance": {"concept": {"name": f"c{k % 3}"}, "coefficient": float(k)},
            }
            for k in range(1, 121)
        )
        p.add_concepts(
            Concept(n, {"blocks.0.hook_resid_post": torch.ones(4)}, model, {"method": "pca"})
            for n in ("happy", "sad", "happier")
        )
    return path


def test_sort_choices_are_the_stores():
    assert set(GENERATION_SORTS) == set(STORE_GENERATION_SORTS)
    assert set(CONCEPT_SORTS) == set(STORE_CONCEPT_SORTS)


def test_generations_page_by_page(project, capsys):
    assert main(["project", "generations", str(project), "--json"]) == 0
    captured = capsys.readouterr()
    page = json.loads(captured.out)
    assert [g["id"] for g in page] == list(range(1, 51))  # oldest first, 50 by default
    assert "generations 1-50 of 120; --offset 50 for the next page" in captured.err
    argv = ["project", "generations", str(project), "--json", "--reverse", "--offset", "115"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert [g["id"] for g in json.loads(captured.out)] == [5, 4, 3, 2, 1]
    assert "generations 116-120 of 120" in captured.err and "next page" not in captured.err
    argv = ["project", "generations", str(project), "--search", "NEEDLE", "--all", "--json"]
    assert main(argv) == 0
    assert [g["id"] for g in json.loads(capsys.readouterr().out)] == list(range(10, 121, 10))
    argv = ["project", "generations", str(project), "--sort", "coefficient", "--reverse"]
    assert main([*argv, "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "120" and "out 120 needle" in lines[0]


def test_concepts_page_and_search(project, capsys):
    argv = ["project", "concepts", str(project), "--search", "happ", "--json"]
    assert main(argv) == 0
    infos = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in infos] == ["happy", "happier"]
    assert infos[0]["sites"] == ["blocks.0.hook_resid_post"]
    assert main(["project", "concepts", str(project), "--sort", "name", "--limit", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split()[:3] == ["happier", "pca", "1"]
    assert "concepts 1-1 of 3; --offset 1 for the next page" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "-1"], "-1 is negative"),
        (["--offset", "ten"], "'ten' is not a whole number"),
        (["--sort", "colour"], "invalid choice: 'colour'"),
    ],
)
def test_bad_paging_arguments_are_refused(project, capsys, args, message):
    assert main(["project", "generations", str(project), *args]) == 2
    assert message in capsys.readouterr().err
