"""Make the frozen fixture of the current schema revision: ``fixtures/rev_<HEAD>.wbproj``.

Run it once per new revision, with the code of that revision, and commit the file::

    python tests/store/make_fixture.py

``test_migrations.py`` opens every ``fixtures/rev_*.wbproj`` with the current code and checks
that it upgrades and still holds exactly :func:`reference_records`. So that function must keep
describing what the older fixtures hold: add to it only what a new revision adds, and key it on
the revision (see ``since``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).parent
if str(HERE.parents[1]) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(HERE.parents[1]))

from workbench.concepts.concept import Concept, ModelRef  # noqa: E402

MODEL = ModelRef(
    name="fixture-model",
    architecture="GPT2LMHeadModel",
    d_model=8,
    n_layers=2,
    model_type="gpt2",
    file_hash="0123456789abcdef" * 4,
    source="/nowhere/fixture-model",  # a model that is not on this machine
)


def _ramp(n: int, dtype: torch.dtype, offset: float = 0.0) -> torch.Tensor:
    return (torch.arange(n, dtype=torch.float64) / 8 - 0.5 + offset).to(dtype)


def _since(revision: str, added_in: str, *records: Any) -> list[Any]:
    """``records`` when the fixture of ``revision`` has them (they were added in
    ``added_in``)."""
    return list(records) if revision >= added_in else []


def reference_records(revision: str = "0001") -> dict[str, Any]:
    """What the fixture of ``revision`` holds (hand-written values, nothing random), in the
    current code's vocabulary (revision 0002 renamed a generation's ``kind`` to ``medium``)."""
    concepts = [
        Concept(
            "formal",
            {
                "blocks.0.hook_resid_post": _ramp(8, torch.float32),
                "blocks.1.hook_resid_post": _ramp(8, torch.float32, 1.0),
            },
            MODEL,
            {"method": "diff_of_means", "prompt_set": "formality", "layers": [0, 1], "version": 1},
            id="c0000000000000000000000000000001",
            created="2025-01-02T03:04:05+00:00",
            description="formal minus casual",
        ),
        Concept(
            "half",
            {
                "blocks.1.hook_resid_post": _ramp(8, torch.float16),
                "blocks.1.attn.hook_z": _ramp(8, torch.bfloat16).reshape(2, 4),
            },
            MODEL,
            {"method": "expression", "expression": "formal * 0.5", "version": 1},
            id="c0000000000000000000000000000002",
            created="2025-01-02T03:04:06+00:00",
        ),
    ]
    return {
        "models": [
            {
                "ref": MODEL,
                "path": "/nowhere/fixture-model",
                "format": "hf",
                "config": {"n_layer": 2},
            }
        ],
        "prompt_sets": [
            {
                "name": "formality",
                "kind": "contrastive",
                "items": [{"positive": "Good evening, sir.", "negative": "hey dude"}],
                "source": "typed",
                "meta": {},
            },
            *_since(
                revision,
                "0002",
                {
                    "name": "capitals",
                    "kind": "demonstrations",
                    "items": [
                        {"input": "France", "output": "Paris"},
                        {"input": "Japan", "output": "Tokyo"},
                    ],
                    "source": "typed",
                    "meta": {
                        "poles": ["positive", "negative"],
                        "template": "Q: {input}\nA: {output}",
                        "separator": "\n\n",
                        "description": "country -> capital",
                    },
                },
            ),
        ],
        "concepts": concepts,
        "canvases": {"main": {"nodes": [{"id": "n1", "concept": "formal", "x": 10, "y": 20}]}},
        "runs": [
            {
                "analysis": "head_scores",
                "name": "induction",
                "settings": {"metric": "induction_score", "seq_len": 20},
                "result": {"top": [[1, 0, 0.75]]},
                "tensors": {"scores": _ramp(4, torch.float32).reshape(2, 2)},
            }
        ],
        "generations": [
            {
                "medium": "text",
                "prompt": "Dear",
                "baseline": "Dear diary",
                "steered": "Dear Sir or Madam",
                "provenance": {
                    "model": MODEL.to_dict(),
                    "concept": "c0000000000000000000000000000001",
                    "sites": ["blocks.1.hook_resid_post"],
                    "coefficients": [4.0],
                    "seed": 1234,
                    "sampling": {"temperature": 0.0, "max_new_tokens": 8},
                },
                "image_png": None,
                "baseline_png": None,
            },
            {
                "medium": "image",
                "prompt": "a cat",
                "baseline": None,
                "steered": None,
                "provenance": {"seed": 7, "steps": 2},
                "image_png": b"\x89PNG\r\n\x1a\nsteered",
                "baseline_png": b"\x89PNG\r\n\x1a\nbaseline",
            },
        ],
        "figures": [
            {"name": "heads", "spec": {"kind": "heatmap", "run": 1}, "files": {"svg": b"<svg/>"}}
        ],
        "notes": [{"title": "first", "text": "Layer 1 looks formal."}],
        "settings": {"window.state": b"\x00\x01\x02", "last_model": "fixture-model"},
    }


def write_records(project: Any, ref: dict[str, Any]) -> None:
    """Write ``ref`` (as made by :func:`reference_records`) into an open project."""
    for m in ref["models"]:
        project.add_model(m["ref"], path=m["path"], format=m["format"], config=m["config"])
    for ps in ref["prompt_sets"]:
        project.add_prompt_set(
            ps["name"], ps["kind"], ps["items"], source=ps["source"], meta=ps["meta"]
        )
    for c in ref["concepts"]:
        project.add_concept(c)
    for name, layout in ref["canvases"].items():
        project.save_canvas(name, layout)
    for r in ref["runs"]:
        project.add_run(r["analysis"], r["name"], r["settings"], r["result"], r["tensors"])
    for g in ref["generations"]:
        project.add_generation(**g)
    for f in ref["figures"]:
        project.add_figure(f["name"], f["spec"], f["files"])
    for n in ref["notes"]:
        project.add_note(n["text"], title=n["title"])
    for key, value in ref["settings"].items():
        project.set_setting(key, value)


def main() -> Path:
    from workbench.store import Project, migrate

    target = HERE / "fixtures" / f"rev_{migrate.HEAD}.wbproj"
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        target.unlink()
    with Project.create(target) as project:
        write_records(project, reference_records(migrate.HEAD))
        project.compact()
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")
    return target


if __name__ == "__main__":
    main()
