"""The score kinds are spelled once: every view of them comes from the registry."""

from __future__ import annotations

from workbench.heads import kinds
from workbench.heads.result import KIND_DOC
from workbench.heads.score import ScoreSpec


def test_every_view_is_the_registry() -> None:
    reg = kinds.KINDS
    assert set(kinds.KIND_TITLES) == set(kinds.SCORE_TIPS) == set(KIND_DOC) == set(reg)
    assert tuple(n for n, k in reg.items() if k.scored) == kinds.SCORE_KINDS
    assert set(kinds.FIELDS) == set(kinds.SCORE_KINDS)
    assert {n for n, k in reg.items() if k.signed} == kinds.SIGNED
    assert set(kinds.TASK_KINDS) <= kinds.SIGNED  # task scores are differences: signed
    for name in kinds.SCORE_KINDS:  # every scored kind makes a spec that reads its fields
        assert set(reg[name].fields) <= set(ScoreSpec.__dataclass_fields__)
        assert ScoreSpec(kind=name).description == reg[name].description
