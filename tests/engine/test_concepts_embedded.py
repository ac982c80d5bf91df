"""Behaviour only a trained model shows, on the embedded SmolLM2-135M (one shared load).

A sentiment concept made from the built-in contrastive set (difference of means, last token)
must, added with a positive coefficient, raise log P(" great") - log P(" terrible") on held-out
prompts that played no part in making it, and a negative coefficient must lower it; its
logit-lens read-out must name sentiment words.
"""

from __future__ import annotations

import pytest
import torch

from workbench.concepts.diagnostics import logit_lens
from workbench.concepts.extraction import ExtractionSpec, extract_job
from workbench.concepts.probing import probe_layers_job
from workbench.concepts.prompt_sets import builtin_set
from workbench.jobs import run
from workbench.models.interventions import AddVector
from workbench.models.sites import resid_post

pytestmark = pytest.mark.embedded

HELD_OUT = [
    "I think this movie was",
    "Honestly, the food at that place was",
    "My day at work was",
    "The new album is",
    "Overall, the hotel was",
    "The book I read last week was",
    "Our holiday in Spain was",
    "The service at the bank was",
]
STEER_LAYER, LENS_LAYER, COEF = 12, 24, 4.0
POSITIVE_WORDS = {
    "enjoyed",
    "excellent",
    "impressed",
    "enjoy",
    "positive",
    "benefit",
    "great",
    "wonderful",
    "share",
    "sharing",
    "thank",
}
NEGATIVE_WORDS = {
    "worse",
    "stupid",
    "ugly",
    "blaming",
    "blamed",
    "depressing",
    "depressed",
    "revenge",
    "hurting",
    "retaliation",
    "pointless",
    "meaningless",
    "terrible",
    "awful",
    "bad",
}


@pytest.fixture(scope="module")
def sentiment(embedded_model):
    spec = ExtractionSpec(
        "diff_of_means",
        layers=[STEER_LAYER, LENS_LAYER],
        position="last",
        prompts=builtin_set("sentiment"),
    )
    return run(extract_job(embedded_model, spec))


def margins(hm, interventions=()):
    """log P(" great") - log P(" terrible") after each held-out prompt."""
    great = hm.tokenizer(" great", add_special_tokens=False)["input_ids"][0]
    terrible = hm.tokenizer(" terrible", add_special_tokens=False)["input_ids"][0]
    logits = hm.logits(HELD_OUT, interventions)
    last = hm.encode(HELD_OUT)["attention_mask"].sum(-1) - 1
    lp = torch.log_softmax(logits[torch.arange(len(HELD_OUT)), last].float(), -1)
    return lp[:, great] - lp[:, terrible]


@pytest.mark.parametrize("layer", [STEER_LAYER, LENS_LAYER])
def test_sentiment_concept_steers_held_out_prompts(embedded_model, sentiment, layer):
    hm = embedded_model
    assert not set(HELD_OUT) & set(builtin_set("sentiment").all_texts())
    site = resid_post(layer)
    v = sentiment.vectors[site]
    base = margins(hm)
    up = margins(hm, [AddVector(site, vector=v, coefficient=COEF)])
    down = margins(hm, [AddVector(site, vector=v, coefficient=-COEF)])
    zero = margins(hm, [AddVector(site, vector=v - v, coefficient=COEF)])
    print(
        f"\nlayer {layer} |v|={float(v.norm()):.1f} margin base {base.mean():+.2f} +{COEF}: {up.mean():+.2f} -{COEF}: {down.mean():+.2f}"
    )
    torch.testing.assert_close(zero, base)  # v - v steers nothing
    assert bool((up > base).all()), (base, up)
    assert float((up - base).mean()) > 1.5
    assert float((down - base).mean()) < -1.0


