"""Axis projection (Labor Space) against a hand computation, and its warnings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny import tiny_hooked

from workbench.concepts.axis import axis_projection_job, concept_pole, text_pole
from workbench.concepts.concept import Concept
from workbench.errors import PromptSetError, ShapeMismatchError
from workbench.jobs import run

SITE = "blocks.1.hook_resid_post"
ITEMS = ["the king is happy", "the queen is sad", "I love this movie", "the weather is cold"]
A = ["I feel very good", "great nice food"]
B = ["I feel very bad", "terrible awful film"]


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


def test_text_poles_by_hand(hm):
    r = run(axis_projection_job(hm, ITEMS, (text_pole("good", A), text_pole("bad", B)), site=SITE))
    acts = hm.capture(ITEMS + A + B, [SITE])[SITE].double().numpy()
    x, a, b = acts[:4], acts[4:6].mean(0), acts[6:].mean(0)
    want = (x - a) @ (b - a) / ((b - a) @ (b - a))
    np.testing.assert_allclose(r.x, want, rtol=1e-4, atol=1e-5)
    assert r.y is None and r.warnings == []
    assert r.pole_coordinates["good"] == pytest.approx(0.0, abs=1e-5)
    assert r.pole_coordinates["bad"] == pytest.approx(1.0, abs=1e-5)
    spec = r.figure_spec()
    assert spec["kind"] == "scatter" and spec["y"] is None and spec["labels"] == ITEMS


def test_two_axes_and_concept_poles(hm):
    g = torch.Generator().manual_seed(0)
    vecs = {f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g) for L in (1, 2)}
    c1 = Concept("c1", vecs, hm.ref, {"method": "mean", "position": "last"})
    c2 = Concept(
        "c2", {k: v + 1 for k, v in vecs.items()}, hm.ref, {"method": "mean", "position": "last"}
    )
    r = run(
        axis_projection_job(
            hm,
            ITEMS,
            (text_pole("good", A), text_pole("bad", B)),
            (concept_pole(c1), concept_pole(c2)),
            site=SITE,
        )
    )
    x = hm.capture(ITEMS, [SITE])[SITE].double()
    a, b = vecs[SITE].double(), vecs[SITE].double() + 1
    want = ((x - a) @ (b - a) / ((b - a) @ (b - a))).numpy()
    np.testing.assert_allclose(r.y, want, rtol=1e-4, atol=1e-5)
    assert r.warnings == []


def test_warnings_for_poles_from_another_space(hm):
    g = torch.Generator().manual_seed(1)
    vec = {"blocks.2.hook_resid_post": torch.randn(hm.d_model, generator=g)}
    d1 = Concept("d1", vec, hm.ref, {"method": "diff_of_means", "position": "mean"})
    d2 = Concept("d2", {k: -v for k, v in vec.items()}, hm.ref, {"method": "unembedding"})
    with pytest.raises(ShapeMismatchError, match="no vector at blocks.1"):
        run(axis_projection_job(hm, ITEMS, (concept_pole(d1), concept_pole(d2)), site=SITE))
    r = run(
        axis_projection_job(
            hm,
            ITEMS,
            (concept_pole(d1), concept_pole(d2)),
            site=SITE,
            pole_site="blocks.2.hook_resid_post",
        )
    )
    text = " ".join(r.warnings)
    assert "different spaces" in text and "direction (diff_of_means)" in text
    assert "unembedding vector" in text and "position 'mean'" in text
    # a trained steering vector is a direction too, not a point (it gave no warning)
    t = Concept(
        "t", {SITE: torch.randn(hm.d_model, generator=g)}, hm.ref, {"method": "trained_vector"}
    )
    r = run(axis_projection_job(hm, ITEMS, (concept_pole(t), text_pole("bad", B)), site=SITE))
    assert "direction (trained_vector)" in " ".join(r.warnings)
    with pytest.raises(PromptSetError, match="same vector"):
        run(axis_projection_job(hm, ITEMS, (text_pole("x", A), text_pole("y", A)), site=SITE))
    with pytest.raises(PromptSetError, match="concept or a group"):
        text_pole("empty", [])


@pytest.mark.slow
def test_cli_axis(tmp_path, capsys, tiny_llama_dir):
    from workbench.cli import main
    from workbench.store import Project

    proj, fig = tmp_path / "a.wbproj", tmp_path / "axis.png"
    argv = ["concepts", "axis", "--model", str(tiny_llama_dir), "--items", ",".join(ITEMS),
            "--a-texts", ",".join(A), "--b-texts", ",".join(B), "--site", SITE,
            "--figure", str(fig), "--project", str(proj), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["items"] == ITEMS and len(out["x"]) == 4
    assert fig.read_bytes()[:4] == b"\x89PNG"
    with Project.open(proj, read_only=True) as p:
        assert [r.analysis for r in p.runs()] == ["axis"]
    assert (
        main(["concepts", "axis", "--items", "a", "--a", "nope", "--b-texts", "x", "--site", SITE])
        == 1
    )
    assert "no such concept" in capsys.readouterr().err
    assert main(["concepts", "axis", "--items", "a", "--set", "topics", "--a-texts", "x", "--b-texts", "y",
                 "--site", SITE]) == 1  # fmt: skip
    assert "one way" in capsys.readouterr().err


def test_template_by_hand_and_the_sink_warning(hm):
    items = ["king", "queen", "man"]
    alone = run(
        axis_projection_job(
            hm, items, (text_pole("g", ["good"]), text_pole("b", ["bad"])), site=SITE
        )
    )
    assert any("attention sink" in w for w in alone.warnings)
    tpl = "the {item} is very"
    r = run(
        axis_projection_job(
            hm, items, (text_pole("g", ["good"]), text_pole("b", ["bad"])), site=SITE, template=tpl
        )
    )
    assert r.warnings == [] and r.template == tpl
    texts = [tpl.replace("{item}", t) for t in [*items, "good", "bad"]]
    acts = hm.capture(texts, [SITE])[SITE].double().numpy()
    x, a, b = acts[:3], acts[3], acts[4]
    np.testing.assert_allclose(r.x, (x - a) @ (b - a) / ((b - a) @ (b - a)), rtol=1e-4, atol=1e-5)
    with pytest.raises(PromptSetError, match="must contain"):
        run(
            axis_projection_job(
                hm,
                items,
                (text_pole("g", ["good"]), text_pole("b", ["bad"])),
                site=SITE,
                template="x",
            )
        )
