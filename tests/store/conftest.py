"""Fixtures of the store tests: a fresh project, a private config folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.store import Project


@pytest.fixture(autouse=True)
def _private_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    return tmp_path / "study.wbproj"


@pytest.fixture
def project(project_path: Path) -> Iterator[Project]:
    p = Project.create(project_path)
    yield p
    p.close()