def test_logit_lens_lists_sentiment_words(embedded_model, sentiment):
    lens = logit_lens(embedded_model, sentiment, site=resid_post(LENS_LAYER), k=20)
    promoted = [t.strip().lower() for t, _ in lens.promoted]
    suppressed = [t.strip().lower() for t, _ in lens.suppressed]
    print("\npromoted", promoted, "\nsuppressed", suppressed)
    assert len(_sentiment_tokens(promoted, POSITIVE_WORDS)) >= 2, promoted
    assert len(_sentiment_tokens(suppressed, NEGATIVE_WORDS)) >= 3, suppressed


def _sentiment_tokens(tokens: list[str], words: set[str]) -> set[str]:
    """The tokens that are one of ``words`` or a piece of one of at least 4 letters: BPE splits
    words differently across tokenizer releases ("excellent" may come as "cellent"), so the
    fragments are derived from the words, not pinned."""
    return {t for t in tokens if t in words or (len(t) >= 4 and any(t in w for w in words))}


def test_probe_curve_rises_with_depth(embedded_model):
    curve = run(
        probe_layers_job(embedded_model, builtin_set("sentiment"), layers=[0, 6, 12, 18], folds=4)
    )
    acc = dict(curve.points)
    print("\nsentiment probe accuracy by layer", curve.points)
    assert acc[12] >= 0.85
    assert max(acc[6], acc[12], acc[18]) >= acc[0]


def test_mean_without_the_first_token_escapes_the_attention_sink(embedded_model):
    """From the middle layers on, the first token's residual norm is ~100x the others' (an
    attention sink), so a plain mean over tokens is mostly that token: a difference of means
    made that way separates held-out sentiment pairs no better than chance, while the mean
    over the other tokens separates them (measured: 0.50 vs 1.00 at L12, 24 pairs to fit)."""
    hm = embedded_model
    ps = builtin_set("sentiment")
    site = resid_post(STEER_LAYER)
    per = hm.capture(ps.positive[:8], [site], "all").per_prompt(site)
    first = torch.stack([p[0].norm() for p in per]).mean()
    rest = torch.cat([p[1:].norm(dim=-1) for p in per]).mean()
    assert first > 20 * rest

    def held_out_accuracy(position: str) -> float:
        pos = hm.capture(ps.positive, [site], position)[site]
        neg = hm.capture(ps.negative, [site], position)[site]
        d = pos[:24].mean(0) - neg[:24].mean(0)
        p, n = pos[24:] @ d, neg[24:] @ d
        cut = (p.mean() + n.mean()) / 2
        return float(((p > cut).float().mean() + (n < cut).float().mean()) / 2)

    plain, skip = held_out_accuracy("mean"), held_out_accuracy("mean_skip_first")
    assert skip >= 0.85 and skip > plain + 0.2, (plain, skip)


def test_task_vector_makes_zero_shot_antonyms_work(embedded_model):
    """Hendel et al.'s task vector, read as the shift 5 demonstrations cause in the query's
    last-token latent, added to a zero-shot prompt: held-out antonyms go from 0/21 right to
    9/21 at L16 (measured; the function vector from heads reaches 12/21 at L14)."""
    import dataclasses

    from workbench.heads.function_vector import ICLTask, zero_shot_accuracy

    hm = embedded_model
    train, test = ICLTask.antonyms().split(0.3, seed=0)
    ps = builtin_set("antonyms")
    ps = dataclasses.replace(ps, template=train.template, separator=train.separator)
    keep = set(train.pairs)
    ps = ps.subset(
        [i for i, p in enumerate(zip(ps.inputs, ps.outputs, strict=True)) if p in keep],
        "train",
    )
    site = resid_post(16)
    spec = ExtractionSpec(method="task_vector", prompts=ps, sites=[site], params={"k": 5})
    v = run(extract_job(hm, spec)).vectors[site]
    base = zero_shot_accuracy(hm, test)
    steered = zero_shot_accuracy(hm, test, v, 16, 1.0)
    assert base <= 0.05 and steered >= 0.3, (base, steered)
