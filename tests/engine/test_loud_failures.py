"""Failures are loud (issue 17 item 4): no silent fallback to other data, no CLI group that
vanishes because its module failed to import."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from workbench.errors import PromptSetError


def test_missing_builtin_ordinal_set_raises_instead_of_falling_back(monkeypatch):
    import workbench.concepts.prompt_sets as prompt_sets
    from workbench.heads import data

    monkeypatch.setattr(prompt_sets, "builtin_sets", lambda: {})
    for fn in (data.ordinal_sequences, data.antonym_pairs, data.successor_task):
        with pytest.raises(PromptSetError, match="no built-in prompt set"):
            fn()


def test_builtin_sets_are_what_head_scores_read():
    from workbench.concepts.prompt_sets import builtin_set
    from workbench.heads import data

    assert data.ordinal_sequences() == [list(s) for s in builtin_set("ordinal").sequences]
    ps = builtin_set("antonyms")
    assert data.antonym_pairs() == list(zip(ps.inputs, ps.outputs, strict=True))


def _broken_group(monkeypatch, name: str, exc: BaseException) -> None:
    """Make ``workbench.cli.<name>`` raise ``exc`` when imported."""
    import workbench.cli as cli

    real = importlib.import_module

    def fake(mod: str, *a, **k):
        if mod == f"workbench.cli.{name}":
            raise exc
        return real(mod, *a, **k)

    monkeypatch.setattr(cli.importlib, "import_module", fake)


def test_cli_group_that_fails_to_import_is_an_internal_error(monkeypatch, capsys):
    import workbench.cli as cli

    _broken_group(monkeypatch, "heads", ImportError("cannot import name 'x' from 'workbench.y'"))
    assert cli.main(["heads", "--help"]) == 3  # a bug: logged, not hidden
    err = capsys.readouterr().err
    assert "internal error" in err and "cannot import name 'x'" in err


def test_cli_group_missing_an_optional_package_says_what_to_install(monkeypatch, capsys):
    import workbench.cli as cli

    monkeypatch.setitem(
        cli.OPTIONAL_PACKAGES, "fancylib", "the fancylib package (pip install fancylib)"
    )
    missing = ModuleNotFoundError("No module named 'fancylib'", name="fancylib")
    _broken_group(monkeypatch, "heads", missing)
    assert cli.main(["--help"]) == 0
    assert "unavailable: it needs the fancylib package" in " ".join(capsys.readouterr().out.split())
    assert cli.main(["heads"]) == 1
    assert "pip install fancylib" in capsys.readouterr().err
    # a different missing module is not an optional package: raised, not hidden
    _broken_group(monkeypatch, "heads", ModuleNotFoundError("No module named 'zz'", name="zz"))
    assert cli.main(["heads", "--help"]) == 3


def test_every_cli_group_imports():
    import workbench.cli as cli

    for name in cli.GROUPS:
        assert isinstance(importlib.import_module(f"workbench.cli.{name}"), types.ModuleType)
    assert "workbench.cli" in sys.modules
