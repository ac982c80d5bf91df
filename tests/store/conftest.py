"""Shared fixtures of the store tests: tiny concepts, a fresh project, a private config folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from workbench.concepts.concept import Concept, ModelRef
from workbench.store import Project

MODEL = ModelRef(
    name="tiny-llama",
    architecture="LlamaForCausalLM",
    d_model=32,
    n_layers=2,
    model_type="llama",
    file_hash="ab" * 32,
    source="/models/tiny-llama",
)


def make_concept(name: str, seed: int = 0, *, dtype: torch.dtype = torch.float32) -> Concept:
    """A two-site concept with reproducible values."""
    gen = torch.Generator().manual_seed(seed)
    vectors = {
        f"blocks.{layer}.hook_resid_post": torch.randn(32, generator=gen).to(dtype)
        for layer in (0, 1)
    }
    recipe = {"method": "diff_of_means", "prompt_set": "sentiment", "layers": [0, 1], "version": 1}
    return Concept(name, vectors, MODEL, recipe, description=f"test concept {name}")


def assert_same_tensor(a: torch.Tensor, b: torch.Tensor) -> None:
    """Bit-exact: same dtype, shape and bytes (NaN payloads and -0.0 included)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    a_bytes = a.contiguous().reshape(-1).view(torch.uint8)
    b_bytes = b.contiguous().reshape(-1).view(torch.uint8)
    assert torch.equal(a_bytes, b_bytes)


def assert_same_concept(a: Concept, b: Concept) -> None:
    assert (a.id, a.name, a.model, a.recipe, a.created, a.description) == (
        b.id,
        b.name,
        b.model,
        b.recipe,
        b.created,
        b.description,
    )
    assert list(a.vectors) == list(b.vectors)  # site order kept
    for site in a.vectors:
        assert_same_tensor(a.vectors[site], b.vectors[site])
    assert a.content_hash() == b.content_hash()


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
