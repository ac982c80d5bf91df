"""Build ``projects/example.wbproj``: a small project on the embedded SmolLM2-135M model.

It holds three contrastive prompt sets (sentiment, formality, calm/angry), a difference-of-means
concept from each at every ``resid_post`` layer, a canvas combining two of them, one saved
baseline/steered generation and an induction head score (the Heads tab shows it). The app's File → Open example project opens a copy of it.

    python projects/make_examples.py [--out projects/example.wbproj]

The first run converts the embedded GGUF model (~40 s); later runs take a few seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS = {"sentiment": "happy", "formality": "formal", "calm_angry": "calm"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(HERE / "example.wbproj"))
    args = ap.parse_args()
    import sys

    sys.path.insert(0, str(HERE.parent))
    from workbench import __version__
    from workbench.concepts.algebra import evaluate
    from workbench.concepts.extraction import ExtractionSpec, extract_job
    from workbench.concepts.prompt_sets import builtin_set
    from workbench.jobs import run_with_progress_bar
    from workbench.models.generation import SamplingSettings, steered_generate
    from workbench.models.interventions import AddVector
    from workbench.models.loading import load_language_model
    from workbench.store import Project

    out = Path(args.out)
    if out.exists():
        out.unlink()
    hm = load_language_model(None)
    sites = [f"blocks.{L}.hook_resid_post" for L in range(hm.n_layers)]
    with Project.open(out, create=True) as project:
        concepts = {}
        for set_name, concept_name in SETS.items():
            ps = builtin_set(set_name)
            project.save_prompt_set(ps)
            spec = ExtractionSpec(
                method="diff_of_means", sites=sites, prompts=ps, name=concept_name
            )
            concept = run_with_progress_bar(
                extract_job(hm, spec), desc=f"extracting {concept_name}"
            )
            project.add_concept(concept)
            concepts[concept_name] = concept
        combo = evaluate("happy + 0.5*formal", concepts, name="happy and formal")
        project.add_concept(combo)
        project.save_canvas(
            "main",
            {
                "version": 1,
                "terms": [
                    {
                        "concept": "happy",
                        "coefficient": 1.0,
                        "group": "",
                        "normalize": False,
                        "project_out": False,
                    },
                    {
                        "concept": "formal",
                        "coefficient": 0.5,
                        "group": "",
                        "normalize": False,
                        "project_out": False,
                    },
                ],
                "group_normalize": {},
                "normalize_result": False,
                "expression": "happy + 0.5*formal",
            },
        )
        site = "blocks.20.hook_resid_post"
        settings = SamplingSettings(max_new_tokens=24)
        prompt = "I think that this movie was"
        cmp = steered_generate(
            hm,
            prompt,
            [AddVector(site, vector=concepts["happy"].vectors[site], coefficient=6.0)],
            settings,
        )
        project.add_generation(
            medium="text",
            prompt=prompt,
            baseline=cmp.baseline,
            steered=cmp.steered,
            provenance={
                "model": hm.ref.to_dict(),
                "concept": {
                    "id": concepts["happy"].id,
                    "name": "happy",
                    "recipe": {"method": "diff_of_means"},
                },
                "sites": [site],
                "coefficient": 6.0,
                "sampling": settings.to_dict(),
                "seed": settings.seed,
                "app_version": __version__,
            },
        )
        print(f"baseline: {cmp.baseline!r}\nsteered:  {cmp.steered!r}")
        from workbench.heads.pattern_scores import induction_score_job

        scores = run_with_progress_bar(induction_score_job(hm), desc="induction scores")
        scores.save_to_project(project, f"Induction · {hm.ref.name}")  # as the Heads tab names it
        top = ", ".join(f"L{L}H{h} {v:.2f}" for L, h, v in scores.top(3))
        print(f"induction heads: {top}")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
