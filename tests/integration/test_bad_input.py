"""Bad input, tried as a new user would: every case ends with a clear message and a non-zero exit
code, no Python traceback, and the project file's committed content unchanged.

The command-line cases run in-process (``main(argv)`` with capsys), on a tiny random Llama saved
to a temporary folder; a few run as real subprocesses to prove the top-level handler. The API
cases call the engine directly and expect a :class:`WorkbenchError` naming what was wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import tiny_hf_model, tiny_tokenizer

from workbench.cli import main
from workbench.concepts.concept import Concept, ModelRef
from workbench.errors import WorkbenchError
from workbench.io.vector_files import export_concept
from workbench.store import Project

SITE = "blocks.1.hook_resid_post"
REF = ModelRef("tiny-llama", d_model=32, n_layers=3, model_type="llama")


# ------------------------------------------------------------------ the committed content
def project_digest(path: Path) -> str:
    """sha256 over every committed row of every table but the lock (which an open for writing
    refreshes): what the project holds, independent of page layout and heartbeats."""
    h = hashlib.sha256()
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
            ).fetchall()
        ]
        for t in tables:
            if t in ("project_lock", "sqlite_sequence"):
                continue
            h.update(t.encode())
            for row in con.execute(f'SELECT * FROM "{t}" ORDER BY rowid'):
                h.update(repr(row).encode())
    finally:
        con.close()
    return h.hexdigest()


# ------------------------------------------------------------------------------ fixtures
def _vec(seed: int = 0, width: int = 32) -> torch.Tensor:
    return torch.randn(width, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Every path a case refers to: a good tiny model and damaged copies, vector files good and
    bad, prompt files, expressions' projects, and the project under test."""
    d = tmp_path_factory.mktemp("bad-input")
    f: dict[str, str] = {}

    model = d / "tiny"
    tiny_hf_model("llama").save_pretrained(model)
    tiny_tokenizer().save_pretrained(model)
    f["model"] = str(model)
    weights = (model / "model.safetensors").read_bytes()

    def damaged(name: str, data: bytes | None, *, drop: tuple[str, ...] = ()) -> None:
        m = d / name
        shutil.copytree(model, m)
        if data is not None:
            (m / "model.safetensors").write_bytes(data)
        for x in drop:
            (m / x).unlink()
        f[name] = str(m)

    damaged("truncated_header", weights[:1000])
    damaged("garbage_weights", os.urandom(4096))
    damaged("huge_header", struct.pack("<Q", 2**62) + b"{}")
    damaged("truncated_tensors", weights[: len(weights) - 100])
    damaged("no_weights", None, drop=("model.safetensors",))
    damaged("no_config", None, drop=("config.json",))
    bad_cfg = d / "bad_config"
    shutil.copytree(model, bad_cfg)
    (bad_cfg / "config.json").write_text("{ not json")
    f["bad_config"] = str(bad_cfg)
    (d / "notes.txt").write_text("Meeting notes\n")
    f["text_file"] = str(d / "notes.txt")
    (d / "garbage.gguf").write_bytes(b"GGUF" + os.urandom(64))
    f["garbage_gguf"] = str(d / "garbage.gguf")
    f["missing"] = str(d / "does-not-exist")

    # vector files
    good = Concept("good", {SITE: _vec(1)}, REF)
    f["good_vec"] = str(export_concept(good, d / "good.safetensors"))
    narrow = Concept("narrow", {SITE: _vec(2, 16)}, ModelRef("small", d_model=16))
    f["narrow_vec"] = str(export_concept(narrow, d / "narrow.safetensors"))
    # a file whose header says d_model 32 but whose vector has 16 values
    f["inconsistent_vec"] = str(
        export_concept(Concept("odd", {SITE: _vec(2, 16)}, REF), d / "odd.safetensors")
    )
    f["far_site_vec"] = str(
        export_concept(
            Concept("far", {"blocks.9.hook_resid_post": _vec(3)}, REF), d / "far.safetensors"
        )
    )
    from safetensors.torch import save_file

    def raw_st(name: str, t: torch.Tensor) -> None:
        save_file({SITE: t}, str(d / name))
        f[name] = str(d / name)

    nan = _vec(4)
    nan[3] = float("nan")
    raw_st("nan.safetensors", nan)
    inf = _vec(5)
    inf[0] = float("inf")
    raw_st("inf.safetensors", inf)
    raw_st("matrix.safetensors", torch.randn(4, 32))
    raw_st("int64.safetensors", torch.arange(32))
    (d / "garbage.safetensors").write_bytes(os.urandom(300))
    f["garbage.safetensors"] = str(d / "garbage.safetensors")
    (d / "trunc.safetensors").write_bytes(Path(f["good_vec"]).read_bytes()[:-40])
    f["trunc.safetensors"] = str(d / "trunc.safetensors")
    np.save(d / "bare.npy", np.ones(32, dtype=np.float32))
    f["bare.npy"] = str(d / "bare.npy")
    np.save(d / "inf.npy", np.full(32, np.inf, dtype=np.float32))
    f["inf.npy"] = str(d / "inf.npy")
    np.savez(d / "nan.npz", **{SITE: np.full(32, np.nan, dtype=np.float32)})
    f["nan.npz"] = str(d / "nan.npz")
    (d / "empty.json").write_text("")
    f["empty.json"] = str(d / "empty.json")
    (d / "other.json").write_text('{"hello": "world"}')
    f["other.json"] = str(d / "other.json")
    (d / "np_nan.json").write_text(
        json.dumps({"modelId": "tiny", "hookName": SITE, "vector": [float("nan")] * 32})
    )
    f["np_nan.json"] = str(d / "np_nan.json")
    (d / "vec.txt").write_text("1 2 3")
    f["vec.txt"] = str(d / "vec.txt")
    torch.save({"weights": torch.nn.Linear(2, 2)}, d / "module.pt")
    f["module.pt"] = str(d / "module.pt")
    (d / "vecdir").mkdir()
    f["vecdir"] = str(d / "vecdir")

    # prompt files
    (d / "binary.json").write_bytes(os.urandom(2000) + b"\xff\xfe")
    f["binary.json"] = str(d / "binary.json")
    (d / "binary.txt").write_bytes(b"\x00\xff\xfe\x81" * 100)
    f["binary.txt"] = str(d / "binary.txt")
    (d / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    f["nested.json"] = str(d / "nested.json")
    (d / "empty.txt").write_text("\n\n")
    f["empty.txt"] = str(d / "empty.txt")
    (d / "pos.txt").write_text("I love it\nthis is great\n")
    f["pos.txt"] = str(d / "pos.txt")
    (d / "long.txt").write_text("the king " * 100 + "\nthe queen\n")
    f["long.txt"] = str(d / "long.txt")
    (d / "no_target.jsonl").write_text('{"prompt": "the king"}\n')
    f["no_target.jsonl"] = str(d / "no_target.jsonl")
    (d / "labelled.csv").write_text("text,label\nthe king,a\nthe queen,b\n")
    f["labelled.csv"] = str(d / "labelled.csv")
    (d / "scores.json").write_text('{"format": "something else"}')
    f["scores.json"] = str(d / "scores.json")

    # projects
    proj = d / "p.wbproj"
    with Project.open(proj, create=True) as p:
        p.add_concept(good)
        p.add_concept(Concept("other", {SITE: _vec(6)}, REF))
        p.add_concept(Concept("wide", {SITE: _vec(7, 48)}, ModelRef("big", d_model=48)))
        p.add_prompt_set("mine", "plain", [{"text": "the king"}], source="typed")
        p.save_canvas("canvas", {"version": 1, "terms": [{"concept": "good", "coefficient": 2}]})
        p.add_run("probe", "probe 1", {"layers": [0]}, {"accuracy": [0.5]})
    f["project"] = str(proj)
    bad_recipe = d / "bad_recipe.wbproj"
    shutil.copy(proj, bad_recipe)
    con = sqlite3.connect(bad_recipe)
    con.execute("UPDATE concepts SET recipe = '{not json' WHERE name = 'other'")
    con.commit()
    con.close()
    f["bad_recipe"] = str(bad_recipe)
    half = d / "half.wbproj"
    half.write_bytes(proj.read_bytes()[: proj.stat().st_size // 2])
    f["half"] = str(half)
    (d / "empty.wbproj").touch()
    f["empty_proj"] = str(d / "empty.wbproj")
    f["out"] = str(d / "out")
    return f


# ---------------------------------------------------------------------------- CLI cases
# (id, argv with {placeholders} from ``files``, regex the message must match)
M = ["--model", "{model}"]
P = ["--project", "{project}"]
CLI_CASES: list[tuple[str, list[str], str]] = [
    # ------------------------------------------------------------------ model paths
    ("model-missing", ["models", "inspect", "--model", "{missing}"], r"does not exist|no model"),
    ("model-text-file", ["models", "inspect", "--model", "{text_file}"], r"notes\.txt"),
    ("model-no-config", ["models", "inspect", "--model", "{no_config}"], r"config"),
    ("model-bad-config", ["models", "inspect", "--model", "{bad_config}"], r"config"),
    ("model-truncated-header", ["models", "inspect", "--model", "{truncated_header}"],
     r"damaged: its header says 3,024 bytes.*download the model again"),
    ("model-garbage-weights", ["models", "inspect", "--model", "{garbage_weights}"],
     r"damaged.*download the model again"),
    ("model-huge-header", ["models", "inspect", "--model", "{huge_header}"],
     r"damaged: its header says 4,611,686,018,427,387,904 bytes"),
    ("model-truncated-tensors", ["models", "inspect", "--model", "{truncated_tensors}"],
     r"damaged: its tensors need .* bytes but the file has"),
    ("model-no-weights", ["models", "inspect", "--model", "{no_weights}"],
     r"could not be loaded|weights|safetensors"),
    ("model-garbage-gguf", ["models", "inspect", "--model", "{garbage_gguf}"], r"garbage\.gguf"),
    ("model-device-bogus", ["models", "inspect", "--device", "bogus"],
     r"--device: 'bogus': choose auto, cpu, cuda"),
    ("model-dtype-bogus", ["models", "inspect", "--dtype", "float8"], r"--dtype: 'float8'"),
    ("model-for-extract-missing", ["concepts", "extract", "--set", "sentiment", "--layers", "1",
                                   "--model", "{missing}", *P], r"does not exist|no model"),
    ("model-for-heads-damaged", ["heads", "score", "--kind", "induction", "--model",
                                 "{truncated_tensors}", *P], r"damaged"),
    # ------------------------------------------------------------------ vector files
    ("vec-missing", ["project", "import", "{project}", "{missing}"], r"does not exist"),
    ("vec-garbage", ["project", "import", "{project}", "{garbage.safetensors}"],
     r"cannot tell the format|not a readable"),
    ("vec-truncated", ["project", "import", "{project}", "{trunc.safetensors}"],
     r"not a readable safetensors file.*cut off while copying.*Export the concept again"),
    ("vec-nan-import", ["project", "import", "{project}", "{nan.safetensors}", "--name", "n"],
     r"concept 'n' .*1 NaN value\(s\) of 32 at blocks\.1\.hook_resid_post"),
    ("vec-inf-import", ["project", "import", "{project}", "{inf.safetensors}", "--name", "i"],
     r"1 infinite value\(s\) of 32 at blocks\.1\.hook_resid_post"),
    ("vec-inf-npy", ["project", "import", "{project}", "{inf.npy}", "--site", SITE],
     r"32 infinite value\(s\)"),
    ("vec-nan-npz", ["project", "import", "{project}", "{nan.npz}"], r"32 NaN value\(s\)"),
    ("vec-nan-json", ["project", "import", "{project}", "{np_nan.json}"],
     r"contains NaN or infinite values; a steering vector must be finite"),
    ("vec-matrix", ["project", "import", "{project}", "{matrix.safetensors}"],
     r"has shape \[4, 32\] at blocks\.1\.hook_resid_post.*\[d_model\]"),
    ("vec-int64", ["project", "import", "{project}", "{int64.safetensors}"],
     r"dtype (torch\.)?int64|expected floats|must hold floats"),
    ("vec-empty-json", ["project", "import", "{project}", "{empty.json}"], r"not readable JSON"),
    ("vec-other-json", ["project", "import", "{project}", "{other.json}"],
     r"neither a Neuronpedia vector nor an IBM"),
    ("vec-npy-no-site", ["project", "import", "{project}", "{bare.npy}"], r"site"),
    ("vec-unknown-ext", ["project", "import", "{project}", "{vec.txt}"], r"cannot tell the format"),
    ("vec-pickled-module", ["project", "import", "{project}", "{module.pt}"],
     r"module\.pt"),
    ("vec-folder", ["project", "import", "{project}", "{vecdir}"], r"is a folder"),
    ("vec-site-not-in-file", ["project", "import", "{project}", "{good_vec}", "--site",
                              "blocks.0.hook_resid_post", "--name", "x"], r"has no vector at"),
    ("vec-reimport-same-name", ["project", "import", "{project}", "{good_vec}"],
     r"already has a concept named 'good' \(id .*it was kept as it is.*--name"),
    ("vec-generate-narrow", ["models", "generate", "the king", *M, "--vector", "{narrow_vec}"],
     r"concept 'narrow' has shape \[16\] at blocks\.1\.hook_resid_post.*needs \[32\]"),
    ("vec-inconsistent-width", ["project", "import", "{project}", "{inconsistent_vec}"],
     r"concept 'odd' has width 16 at blocks\.1\.hook_resid_post, but the file says its model "
     r"\(tiny-llama\) has width 32; the file is inconsistent"),
    ("vec-generate-far-site", ["models", "generate", "the king", *M, "--vector",
                               "{far_site_vec}"], r"blocks\.9\.hook_resid_post: this model has blocks 0\.\.2"),
    ("vec-generate-nan", ["models", "generate", "the king", *M, "--vector", "{nan.safetensors}"],
     r"NaN value\(s\) of 32 at blocks\.1\.hook_resid_post"),
    ("vec-generate-site-missing", ["models", "generate", "the king", *M, "--vector", "{good_vec}",
                                   "--site", "blocks.0.hook_resid_post"], r"has no vector at"),
    ("vec-eval-nan", ["concepts", "eval", "a", "--concept", "a={nan.safetensors}"], r"NaN"),
    ("vec-diagnose-garbage", ["concepts", "diagnose", "--concept", "{garbage.safetensors}"],
     r"cannot tell the format|not a readable"),
    # ------------------------------------------------------------------ prompt sets
    ("ps-unknown-set", ["concepts", "extract", *M, "--set", "no_such_set", "--layers", "1", *P],
     r"no_such_set"),
    ("ps-binary-set", ["concepts", "extract", *M, "--set", "{binary.json}", "--layers", "1", *P],
     r"binary\.json"),
    ("ps-nested-set", ["concepts", "extract", *M, "--set", "{nested.json}", "--layers", "1", *P],
     r"nested\.json"),
    ("ps-empty-set", ["concepts", "extract", *M, "--set", "{empty.txt}", "--layers", "1", *P],
     r"empty\.txt|no prompts|empty"),
    ("ps-positive-alone", ["concepts", "extract", *M, "--positive", "{pos.txt}", "--layers", "1"],
     r"--positive and --negative go together"),
    ("ps-wrong-kind", ["concepts", "extract", *M, "--set", "{labelled.csv}", "--method", "icv",
                       "--layers", "1", *P], r"icv needs a contrastive or demonstrations"),
    ("ps-longer-than-context", ["concepts", "extract", *M, "--positive", "{long.txt}",
                                "--negative", "{long.txt}", "--layers", "1", *P],
     r"Prompt 1 .* is 200 tokens, longer than the 128 tokens this model's context holds"),
    ("ps-heads-binary", ["heads", "score", "--kind", "induction", *M, "--prompts", "{binary.txt}",
                         *P], r"not UTF-8 text \(a binary file\?\)"),
    ("ps-heads-nested", ["heads", "top-tokens", *M, "--prompts", "{nested.json}", "--layer", "0",
                         "--head", "0"], r"nested too deeply"),
    ("ps-heads-no-target", ["heads", "score", "--kind", "ablation", *M, "--prompts",
                            "{no_target.jsonl}", *P], r"needs 'prompt' and 'target'|target"),
    ("ps-heads-missing", ["heads", "score", "--kind", "ablation", *M, "--prompts", "{missing}"],
     r"does not exist"),
    ("ps-sequences-binary", ["heads", "score", "--kind", "successor", *M, "--sequences",
                             "{binary.txt}"], r"binary"),
    ("ps-fv-task-missing", ["heads", "function-vector", *M, "--task", "no_such_task"],
     r"no_such_task"),
    ("ps-probe-binary", ["concepts", "probe", *M, "--set", "{binary.json}"], r"binary\.json"),
    # ------------------------------------------------------------------ expressions
    ("expr-empty", ["concepts", "eval", " ", *P], r"expression is empty"),
    ("expr-syntax", ["concepts", "eval", "good +* ", *P], r"cannot parse"),
    ("expr-unknown", ["concepts", "eval", "good + nobody", *P], r"unknown concept\(s\) nobody"),
    ("expr-1e309", ["concepts", "eval", "1e309*good", *P], r"1e309 is not a finite number"),
    ("expr-overflow-coef", ["concepts", "eval", "1e300*1e300*good", *P], r"not a finite number"),
    ("expr-overflow-vector", ["concepts", "eval", "3e38*good + 3e38*good", *P, "--save"],
     r"infinite value\(s\).*at blocks\.1\.hook_resid_post"),
    ("expr-too-long", ["concepts", "eval", "+".join(["good"] * 3000), *P],
     r"characters long; the limit is 10,000"),
    ("expr-nested", ["concepts", "eval", "(" * 500 + "good" + ")" * 500, *P],
     r"too many nested parentheses|too many terms or parentheses"),
    ("expr-deep-sum", ["concepts", "eval", "+".join(["good"] * 1900), *P],
     r"too many terms or parentheses"),
    ("expr-product", ["concepts", "eval", "good*other", *P], r"multiplies two concepts"),
    ("expr-div-zero", ["concepts", "eval", "good/0", *P], r"division by zero"),
    ("expr-other-model", ["concepts", "eval", "good + wide", *P], r"cannot be combined|wide"),
    ("expr-norm-nan", ["concepts", "eval", "normalize_to(good)", *P, "--norm", f"{SITE}=nan"],
     r"--norm .*finite number"),
    ("expr-norm-no-site", ["concepts", "eval", "normalize_to(good)", *P, "--norm", "8"],
     r"write SITE=NORM"),
    ("expr-bad-function", ["concepts", "eval", "__import__('os')", *P], r"'?__import__|not allowed|cannot"),
    # ------------------------------------------------------------------ project files
    ("proj-text", ["project", "info", "{text_file}"], r"not an SQLite database|not a project"),
    ("proj-missing", ["project", "info", "{missing}"], r"There is no project"),
    ("proj-empty", ["project", "info", "{empty_proj}"], r"empty"),
    ("proj-folder", ["project", "info", "{vecdir}"], r"folder"),
    ("proj-half", ["project", "info", "{half}"], r"damaged|corrupt|truncated|not"),
    ("proj-export-unknown", ["project", "export", "{project}", "nobody", "{out}.safetensors"],
     r"No concept named 'nobody'"),
    ("proj-export-format", ["project", "export", "{project}", "good", "{out}.xyz"],
     r"cannot tell the format"),
    ("proj-run-missing", ["project", "runs", "{project}", "--id", "999"], r"No run 999"),
    ("proj-bad-recipe-export", ["project", "export", "{bad_recipe}", "other", "{out}.safetensors"],
     r"damaged|not valid JSON|recipe"),
    ("proj-bad-recipe-eval", ["concepts", "eval", "good", "--project", "{bad_recipe}"],
     r"damaged|not valid JSON|recipe"),
    ("proj-missing-folder", ["heads", "score", "--kind", "induction", *M, "--project",
                             "{missing}/new.wbproj"], r"does not exist"),
    ("proj-text-as-project", ["concepts", "extract", *M, "--set", "sentiment", "--layers", "1",
                              "--project", "{text_file}"], r"not an SQLite database|not a project"),
    # ------------------------------------------------------------------ arguments
    ("arg-batch-size-0", ["concepts", "extract", *M, "--set", "sentiment", "--layers", "1",
                          "--batch-size", "0", *P], r"--batch-size: '0': must be a whole number of at least 1"),
    ("arg-method", ["concepts", "extract", *M, "--set", "sentiment", "--method", "magic", *P],
     r"--method: 'magic': choose one of mean, diff_of_means"),
    ("arg-layers-range", ["concepts", "extract", *M, "--set", "sentiment", "--layers", "7", *P],
     r"--layers 7: this model has layers 0\.\.2"),
    ("arg-layers-negative", ["concepts", "extract", *M, "--set", "sentiment", "--layers", "-1",
                             *P], r"cannot read layers '-1'"),
    ("arg-layers-text", ["concepts", "extract", *M, "--set", "sentiment", "--layers", "twelve",
                         *P], r"cannot read layers 'twelve'"),
    ("arg-site-missing", ["concepts", "extract", *M, "--set", "sentiment", "--site",
                          "blocks.5.hook_resid_post", *P], r"this model has blocks 0\.\.2"),
    ("arg-param-nan", ["concepts", "extract", *M, "--set", "sentiment", "--layers", "1",
                       "--param", "k=NaN", *P], r"--param 'k=NaN': the value must be a finite"),
    ("arg-folds-negative", ["concepts", "probe", *M, "--set", "sentiment", "--folds", "-2"],
     r"--folds: '-2': must be a whole number of 0 or more"),
    ("arg-folds-1", ["concepts", "probe", *M, "--set", "sentiment", "--folds", "1"],
     r"give 2 folds or more"),
    ("arg-diagnose-k", ["concepts", "diagnose", *P, "-k", "-5"], r"-k: '-5'"),
    ("arg-head-99", ["heads", "pattern", "the king", *M, "--layer", "0", "--head", "99"],
     r"--head 99: this model has 4 heads, numbered 0\.\.3"),
    ("arg-head--9", ["heads", "pattern", "the king", *M, "--layer", "0", "--head", "-9"],
     r"--head -9: this model has 4 heads"),
    ("arg-layer-99", ["heads", "pattern", "the king", *M, "--layer", "99", "--head", "0"],
     r"--layer 99: this model has 3 layers"),
    ("arg-top-tokens-k", ["heads", "top-tokens", *M, "--prompts", "{pos.txt}", "--layer", "0",
                          "--head", "0", "-k", "0"], r"-k: '0'"),
    ("arg-n-seqs-0", ["heads", "score", "--kind", "induction", *M, "--n-seqs", "0", *P],
     r"--n-seqs: '0': must be a whole number of at least 1"),
    ("arg-seq-len-0", ["heads", "score", "--kind", "induction", *M, "--seq-len", "0", *P],
     r"--seq-len: '0'"),
    ("arg-seq-len-context", ["heads", "score", "--kind", "induction", *M, "--seq-len", "100", *P],
     r"201 tokens, longer than the 128 tokens this model's context holds"),
    ("arg-kind", ["heads", "score", "--kind", "magic", *M], r"--kind: invalid choice: 'magic'"),
    ("arg-top-k-0", ["heads", "score", "--kind", "copying", *M, "--top-k", "0"], r"--top-k: '0'"),
    ("arg-n-tokens-neg", ["heads", "score", "--kind", "copying", *M, "--n-tokens", "-5"],
     r"--n-tokens: '-5'"),
    ("arg-max-rows-0", ["heads", "score", "--kind", "ablation", *M, "--max-rows", "0"],
     r"--max-rows: '0'"),
    ("arg-compare-k", ["heads", "compare", "{scores.json}", "{scores.json}", "-k", "-5"],
     r"-k: '-5'"),
    ("arg-compare-garbage", ["heads", "compare", "{binary.json}", "{scores.json}"],
     r"not UTF-8 text \(a binary file\?\); give a head set or score file"),
    ("arg-figure-not-scores", ["heads", "figure", "{scores.json}", "{out}.png"],
     r"not a score file"),
    ("arg-fv-layer", ["heads", "function-vector", *M, "--layer", "40", "--n-prompts", "2"],
     r"--layer 40: this model has 3 layers"),
    ("arg-fv-coefficient-inf", ["heads", "function-vector", *M, "--coefficient", "inf"],
     r"--coefficient: 'inf': must be a finite number"),
    ("arg-fv-shots-0", ["heads", "function-vector", *M, "--n-shots", "0"], r"--n-shots: '0'"),
    # top-k past what the model has (two were internal errors: topk out of range)
    ("arg-diagnose-k-vocab", ["concepts", "diagnose", "--concept", "{good_vec}", "--logit-lens",
                              *M, "-k", "500"], r"-k 500: this model's vocabulary has \d+ tokens"),
    ("arg-copying-top-k-vocab", ["heads", "score", "--kind", "copying", *M, "--top-k", "5000"],
     r"--top-k 5000: this model's vocabulary has \d+ tokens"),
    ("arg-fv-k-heads", ["heads", "function-vector", *M, "--k", "1000"],
     r"--k 1000: choose 1 to 12 heads"),
    ("arg-max-new-tokens-neg", ["models", "generate", "the king", *M, "--max-new-tokens", "-3"],
     r"--max-new-tokens: '-3'"),
    ("arg-max-new-tokens-context", ["models", "generate", "the king", *M, "--max-new-tokens",
                                    "200"], r"202 tokens, longer than the 128 tokens"),
    ("arg-temperature-neg", ["models", "generate", "the king", *M, "--temperature", "-1"],
     r"--temperature: '-1': must be greater than 0"),
    ("arg-temperature-0", ["models", "generate", "the king", *M, "--temperature", "0"],
     r"--temperature: '0': must be greater than 0"),
    ("arg-coefficient-nan", ["models", "generate", "the king", *M, "--coefficient", "nan"],
     r"--coefficient: 'nan': must be a finite number"),
    ("arg-coefficient-inf", ["models", "generate", "the king", *M, "--coefficient=-inf"],
     r"--coefficient: '-inf': must be a finite number"),
    ("arg-coefficient-text", ["models", "generate", "the king", *M, "--coefficient", "lots"],
     r"'lots' is not a number"),
    ("arg-seed-neg", ["models", "generate", "the king", *M, "--seed", "-1"], r"--seed: '-1'"),
    ("arg-empty-prompt", ["models", "generate", "", *M], r"Empty prompt"),
    ("arg-diffusion-size-0", ["diffusion", "generate", "{missing}", "a", "--size", "0"],
     r"--size: '0'"),
    ("arg-diffusion-size-odd", ["diffusion", "generate", "{missing}", "a", "--size", "30"],
     r"multiple of 8"),
    ("arg-diffusion-steps-0", ["diffusion", "generate", "{missing}", "a", "--steps", "0"],
     r"--steps: '0'"),
    ("arg-diffusion-level", ["diffusion", "generate", "{missing}", "a", "--level", "pixels"],
     r"--level: 'pixels': choose one of text_encoder, token_embeds, noise"),
    ("arg-diffusion-guidance-nan", ["diffusion", "generate", "{missing}", "a", "--guidance",
                                    "nan"], r"--guidance: 'nan'"),
    ("arg-diffusion-undefined", ["diffusion", "generate", "{missing}", "castle + winter",
                                 "--define", "castle=a castle"], r"winter in the expression has no --define"),
    ("arg-diffusion-define", ["diffusion", "generate", "{missing}", "a", "--define", "a"],
     r"--define 'a': write NAME=PROMPT"),
    ("arg-unknown-command", ["heads", "dance"], r"invalid choice: 'dance'"),
    # the steering sweep and head interventions
    ("sweep-coefficient-nan", ["concepts", "sweep", "good", *P, *M, "--layers", "1",
                               "--coefficients", "nan", "--prompt", "the king"],
     r"--coefficients: 'nan': must be a finite number"),
    ("sweep-coefficient-text", ["concepts", "sweep", "good", *P, *M, "--layers", "1",
                                "--coefficients", "lots", "--prompt", "the king"],
     r"'lots' is not a number"),
    ("sweep-no-prompt", ["concepts", "sweep", "good", *P, *M, "--layers", "1",
                         "--coefficients", "1"], r"give prompts"),
    ("sweep-layers-99", ["concepts", "sweep", "good", *P, *M, "--layers", "99",
                         "--coefficients", "1", "--prompt", "the king"],
     r"--layers 99: this model has layers 0\.\.2"),
    ("sweep-unknown-concept", ["concepts", "sweep", "nobody", *P, *M, "--layers", "1",
                               "--coefficients", "1", "--prompt", "the king"],
     r"unknown concept\(s\) nobody"),
    ("sweep-1e309", ["concepts", "sweep", "1e309*good", *P, *M, "--layers", "1",
                     "--coefficients", "1", "--prompt", "the king"], r"1e309 is not a finite"),
    ("intervene-head-99", ["heads", "intervene", "the king", *M, "--heads", "L0H99", "--action",
                           "scale", "--value", "0", *P], r"L0H99 not in tiny"),
    ("intervene-layer-99", ["heads", "intervene", "the king", *M, "--heads", "L99H0", "--action",
                            "scale", "--value", "0", *P], r"L99H0 not in tiny"),
    ("intervene-heads-garbage", ["heads", "intervene", "the king", *M, "--heads", "garbage",
                                 "--action", "scale", "--value", "0"], r"no heads in 'garbage'"),
    ("intervene-no-value", ["heads", "intervene", "the king", *M, "--heads", "L0H0", "--action",
                            "scale"], r"--action scale needs --value"),
    ("intervene-value-nan", ["heads", "intervene", "the king", *M, "--heads", "L0H0", "--action",
                             "scale", "--value", "nan"], r"--value: 'nan': must be a finite"),
    ("proj-run-id-text", ["project", "runs", "{project}", "--id", "x"],
     r"--id: invalid int value: 'x'"),
    ("successor-layer-99", ["heads", "successor", *M, "--head", "L99H0", "--max-number", "12"],
     r"--head L99H0: layer 99: this model has 3 layers"),
    ("successor-head-99", ["heads", "successor", *M, "--head", "L0H99", "--max-number", "12"],
     r"--head L0H99: head 99: this model has 4 heads"),
    ("successor-max-number-1", ["heads", "successor", *M, "--max-number", "1"],
     r"--max-number 1: give 2 to 100"),
    ("train-test-fraction-1", ["train", "vector", *M, "--task", "antonyms", "--test-fraction",
                               "1"], r"--test-fraction: '1': give a fraction between 0 and 1"),
    ("weights-sweep-test-fraction-0", ["weights", "sweep", "{missing}", "--coefficients", "1",
                                       "--test-fraction", "0"],
     r"--test-fraction: '0': give a fraction between 0 and 1"),
    ("train-task-missing-file", ["train", "vector", *M, "--task", "{missing}.jsonl", "--steps",
                                 "1"], r"does-not-exist\.jsonl: no such file"),
    # a figure path is checked before the run (these ran, then stopped with an internal error)
    ("figure-gif-successor", ["heads", "successor", *M, "--figure", "{out}.gif"],
     r"--figure: '.*\.gif': write the figure as \.png, \.svg or \.pdf"),
    ("figure-gif-axis", ["concepts", "axis", *M, "--items", "a,b", "--a-texts", "x",
                         "--b-texts", "y", "--site", "blocks.1.hook_resid_post", "--figure",
                         "{out}.gif"], r"--figure: '.*\.gif': write the figure as"),
    ("figure-gif-depth", ["concepts", "probe", *M, "--set", "sentiment", "--bits", "8",
                          "--figure", "{out}.gif"], r"--figure: '.*\.gif': write the figure as"),
    ("figure-gif-cones", ["diffusion", "cones", "demo:tiny-sd", "--concept", "dog", "--figure",
                          "{out}.gif"], r"--figure: '.*\.gif': write the figure as"),
    ("figure-no-folder", ["heads", "pattern", "the king", *M, "--layer", "0", "--head", "0",
                          "--figure", "{missing}/x.png"], r"does-not-exist does not exist"),
    ("cones-out-no-folder", ["diffusion", "cones", "demo:tiny-sd", "--concept", "dog", "--out",
                             "{missing}/x.json"], r"--out .*does-not-exist does not exist"),
]  # fmt: skip


def _argv(template: list[str], files: dict[str, str]) -> list[str]:
    import re

    def sub(m: re.Match) -> str:
        return files.get(m.group(1), m.group(0))

    return [re.sub(r"\{([\w.]+)\}", sub, a) for a in template]


@pytest.mark.parametrize(("case", "template", "message"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(case, template, message, files, capsys):
    import re

    before = project_digest(Path(files["project"]))
    rc = main(_argv(template, files))
    out, err = capsys.readouterr()
    text = out + err
    assert rc in (1, 2), f"{case}: exit code {rc}\n{text}"
    assert "Traceback" not in text
    assert "internal error" not in text, text
    assert re.search(message, text, re.S), f"{case}: {message!r} not in\n{text}"
    assert project_digest(Path(files["project"])) == before


def test_enough_cases():
    assert len(CLI_CASES) + len(API_CASES) >= 80


# ---------------------------------------------------------------------------- API cases
@pytest.fixture(scope="module")
def hm():
    from tiny import tiny_hooked

    return tiny_hooked("llama")


def _api_import(files, key, **kw):
    from workbench.io.vector_files import import_concept

    return import_concept(files[key], **kw)


def _steer(hm, vector, coefficient=1.0, site=SITE):
    from workbench.models.generation import SamplingSettings, steered_generate
    from workbench.models.interventions import AddVector

    iv = AddVector(site, vector=vector, coefficient=coefficient)
    return steered_generate(hm, "the king", [iv], SamplingSettings(max_new_tokens=2))


def _nan_vec() -> torch.Tensor:
    v = _vec(8)
    v[5] = float("nan")
    return v


def _evaluate(expr, **concepts):
    from workbench.concepts.algebra import evaluate

    return evaluate(expr, concepts)


def _canvas_term(coefficient):
    from ui.canvas_model import CanvasTerm

    return CanvasTerm("good", coefficient)


def _canvas_load(coefficient):
    from ui.canvas_model import CanvasModel

    CanvasModel().load({"terms": [{"concept": "good", "coefficient": coefficient}]})


def _project_import(files, key):
    from workbench.io.vector_files import import_concept

    with Project.open(files["project"]) as p:
        return p.import_concept(import_concept(files[key]))


def _sampling(**kw):
    from workbench.models.generation import SamplingSettings

    return SamplingSettings(**kw)


def _image_spec(**kw):
    from workbench.diffusion.generate import ImageSpec

    return ImageSpec(**kw)


def _ablate(hm, heads):
    from workbench.heads.ablation import ablation_scores_job
    from workbench.heads.data import TaskPrompts
    from workbench.jobs import run

    task = TaskPrompts(["the king is a", "I feel very"], [" man", " happy"], [" woman", " sad"])
    return run(ablation_scores_job(hm, task, heads=heads))


def _extract(hm, layers):
    from workbench.concepts.extraction import ExtractionSpec, extract_job
    from workbench.concepts.prompt_sets import resolve_prompt_set
    from workbench.jobs import run

    spec = ExtractionSpec("diff_of_means", layers=layers, prompts=resolve_prompt_set("sentiment"))
    return run(extract_job(hm, spec))


def _load(path):
    from workbench.models.loading import load_language_model

    return load_language_model(path, device="cpu")


API_CASES = [
    ("api-import-nan", lambda f, hm: _api_import(f, "nan.safetensors"), r"1 NaN value"),
    ("api-import-inf", lambda f, hm: _api_import(f, "inf.safetensors"), r"1 infinite value"),
    ("api-import-matrix", lambda f, hm: _api_import(f, "matrix.safetensors"), r"shape \[4, 32\]"),
    ("api-import-int64", lambda f, hm: _api_import(f, "int64.safetensors"), r"int64"),
    ("api-steer-nan", lambda f, hm: _steer(hm, _nan_vec()), r"NaN value\(s\) of 32 at " + SITE),
    ("api-steer-inf-coef", lambda f, hm: _steer(hm, _vec(1), float("inf")),
     r"coefficient for blocks\.1\.hook_resid_post is inf"),
    ("api-steer-nan-coef", lambda f, hm: _steer(hm, _vec(1), float("nan")), r"is nan"),
    ("api-steer-int64", lambda f, hm: _steer(hm, torch.arange(32)), r"dtype torch\.int64"),
    ("api-steer-matrix", lambda f, hm: _steer(hm, torch.randn(2, 32)), r"shape \(2, 32\)"),
    ("api-steer-narrow", lambda f, hm: _steer(hm, _vec(1, 16)), r"shape \(16,\)"),
    ("api-eval-overflow", lambda f, hm: _evaluate(
        "3e38*a + 3e38*a", a=Concept("a", {SITE: torch.ones(32) * 2}, REF)),
     r"infinite value\(s\) of 32 at blocks\.1"),
    ("api-eval-nan-concept", lambda f, hm: _evaluate(
        "a", a=Concept("a", {SITE: _nan_vec()}, REF)), r"NaN value"),
    ("api-eval-1e309", lambda f, hm: _evaluate("1e309*a", a=Concept("a", {SITE: _vec()}, REF)),
     r"1e309 is not a finite number"),
    ("api-canvas-nan", lambda f, hm: _canvas_term(float("nan")),
     r"canvas term 'good' has coefficient nan"),
    ("api-canvas-inf", lambda f, hm: _canvas_term(float("inf")), r"coefficient inf"),
    ("api-canvas-layout-nan", lambda f, hm: _canvas_load(float("nan")), r"coefficient nan"),
    ("api-canvas-layout-text", lambda f, hm: _canvas_load("lots"), r"coefficient 'lots'"),
    ("api-project-reimport-name", lambda f, hm: _project_import(f, "good_vec"),
     r"already has a concept named 'good'"),
    ("api-pattern-head-neg", lambda f, hm: __import__(
        "workbench.heads.patterns", fromlist=["x"]).head_pattern(hm, "the king", 0, -1),
     r"head -1: this model has heads 0\.\.3"),
    ("api-pattern-layer-99", lambda f, hm: __import__(
        "workbench.heads.patterns", fromlist=["x"]).attention_patterns(hm, "the king", [99]),
     r"layer 99: this model has layers 0\.\.2"),
    ("api-load-damaged", lambda f, hm: _load(f["truncated_tensors"]), r"damaged"),
    ("api-sampling-tokens", lambda f, hm: _sampling(max_new_tokens=-3),
     r"max_new_tokens is -3; give 0 or more"),
    ("api-sampling-temperature", lambda f, hm: _sampling(temperature=0.0),
     r"temperature is 0.0; give a number greater than 0"),
    ("api-sampling-top-p", lambda f, hm: _sampling(top_p=float("nan")), r"top_p is nan"),
    ("api-encode-too-long", lambda f, hm: hm.encode(["the king " * 100]),
     r"is 200 tokens, longer than the 128 tokens"),
    ("api-image-weight-nan", lambda f, hm: _image_spec(terms=((float("nan"), "castle"),)),
     r"not finite: nan for 'castle'"),
    ("api-image-guidance-inf", lambda f, hm: _image_spec(prompt="castle", guidance=float("inf")),
     r"not finite: guidance inf"),
    ("api-ablation-head-neg", lambda f, hm: _ablate(hm, [(0, -1)]),
     r"L0H-1: this model has layers 0\.\.2 and heads 0\.\.3"),
    ("api-extract-layer-neg", lambda f, hm: _extract(hm, [-1]),
     r"block -1 does not exist: blocks count from 0"),
    ("api-load-device", lambda f, hm: __import__(
        "workbench.models.loading", fromlist=["x"]).pick_device("gpu0"), r"device 'gpu0'"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "call", "message"), API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(case, call, message, files, hm):
    before = project_digest(Path(files["project"]))
    with pytest.raises(WorkbenchError, match=message):
        call(files, hm)
    assert project_digest(Path(files["project"])) == before


# --------------------------------------------------------------------- real subprocesses
def _run(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_subprocess_parse_error_and_clear_error(files):
    r = _run(["heads", "score", "--kind", "induction", "--n-seqs", "0"])
    assert r.returncode == 2 and "--n-seqs: '0'" in r.stderr and "Traceback" not in r.stderr
    before = project_digest(Path(files["project"]))
    r = _run(["project", "import", files["project"], files["nan.safetensors"], "--name", "n"])
    assert r.returncode == 1 and "NaN value(s)" in r.stderr and "Traceback" not in r.stderr
    assert project_digest(Path(files["project"])) == before


def test_subprocess_internal_error_goes_to_the_log(tmp_path):
    """An error nobody foresaw: one line naming the log file, the traceback in that file in
    the user's data folder, exit code 3."""
    code = (
        "import sys, workbench.cli.project as m\n"
        "def boom(args): raise RuntimeError('boom')\n"
        "m._info = boom\n"
        "import workbench.cli as c\n"
        "sys.exit(c.main(['project', 'info', 'x.wbproj']))\n"
    )
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("internal error: RuntimeError: boom; details written to ")
    log = Path(lines[0].rsplit("details written to ", 1)[1])
    assert log.parent == tmp_path / "data" / "logs"
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: boom" in text
    assert "command: workbench project info x.wbproj" in text


def test_in_process_internal_error(monkeypatch, capsys):
    import workbench.cli.project as project_cli
    from workbench.paths import data_dir

    monkeypatch.setattr(project_cli, "_info", lambda args: {}["missing"])
    assert main(["project", "info", "x.wbproj"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("internal error: KeyError: 'missing'; details written to ")
    log = Path(err.strip().rsplit("details written to ", 1)[1])
    assert log.parent == data_dir() / "logs" and "Traceback" in log.read_text()
