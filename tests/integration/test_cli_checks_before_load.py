"""Arguments that can be judged without a model are refused before it loads: every case runs
with ``--model`` pointing at a folder that does not exist, so a check made after the load would
print "... does not exist" instead of its own message (and take the load's seconds or minutes
on a real model)."""

from __future__ import annotations

import re

import pytest
import torch

from workbench.cli import main

SITE = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("before-load")
    save_file({SITE: torch.randn(32)}, d / "v.safetensors")
    (d / "p.txt").write_text("the king is\nthe queen is\n")
    (d / "empty.txt").write_text("\n\n")
    return {
        "dir": str(d),
        "model": str(d / "no-model"),
        "v": f"v={d / 'v.safetensors'}",
        "vfile": str(d / "v.safetensors"),
        "p": str(d / "p.txt"),
        "empty": str(d / "empty.txt"),
        "nodir": str(d / "missing-folder" / "scores.json"),
    }


V = ["--concept", "{v}"]
SWEEP = ["concepts", "sweep", "v", *V]
AXIS = ["--items", "king,queen", "--a-texts", "good", "--b-texts", "bad"]
PN = ["--positive", "{p}", "--negative", "{p}"]
# (id, argv with {placeholders}, regex the message must match, exit code)
CASES = [
    # models generate (steering)
    ("generate-empty-prompt", ["models", "generate", ""], r"argument prompt: Empty prompt", 2),
    ("generate-site", ["models", "generate", "hi", "--vector", "{vfile}", "--site",
                       "blocks.9.hook_resid_post"], r"no vector at blocks\.9.*it has " + SITE, 1),
    ("generate-weights-no-vector", ["models", "generate", "hi", "--token-weights", "1,1"],
     r"per-token weights need a steering --vector", 1),
    ("generate-site-no-vector", ["models", "generate", "hi", "--site", SITE],
     r"--site blocks\.1\.hook_resid_post says where a vector is added", 1),
    ("generate-weights-syntax", ["models", "generate", "hi", "--vector", "{vfile}",
                                 "--token-weights", "1,x"], r"token weights '1,x'", 1),
    ("generate-weights-both", ["models", "generate", "hi", "--vector", "{vfile}",
                               "--token-weights", "1", "--weight-probe"], r"not both", 1),
    ("generate-probe-unknown", ["models", "generate", "hi", "--vector", "{vfile}",
                                "--weight-probe", "zzz"], r"--weight-probe 'zzz'", 1),
    # concepts sweep
    ("sweep-layers-syntax", [*SWEEP, "--layers", "1-x", "--coefficients", "1", "--prompt", "hi"],
     r"cannot read layers '1-x'", 1),
    ("sweep-layers-empty", [*SWEEP, "--layers", "", "--coefficients", "1", "--prompt", "hi"],
     r"--layers is empty", 1),
    ("sweep-coefficients-empty", [*SWEEP, "--layers", "1", "--coefficients", ",", "--prompt",
                                  "hi"], r"--coefficients: give at least one number", 1),
    ("sweep-empty-prompt", [*SWEEP, "--layers", "1", "--coefficients", "1", "--prompt", ""],
     r"argument --prompt: Empty prompt", 2),
    ("sweep-weights-syntax", [*SWEEP, "--layers", "all", "--coefficients", "1", "--prompt", "hi",
                              "--token-weights", "1,x"], r"token weights '1,x'", 1),
    ("sweep-vector-site", [*SWEEP, "--layers", "1", "--coefficients", "1", "--prompt", "hi",
                           "--vector-site", "nonsense"], r"no vector at nonsense", 1),
    ("sweep-probe-unknown", [*SWEEP, "--layers", "1", "--coefficients", "1", "--prompt", "hi",
                             "--weight-probe", "zzz"], r"unknown concept\(s\) zzz", 1),
    # concepts extract / probe / diagnose
    ("extract-layers", ["concepts", "extract", *PN, "--layers", "1-x"], r"cannot read layers", 1),
    ("extract-out-format", ["concepts", "extract", *PN, "--layers", "1", "--out", "{dir}/x.weird"],
     r"--out .*x\.weird: the workbench writes safetensors", 1),
    ("extract-out-folder", ["concepts", "extract", *PN, "--layers", "1", "--out", "{dir}"],
     r"is a folder; give a file name", 1),
    ("extract-no-words", ["concepts", "extract", "--method", "unembedding", "--layers", "1"],
     r"--method unembedding reads words: give --words", 1),
    ("extract-param-unread", ["concepts", "extract", *PN, "--layers", "1", "--param", "C=0.1"],
     r"diff_of_means takes no parameters; 'C' would change nothing", 1),
    ("extract-site", ["concepts", "extract", *PN, "--site", "blocks.x.hook_resid_post"],
     r"'blocks\.x\.hook_resid_post' is not a hook site", 1),
    ("axis-site", ["concepts", "axis", "--site", "nonsense", *AXIS], r"not a hook site", 1),
    ("axis-template", ["concepts", "axis", "--site", SITE, *AXIS, "--template", "no item"],
     r"must contain \{item\}", 1),
    ("axis-no-items", ["concepts", "axis", "--site", SITE, "--items", ",", "--a-texts", "good",
                       "--b-texts", "bad"], r"no items to place", 1),
    ("axis-empty-pole", ["concepts", "axis", "--site", SITE, "--items", "king", "--a-texts", ",",
                         "--b-texts", "bad"], r"--a-texts ',' holds no text", 1),
    ("extract-param", ["concepts", "extract", *PN, "--layers", "1", "--param", "k"],
     r"--param 'k': write KEY=VALUE", 1),
    ("probe-layers", ["concepts", "probe", "--set", "sentiment", "--layers", "1-x"],
     r"cannot read layers", 1),
    ("probe-noise", ["concepts", "probe", "--set", "sentiment", "--token-noise", "2"],
     r"token noise \[2\.0\]: give fractions from 0 to 1", 1),
    ("probe-bits", ["concepts", "probe", "--set", "sentiment", "--bits", "1.5"],
     r"--bits \[1\.5\]: give whole numbers", 1),
    ("probe-depth-cluster", ["concepts", "probe", "--set", "sentiment", "--bits", "4",
                             "--cluster", "local"], r"Leave out --cluster", 1),
    ("diagnose-site", ["concepts", "diagnose", *V, "--logit-lens", "--site", "nonsense"],
     r"no vector at nonsense", 1),
    # heads
    ("score-output-folder", ["heads", "score", "--kind", "induction", "--output", "{nodir}"],
     r"missing-folder does not exist; create it first", 1),
    ("score-empty-sequences", ["heads", "score", "--kind", "successor", "--sequences", "{empty}"],
     r"no sequences found", 1),
    ("successor-k-huge", ["heads", "successor", "-k", "100000"],  # was an internal error
     r"-k: '100000': give a whole number from 1 to 100", 2),
    # heads figure wrote out.png for "out" and printed "out" (no model: still refused first)
    ("figure-no-extension", ["heads", "figure", "{p}", "{dir}/out"],
     r"write the figure as \.png, \.svg or \.pdf", 2),
    ("pattern-empty-prompt", ["heads", "pattern", "", "--layer", "0", "--head", "0"],
     r"argument prompt: Empty prompt", 2),
    ("intervene-values-with-prompt", ["heads", "intervene", "hi", "--heads", "L0H0", "--action",
                                      "scale", "--values", "0", "1"], r"takes one --value", 1),
    # analysis
    ("lens-empty-prompt", ["analysis", "logit-lens", ""], r"argument prompt: Empty prompt", 2),
    ("lens-empty-target", ["analysis", "logit-lens", "hi", "--target", " "],
     r"argument --target: ' ': a target word is empty", 2),
    ("lens-k", ["analysis", "logit-lens", "hi", "-k", "1000"], r"from 1 to 100", 2),
    ("patch-empty-prompt", ["analysis", "patch", "", "b", "--target", "x"],
     r"argument clean: Empty prompt", 2),
    ("patch-no-foil", ["analysis", "patch", "a", "b", "--target", "x"],
     r"logit_diff \(the default\) needs --foil", 1),
    ("subspace-no-foil", ["analysis", "subspace-patch", "a", "b", "--target", "x", "--layer", "0"],
     r"needs --foil", 1),
    ("subspace-pair-empty", ["analysis", "subspace-patch", "a", "b", "--target", "x", "--foil",
                             "y", "--layer", "0", "--direction-pair", "", "b"],
     r"argument --direction-pair: Empty prompt", 2),
    ("dla-empty-target", ["analysis", "dla", "hi", "--target", ""], r"target word is empty", 2),
    ("head-ov-no-words", ["analysis", "head-ov", "--layer", "0", "--head", "0", "--tokens", ","],
     r"--tokens ',' holds no word", 1),
    ("head-ov-k-0", ["analysis", "head-ov", "--layer", "0", "--head", "0", "-k", "0"],
     r"-k: '0': give a whole number from 1 to 100", 2),
    ("head-ov-k-huge", ["analysis", "head-ov", "--layer", "0", "--head", "0", "-k", "50000"],
     r"-k: '50000': give a whole number from 1 to 100", 2),
]  # fmt: skip


@pytest.mark.parametrize(("case", "argv", "message", "code"), CASES, ids=[c[0] for c in CASES])
def test_refused_before_the_model_loads(case, argv, message, code, files, capsys):
    argv = [a.format(**files) for a in argv]
    rc = main([*argv, "--model", files["model"]])
    err = capsys.readouterr().err
    assert rc == code, f"{case}: exit code {rc}\n{err}"
    assert "Traceback" not in err and "internal error" not in err
    assert "no-model" not in err, f"{case}: the model was loaded first\n{err}"
    assert re.search(message, err), f"{case}: {message!r} not in\n{err}"


def test_head_ov_k_past_the_vocabulary_is_refused_after_the_load():
    """The one -k check that needs the model: a vocabulary smaller than -k (tiny models)."""
    from tiny import tiny_hooked

    from workbench.cli import _args

    hm = tiny_hooked("llama")
    n = len(hm.tokenizer)
    assert _args.check_top_k(hm, n) == n
    with pytest.raises(_args.ArgumentError, match=rf"-k {n + 1}: .*has {n} tokens; give -k {n}"):
        _args.check_top_k(hm, n + 1)
