"""Helpers of the store tests: tiny concepts and exact comparisons against references.

(Not in conftest.py: several test folders have one, and ``from conftest import`` would find
whichever was imported first.)
"""

from __future__ import annotations

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


def check_reference(project: Project, ref: dict) -> None:
    """``project`` holds exactly the records of ``ref`` (see make_fixture.reference_records)."""
    records = project.model_records()
    assert [r.ref for r in records] == [m["ref"] for m in ref["models"]]
    for rec, m in zip(records, ref["models"], strict=True):
        assert (rec.path, rec.format, rec.config) == (m["path"], m["format"], m["config"])
    got_sets = project.prompt_sets()
    assert [
        {"name": s.name, "kind": s.kind, "items": list(s.items), "source": s.source, "meta": s.meta}
        for s in got_sets
    ] == ref["prompt_sets"]
    loaded = project.concepts()
    assert len(loaded) == len(ref["concepts"])
    for want, got in zip(ref["concepts"], loaded, strict=True):
        assert_same_concept(want, got)
        assert_same_concept(want, project.load_concept(want.name))
        assert_same_concept(want, project.load_concept(want.id))
    assert project.canvases() == ref["canvases"]
    runs = project.runs()
    assert len(runs) == len(ref["runs"])
    for want, listed in zip(ref["runs"], runs, strict=True):
        run = project.load_run(listed.id)
        assert (run.analysis, run.name, run.settings, run.result) == (
            want["analysis"],
            want["name"],
            want["settings"],
            want["result"],
        )
        assert list(listed.tensors) == list(want["tensors"])
        for key, tensor in want["tensors"].items():
            assert_same_tensor(tensor, run.tensors[key])
    gens = project.generations()
    assert [{k: getattr(g, k) for k in ref["generations"][0]} for g in gens] == ref["generations"]
    figures = project.figures()
    assert [(f.name, f.spec, list(f.formats)) for f in figures] == [
        (f["name"], f["spec"], list(f["files"])) for f in ref["figures"]
    ]
    for fig, want in zip(figures, ref["figures"], strict=True):
        for fmt, data in want["files"].items():
            assert project.figure_file(fig.id, fmt) == data
    assert [{"title": n.title, "text": n.text} for n in project.notes()] == ref["notes"]
    for key, value in ref["settings"].items():
        assert project.get_setting(key) == value
