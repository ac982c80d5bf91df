"""Undoing a delete puts concepts back where they were in the library's order."""

from __future__ import annotations

import pytest
import torch

from workbench.concepts.concept import Concept, ModelRef
from workbench.store import Project
from workbench.store.errors import NameTakenError

SITE = "blocks.0.hook_resid_post"
REF = ModelRef("m", d_model=4)


def _c(name: str) -> Concept:
    return Concept(name, {SITE: torch.randn(4)}, REF)


def test_restored_concepts_go_back_to_their_places(tmp_path):
    with Project.open(tmp_path / "p.wbproj", create=True) as p:
        p.add_concepts([_c(n) for n in "abcd"])
        pos = p.concept_positions(["b", "c"])
        gone = [p.load_concept("b"), p.load_concept("c")]
        assert set(pos) == {c.id for c in gone}
        p.delete_concept("b")
        p.delete_concept("c")
        p.add_concept(_c("e"))  # a new concept after the delete stays after them
        p.restore_concepts(gone, pos)
        assert p.concept_names() == ["a", "b", "c", "d", "e"]
        assert [r.name for r in p.concept_rows()] == ["a", "b", "c", "d", "e"]
        back = p.load_concept("b")
        assert back.id == gone[0].id and torch.equal(back.vectors[SITE], gone[0].vectors[SITE])
    with Project.open(tmp_path / "p.wbproj") as p:  # the order is what is stored
        assert p.concept_names() == ["a", "b", "c", "d", "e"]


def test_a_place_taken_since_goes_to_the_end_and_a_name_taken_is_refused(tmp_path):
    with Project.open(tmp_path / "p.wbproj", create=True) as p:
        p.add_concepts([_c(n) for n in "ab"])
        pos = p.concept_positions(["b"])
        b = p.load_concept("b")
        p.delete_concept("b")
        p.add_concept(_c("x"))  # SQLite gives x the last place, b's old one
        p.restore_concepts([b], pos)
        assert p.concept_names() == ["a", "x", "b"]
        with pytest.raises(NameTakenError):
            p.restore_concepts([b], pos)
