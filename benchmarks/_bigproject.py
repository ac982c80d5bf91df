"""A research-size project for the window benchmarks, built once and kept in a cache folder.

100,000 generations, 10,000 concepts (each with float32 vectors at 30 sites of width 576, the
SmolLM2-135M residual width) and 1,000 runs: about 0.7 GiB. It is built with bulk inserts
(``Project.add_concepts`` and ``Project.add_generations`` in large batches, one transaction
each) and kept at ``<cache>/research-<VERSION>.wbproj``; a later run reuses it. The cache
folder is ``$WORKBENCH_BENCH_CACHE`` or ``<temp>/concept-workbench-bench``. Change
``VERSION`` when what is built changes, so an old file is not reused.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

VERSION = "v2"
N_GENERATIONS = 100_000
N_CONCEPTS = 10_000
N_SITES = 30
WIDTH = 576
N_RUNS = 1_000
WORDS = [
    "happy",
    "sad",
    "formal",
    "casual",
    "polite",
    "rude",
    "calm",
    "angry",
    "honest",
    "evasive",
    "brief",
    "verbose",
    "warm",
    "cold",
    "curious",
    "bored",
    "bright",
    "dark",
    "simple",
    "ornate",
]


def cache_dir() -> Path:
    env = os.environ.get("WORKBENCH_BENCH_CACHE")
    folder = Path(env) if env else Path(tempfile.gettempdir()) / "concept-workbench-bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def model_ref() -> Any:
    from workbench.concepts.concept import ModelRef

    return ModelRef("SmolLM2-135M-Instruct", "LlamaForCausalLM", WIDTH, N_SITES, "llama")


def concept_name(i: int) -> str:
    return f"{WORDS[i % len(WORDS)]} {i:05d}"


def generation_rows(
    n: int, start: int = 0, *, concepts: int = N_CONCEPTS, sites: int = N_SITES
) -> list[dict[str, Any]]:
    """``n`` text generations shaped like the Preview panel's (prompt, outputs, provenance)."""
    model = model_ref().to_dict()
    rows = []
    for k in range(start, start + n):
        c = k % concepts
        layer = k % sites
        rows.append(
            {
                "medium": "text",
                "prompt": f"Prompt {k}: I think the movie was",
                "baseline": f" fine, I suppose; nothing stood out (generation {k}).",
                "steered": f" {WORDS[c % len(WORDS)]} and memorable, truly (generation {k}).",
                "provenance": {
                    "model": model,
                    "concept": {
                        "id": f"c{c:05d}",
                        "name": concept_name(c),
                        "recipe": {"method": "diff_of_means", "prompt_set": "sentiment"},
                    },
                    "sites": [f"blocks.{layer}.hook_resid_post"],
                    "coefficient": float((k % 17) - 8),
                    "seed": k,
                    "sampling": {"max_new_tokens": 32, "temperature": 0.0, "top_p": 1.0},
                },
            }
        )
    return rows


def _concepts(start: int, n: int, generator: Any) -> list[Any]:
    import torch

    from workbench.concepts.concept import Concept

    ref = model_ref()
    block = torch.randn(n, N_SITES, WIDTH, generator=generator)  # [concept, site, d_model]
    return [
        Concept(
            concept_name(i),
            {f"blocks.{s}.hook_resid_post": block[i - start, s] for s in range(N_SITES)},
            ref,
            {"method": "diff_of_means", "prompt_set": "sentiment", "position": "last"},
            id=f"c{i:05d}",
            created="2026-11-01T00:00:00+00:00",
        )
        for i in range(start, start + n)
    ]


def _sweep(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settings and result of a saved steering sweep (the stored layout every version reads)."""
    layers, coefs = [0, 12, 24], [-4.0, 0.0, 4.0]
    settings = {
        "concept": {"id": f"c{i % N_CONCEPTS:05d}", "name": concept_name(i % N_CONCEPTS)},
        "site_kind": "resid_post",
        "sampling": {"max_new_tokens": 16},
    }
    result = {
        "prompt": "I think the movie was",
        "baseline": " fine.",
        "layers": layers,
        "coefficients": coefs,
        "texts": [[f" text {i} L{L} c{c:g}" for c in coefs] for L in layers],
        "metrics": {"kl": [[abs(c) * 0.1 for c in coefs] for _ in layers]},
    }
    return settings, result


def build(path: Path, *, log: Any = print) -> dict[str, float]:
    """Build the project at ``path`` (which must not exist); returns seconds per part."""
    import torch

    from workbench.store import Project

    times: dict[str, float] = {}
    generator = torch.Generator().manual_seed(0)
    with Project.create(path) as project:
        t0 = time.perf_counter()
        for start in range(0, N_CONCEPTS, 500):
            project.add_concepts(_concepts(start, 500, generator), replace=False)
        times["concepts"] = time.perf_counter() - t0
        log(f"# built {N_CONCEPTS:,} concepts in {times['concepts']:.1f} s")
        t0 = time.perf_counter()
        for start in range(0, N_GENERATIONS, 10_000):
            project.add_generations(generation_rows(10_000, start))
        times["generations"] = time.perf_counter() - t0
        log(f"# built {N_GENERATIONS:,} generations in {times['generations']:.1f} s")
        t0 = time.perf_counter()
        for i in range(N_RUNS):
            if i % 4 == 0:  # a steering sweep as the window stores one (3 layers x 3 coefficients)
                project.add_run("sweep", f"sweep {i}", *_sweep(i))
            else:
                project.add_run(
                    "head_scores",
                    f"head_scores {i}",
                    {"kind": "induction", "n_prompts": 8},
                    {"top": [[18, 6, 0.84], [17, 4, 0.74]]},
                )
        times["runs"] = time.perf_counter() - t0
        log(f"# built {N_RUNS:,} runs in {times['runs']:.1f} s")
    return times


def research_project(*, log: Any = print) -> Path:
    """The cached research-size project, built first if it is not there yet."""
    path = cache_dir() / f"research-{VERSION}.wbproj"
    if path.exists():
        log(f"# reusing {path} ({path.stat().st_size / 2**30:.2f} GiB)")
        return path
    tmp = path.with_name(f"building-{os.getpid()}-{path.name}")
    if tmp.exists():
        tmp.unlink()
    t0 = time.perf_counter()
    build(tmp, log=log)
    os.replace(tmp, path)
    log(
        f"# built {path} in {time.perf_counter() - t0:.1f} s "
        f"({path.stat().st_size / 2**30:.2f} GiB)"
    )
    return path
