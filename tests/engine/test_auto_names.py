"""Automatic concept names follow one rule, ``<source> (<method>)`` (issue 18 item 10: a set
with named poles was called "formal - informal (…)", another "sentiment (…)")."""

from __future__ import annotations

from tiny import tiny_hooked

from workbench.concepts.extraction import ExtractionSpec, extract_job
from workbench.concepts.prompt_sets import PromptSet
from workbench.jobs import run


def test_every_automatic_name_is_source_then_method():
    hm = tiny_hooked("llama")
    pos, neg = ["I am happy", "a good day"], ["I am sad", "a bad day"]
    named = PromptSet("formality", "contrastive", pos, neg, poles=("formal", "informal"))
    plain = PromptSet("sentiment", "contrastive", pos, neg)
    site = ["blocks.1.hook_resid_post"]
    for ps in (named, plain):
        c = run(extract_job(hm, ExtractionSpec(method="diff_of_means", sites=site, prompts=ps)))
        assert c.name == f"{ps.name} (diff_of_means)"
