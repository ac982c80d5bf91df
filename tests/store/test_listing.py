"""Paged, filtered and sorted listings: each page equals the same slice of the whole listing,
filtered in Python as a reference."""

from __future__ import annotations

import pytest
from store_helpers import make_concept

from workbench.store import Project


def _gen(k: int) -> dict:
    return {
        "prompt": f"prompt {k}",
        "baseline": f"base {k}",
        "steered": "100% sure_" if k % 10 == 3 else f"steered {k}",
        "provenance": {
            "concept": {"name": f"Concept {k % 4}"},
            "sites": [f"blocks.{k % 3}.hook_resid_post"],
            "coefficient": float(k % 5),
            "seed": 1000 - k,
        },
    }


@pytest.fixture
def gens(project: Project) -> Project:
    assert project.add_generations([_gen(k) for k in range(1, 101)]) == 100
    project.add_generation(medium="image", prompt="a castle", provenance={"expression": "castle"})
    return project


def test_generation_pages_are_slices_of_the_whole(gens: Project) -> None:
    everything = gens.generations(images=False)
    assert [g.id for g in everything] == list(range(1, 102))
    newest = gens.generations(images=False, descending=True)
    for offset, limit in ((0, 10), (10, 10), (95, 10), (101, 5), (200, 5)):
        page = gens.generations(images=False, offset=offset, limit=limit, descending=True)
        assert page == newest[offset : offset + limit]
    assert gens.count_generations() == 101
    # the next page by the index: below the last id shown, as the window scrolls
    after = gens.generations(images=False, limit=10, descending=True, below_id=newest[9].id)
    assert after == newest[10:20]
    assert gens.count_generations("image") == 1
    assert gens.generations(images=False, medium="image", limit=5)[0].prompt == "a castle"
    assert gens.generation(7).prompt == "prompt 7"


def test_generation_search_matches_texts_and_concept_case_insensitively(gens: Project) -> None:
    everything = gens.generations(images=False)

    def reference(text: str) -> list[int]:
        t = text.lower()
        return [
            g.id
            for g in everything
            if any(
                t in (v or "").lower()
                for v in (
                    g.prompt,
                    g.baseline,
                    g.steered,
                    (g.provenance.get("concept") or {}).get("name"),
                    g.provenance.get("expression"),
                )
            )
        ]

    for text in ("prompt 1", "CONCEPT 2", "castle", "100%", "sure_", "%", "_", "nothing here"):
        found = [g.id for g in gens.generations(images=False, search=text)]
        assert found == reference(text), text
        assert gens.count_generations(search=text) == len(found)
    # a LIKE wildcard typed in the box is a literal character
    assert gens.count_generations(search="100%") == 10
    assert gens.count_generations(search="e_d") == 0


def test_generation_sorts(gens: Project) -> None:
    rows = gens.generations(images=False, medium="text", sort="coefficient")
    keys = [(g.provenance["coefficient"], g.id) for g in rows]
    assert keys == sorted(keys)
    rows = gens.generations(images=False, medium="text", sort="seed", descending=True, limit=3)
    assert [g.provenance["seed"] for g in rows] == [999, 998, 997]
    rows = gens.generations(images=False, sort="concept", descending=True, limit=2)
    assert rows[0].provenance["expression"] == "castle"  # image: its expression
    with pytest.raises(ValueError, match="cannot sort generations by 'colour'"):
        gens.generations(sort="colour")
    with pytest.raises(ValueError, match="offset >= 0"):
        gens.generations(offset=-1, limit=3)


def test_concept_listings_page_search_and_sort(project: Project) -> None:
    names = ["happy", "sad", "Formal", "casual", "happier"]
    project.add_concepts([make_concept(n, seed=i) for i, n in enumerate(names)])
    full = project.concept_infos()
    assert [i.name for i in full] == names
    assert project.concept_infos(offset=1, limit=2) == full[1:3]
    assert [i.name for i in project.concept_infos(search="HAPP")] == ["happy", "happier"]
    assert project.concept_infos(names=["sad"]) == [full[1]]
    assert project.count_concepts() == 5 and project.count_concepts(search="happ") == 2
    rows = project.concept_rows(sort="name", limit=3)
    assert [r.name for r in rows] == ["Formal", "casual", "happier"]  # SQLite's binary order
    newest = project.concept_rows(descending=True)
    assert [r.name for r in newest] == names[::-1]
    assert newest[0].n_sites == 2 and newest[0].method == "diff_of_means"
    assert newest[0].model_ref == full[-1].model_ref
    light = project.concept_rows(summary=False, limit=1)[0]
    assert (light.n_sites, light.method, light.name) == (None, None, "happy")
    # the description and method are searched too
    assert project.count_concepts(search="test concept sad") == 1
    assert project.count_concepts(search="diff_of") == 5


def test_run_listings_page_search_and_sort(project: Project) -> None:
    import torch

    for i in range(12):
        kind = "sweep" if i % 3 == 0 else "head_scores"
        tensors = {"scores": torch.zeros(2, 2)} if i == 4 else None
        project.add_run(kind, f"{kind} {i}", {"i": i}, {"r": i}, tensors)
    full = project.runs()
    assert [r.id for r in full] == list(range(1, 13))
    assert project.runs(offset=3, limit=4) == full[3:7]
    assert [r.name for r in project.runs("sweep", descending=True, limit=2)] == [
        "sweep 9",
        "sweep 6",
    ]
    assert project.count_runs() == 12 and project.count_runs("sweep") == 4
    assert project.count_runs(search="HEAD_SCORES 1") == 3  # 1, 10, 11
    assert project.runs(offset=4, limit=1)[0].tensors == ("scores",)
    assert [r.name for r in project.runs(sort="name", limit=2)] == [
        "head_scores 1",
        "head_scores 10",
    ]


def test_add_generations_is_all_or_nothing(project: Project) -> None:
    with pytest.raises(TypeError, match="generation 1 needs"):
        project.add_generations([_gen(1), {"prompt": "no provenance"}])
    assert project.count_generations() == 0
    assert project.add_generations([]) == 0
