"""Qt-free jobs that the window runs in the model executor (generators, see workbench.jobs).

They glue engine calls together for one view (extraction with the chosen options, canvas
diagnostics, a layer × coefficient sweep). torch is imported inside the functions only, so
importing this module costs nothing at startup.

Note for the engine: ``sweep_job`` and the fallbacks below would sit well in
``workbench/`` (e.g. ``workbench.models.sweep``); they live here until the engine has them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.jobs import Job, Progress


# ----------------------------------------------------------------- extraction
def extract_job(
    hm: Any,
    prompts: Any,
    method: str,
    sites: Sequence[str],
    position: str = "last",
    name: str = "",
    words: Sequence[str] = (),
    params: dict | None = None,
) -> Job[Any]:
    """Extract a concept with the engine (``workbench.concepts.extraction``)."""
    from workbench.concepts.extraction import ExtractionSpec
    from workbench.concepts.extraction import extract_job as engine_extract_job

    spec = ExtractionSpec(
        method=method,
        sites=list(sites),
        position=position,
        prompts=prompts,
        words=[w for w in words if w.strip()],
        name=name,
        params=dict(params or {}),
    )
    concept = yield from engine_extract_job(hm, spec)
    return concept


# ---------------------------------------------------------------- diagnostics
def logit_lens(hm: Any, vector: Any, k: int = 8) -> dict[str, list[tuple[str, float]]]:
    """Tokens a vector promotes and suppresses (the engine's logit lens), as the views show it."""
    from workbench.concepts.diagnostics import logit_lens as engine_logit_lens

    lens = engine_logit_lens(hm, vector.reshape(-1), k=k)
    return {"top": lens.promoted, "bottom": lens.suppressed}


def logit_lens_job(hm: Any, concept: Any, site: str, k: int = 8) -> Job[dict]:
    yield Progress(0, 1, "logit lens")
    return {"site": site, **logit_lens(hm, concept.vector(site), k)}


def cosine_matrix(concepts: Sequence[Any], site: str | None = None) -> tuple[list[str], Any, str]:
    """``(names, [n, n] cosine array, site)`` at ``site`` (default: the last site all share)."""
    import numpy as np

    from workbench.concepts.diagnostics import cosine_matrix as engine_cosine_matrix

    shared = [s for s in concepts[0].sites if all(s in c.vectors for c in concepts)]
    if not shared:
        from workbench.errors import ShapeMismatchError

        raise ShapeMismatchError("These concepts share no site, so they cannot be compared.")
    site = site if site in shared else shared[-1]
    m = engine_cosine_matrix(concepts, site)
    return m.names, np.array(m.matrix), site


def cosine_matrix_job(concepts: Sequence[Any], site: str | None = None) -> Job[tuple]:
    yield Progress(0, 1, "cosine matrix")
    return cosine_matrix(concepts, site)


@dataclass
class CanvasResult:
    concept: Any
    expression: str
    norms: dict[str, float]
    cosines: dict[str, float] = field(default_factory=dict)  # library concept -> cosine
    lens: dict | None = None
    lens_site: str | None = None
    dropped: list[str] = field(default_factory=list)  # sites some terms have and others lack


def canvas_job(
    tree: Any,
    concepts: Mapping[str, Any],
    library: Sequence[Any],
    hm: Any = None,
    site: str | None = None,
    name: str = "",
) -> Job[CanvasResult]:
    """Evaluate the canvas expression and its diagnostics (norms, cosines, top tokens)."""
    from workbench.concepts.algebra import evaluate
    from workbench.concepts.diagnostics import cosine

    yield Progress(0, 3, "combining")
    result = evaluate(tree, concepts, name=name or None, sites_rule="shared")
    every = {s for c in concepts.values() for s in c.vectors}
    dropped = sorted(every - set(result.vectors))
    norms = result.norms()
    yield Progress(1, 3, "cosine to library")
    from workbench.models.sites import readout_site

    site = site if site in result.vectors else readout_site(result.sites)
    v = result.vectors[site]
    cosines = {
        c.name: cosine(v, c.vectors[site])
        for c in library
        if site in c.vectors
        and c.vectors[site].numel() == v.numel()
        and c.model.same_space(result.model)
    }
    lens = None
    if hm is not None and hm.ref.same_space(result.model):
        yield Progress(2, 3, "logit lens")
        lens = logit_lens(hm, result.vectors[site])
    yield Progress(3, 3, "done")
    return CanvasResult(result, tree.to_text(), norms, cosines, lens, site, dropped)


# ---------------------------------------------------------------------- sweep
@dataclass
class SweepResult:
    prompt: str
    baseline: str
    layers: list[int]
    coefficients: list[float]
    site_kind: str
    texts: list[list[str]]  # [layer][coef]
    metrics: dict[str, list[list[float]]]  # metric -> [layer][coef]
    targets: list[str]
    settings: dict


def site_name(kind: str, layer: int) -> str:
    return f"blocks.{layer}.hook_{kind}"


def sweep_job(
    hm: Any,
    prompt: str,
    concept: Any,
    site_kind: str,
    layers: Sequence[int],
    coefficients: Sequence[float],
    settings: Any,
    targets: Sequence[str] = (),
) -> Job[SweepResult]:
    """Steer ``prompt`` with ``concept`` at each layer × coefficient; texts and three metrics.

    Yields a Progress per cell whose payload is ``(i_layer, i_coef, text, metrics)``.
    """
    import torch

    from workbench.models.generation import generate_job
    from workbench.models.interventions import AddVector

    layers, coefficients = list(layers), list(coefficients)
    total = len(layers) * len(coefficients) + 1
    base = yield from _quiet(generate_job(hm, [prompt], (), settings))
    yield Progress(1, total, "baseline", payload=("baseline", base.texts[0]))
    enc = hm.encode([prompt], chat=settings.chat)
    prompt_ids = enc["input_ids"]  # [1, pos]
    base_ids = (
        torch.cat(
            [
                prompt_ids,
                torch.tensor([base.token_ids[0]], device=prompt_ids.device, dtype=prompt_ids.dtype),
            ],
            -1,
        )
        if base.token_ids[0]
        else prompt_ids
    )
    n_prompt = prompt_ids.shape[1]
    target_ids = _target_ids(hm, targets)
    with torch.no_grad():
        base_logits = hm.forward(base_ids, torch.ones_like(base_ids)).logits.float()
    texts = [["" for _ in coefficients] for _ in layers]
    metrics = {
        k: [[math.nan for _ in coefficients] for _ in layers]
        for k in ("kl", "target_logprob", "perplexity")
    }
    done = 1
    for i, layer in enumerate(layers):
        site = site_name(site_kind, layer)
        vec = concept.vector(site)
        for j, coef in enumerate(coefficients):
            ivs = [AddVector(site, vector=vec, coefficient=float(coef))]
            gen = yield from _quiet(generate_job(hm, [prompt], ivs, settings))
            texts[i][j] = gen.texts[0]
            with torch.no_grad():
                steered = hm.forward(base_ids, torch.ones_like(base_ids), ivs).logits.float()
                sl = (
                    slice(n_prompt - 1, base_ids.shape[1] - 1)
                    if base_ids.shape[1] > n_prompt
                    else slice(n_prompt - 1, n_prompt)
                )
                p_log = torch.log_softmax(steered[0, sl], -1)
                q_log = torch.log_softmax(base_logits[0, sl], -1)
                metrics["kl"][i][j] = float((p_log.exp() * (p_log - q_log)).sum(-1).mean())
                if target_ids:
                    metrics["target_logprob"][i][j] = float(p_log[0, target_ids].mean())
                ids = gen.token_ids[0]
                if ids:
                    full = torch.cat(
                        [
                            prompt_ids,
                            torch.tensor([ids], device=prompt_ids.device, dtype=prompt_ids.dtype),
                        ],
                        -1,
                    )
                    lg = torch.log_softmax(
                        hm.forward(full, torch.ones_like(full)).logits.float()[
                            0, n_prompt - 1 : -1
                        ],
                        -1,
                    )
                    nll = -lg.gather(-1, full[0, n_prompt:, None]).mean()
                    metrics["perplexity"][i][j] = float(torch.exp(nll))
            done += 1
            cell = {k: metrics[k][i][j] for k in metrics}
            yield Progress(
                done,
                total,
                f"layer {layer}, coefficient {coef:g}",
                payload=(i, j, gen.texts[0], cell),
            )
    return SweepResult(
        prompt,
        base.texts[0],
        layers,
        coefficients,
        site_kind,
        texts,
        metrics,
        list(targets),
        settings.to_dict(),
    )


def _quiet(job: Job[Any]) -> Job[Any]:
    """Run a sub-job, passing on only a cancellation point per step (no payload)."""
    while True:
        try:
            report = next(job)
        except StopIteration as stop:
            return stop.value
        yield Progress(report.done, report.total, report.message)


def _target_ids(hm: Any, targets: Sequence[str]) -> list[int]:
    out = []
    for w in targets:
        w = w.strip()
        if not w:
            continue
        for text in (" " + w, w):
            ids = hm.tokenizer(text, add_special_tokens=False)["input_ids"]
            if ids and ids[0] != hm.tokenizer.unk_token_id:
                out.append(int(ids[0]))
                break
    return out
