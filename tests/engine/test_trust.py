"""No wrong number, no lost concept: steering never touches the baseline row, a re-import keeps
both concepts, negative indices are labelled with what they resolve to, a cancel reaches the
setup passes of ablation and patching sweeps, and leftovers of a killed Save As are removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from tiny import tiny_hooked

from workbench.cli import main
from workbench.concepts.concept import Concept, ModelRef
from workbench.jobs import Cancelled, run
from workbench.models.generation import SamplingSettings, generate_job
from workbench.models.interventions import AddVector
from workbench.store import Project

SITE = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def hm():
    return tiny_hooked("llama")


@pytest.fixture
def model_dir(tiny_llama_dir):
    return str(tiny_llama_dir)


# ------------------------------------------------------------------ a steered row stays apart
def test_add_vector_selects_rows_with_where():
    """NaN in the vector: the steered row is NaN, the unsteered row is the input bit for bit
    (a 0/1 mask times NaN would have made it NaN too)."""
    x = torch.randn(2, 5, 8)
    v = torch.randn(8)
    v[2] = float("nan")
    mask = torch.tensor([[False] * 5, [True] * 5])
    out = AddVector(SITE, vector=v, coefficient=3.0).apply(x, mask)
    assert torch.equal(out[0].view(torch.int32), x[0].view(torch.int32))
    assert torch.isnan(out[1]).any()


def test_overflowing_steered_row_leaves_the_baseline_bit_for_bit(hm):
    """A finite vector times a finite coefficient that overflows float32 turns the steered row
    into inf/NaN; the baseline row's logits at every step equal an unsteered run's exactly."""
    prompt, s = "the king is", SamplingSettings(max_new_tokens=4)
    huge = AddVector(SITE, vector=torch.full((32,), 1e30), coefficient=1e10, rows=[1])
    steered = run(generate_job(hm, [prompt, prompt], [huge], s, return_logits=True))
    plain = run(generate_job(hm, [prompt, prompt], [], s, return_logits=True))
    assert not torch.isfinite(steered.step_logits[:, 1]).all()  # the steered row blew up
    a, b = steered.step_logits[:, 0], plain.step_logits[:, 0]
    assert torch.equal(a.view(torch.int32), b.view(torch.int32))
    assert steered.texts[0] == plain.texts[0]


# -------------------------------------------------------------------- re-import keeps both
def _exported(tmp_path):
    from workbench.io.vector_files import export_concept

    c = Concept("happy", {SITE: torch.randn(32)}, ModelRef("tiny", d_model=32))
    return c, export_concept(c, tmp_path / "happy.safetensors")


def test_reimport_under_another_name_keeps_both(tmp_path, capsys):
    original, path = _exported(tmp_path)
    proj = tmp_path / "p.wbproj"
    assert main(["project", "import", str(proj), str(path)]) == 1  # no project yet: refused
    with Project.open(proj, create=True):
        pass
    assert main(["project", "import", str(proj), str(path)]) == 0
    assert main(["project", "import", str(proj), str(path), "--name", "happy again"]) == 0
    with Project.open(proj) as p:
        infos = {i.name: i.id for i in p.concept_infos()}
        first, second = p.load_concept("happy"), p.load_concept("happy again")
    assert set(infos) == {"happy", "happy again"}
    assert first.id == original.id and second.id != original.id  # the second got a new id
    assert torch.equal(first.vectors[SITE], original.vectors[SITE])
    assert torch.equal(second.vectors[SITE], original.vectors[SITE])
    # the same name again is refused, naming the concept that has it; nothing changes
    capsys.readouterr()
    assert main(["project", "import", str(proj), str(path)]) == 1
    err = capsys.readouterr().err
    assert "already has a concept named 'happy'" in err and original.id[:8] in err
    with Project.open(proj) as p:
        assert len(p.concept_infos()) == 2


def test_api_import_concept_never_replaces(tmp_path):
    from workbench.io.vector_files import import_concept
    from workbench.store.errors import NameTakenError

    original, path = _exported(tmp_path)
    with Project.open(tmp_path / "p.wbproj", create=True) as p:
        a = p.import_concept(import_concept(path))
        b = p.import_concept(import_concept(path, name="copy"))
        with pytest.raises(NameTakenError, match="'copy'"):
            p.import_concept(import_concept(path, name="copy"))
        assert a.id == original.id and b.id != a.id
        assert sorted(p.concept_names()) == ["copy", "happy"]


# ------------------------------------------------------------ negative indices, right labels
def test_pattern_head_minus_one_is_labelled_with_the_head_it_is(model_dir, capsys):
    assert main(["heads", "pattern", "the king is", "--model", model_dir, "--layer", "-1",
                 "--head", "-1"]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    got = json.loads(out)
    assert (got["layer"], got["head"]) == (2, 3)  # 3 layers, 4 heads
    assert "is L2H3" in err
    assert main(["heads", "pattern", "the king is", "--model", model_dir, "--layer", "2",
                 "--head", "3"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["pattern"] == got["pattern"]


# ------------------------------------------------------------------- cancel in setup passes
def _cancel_in_setup(hm, job, label: str) -> list[int]:
    """Cancel as soon as the setup pass ``label`` reports its first block, with block 1 held
    back for a moment so the cancel request lands while the pass is under way; returns which
    blocks ran to their end afterwards."""
    finished: list[int] = []
    cancel_at: list[int] = []

    def hold(m, args):
        # the pass reaches block 1 only once the cancel was asked for (and the job closed)
        deadline = time.monotonic() + 10
        while not cancel_at and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)

    def done(L):
        return lambda m, i, o: finished.append(L) if cancel_at else None

    handles = [hm.adapter.block(1).register_forward_pre_hook(hold)]
    handles += [hm.adapter.block(L).register_forward_hook(done(L)) for L in range(hm.n_layers)]

    def should_cancel() -> bool:
        return bool(cancel_at)

    def on_progress(p) -> None:
        if label in p.message and not cancel_at:
            cancel_at.append(p.done)

    try:
        with pytest.raises(Cancelled):
            run(job, on_progress=on_progress, should_cancel=should_cancel)
    finally:
        for h in handles:
            h.remove()
    return finished


# Words inside the tiny model's vocabulary (the built-in sets' words are not all there, and an
# unknown target word is refused).
def _tiny_task():
    from workbench.heads.data import TaskPrompts

    return TaskPrompts(
        ["the king is a", "I feel very", "Paris is the capital of", "the weather today is"],
        [" man", " happy", " France", " hot"],
        [" woman", " sad", " London", " cold"],
        ["the queen is a", "I feel not", "London is the capital of", "the film today is"],
    )


_TINY_TASK = _tiny_task()


def test_cancel_reaches_the_ablation_reference_pass(hm):
    from workbench.heads.ablation import ablation_scores_job

    job = ablation_scores_job(hm, _TINY_TASK, mode="mean")
    finished = _cancel_in_setup(hm, job, "reference run")
    assert 1 not in finished and 2 not in finished  # stopped before block 1 ran


def test_cancel_reaches_the_patching_setup(hm):
    from workbench.heads.ablation import patching_scores_job

    job = patching_scores_job(hm, _TINY_TASK)
    finished = _cancel_in_setup(hm, job, "clean run")
    assert 1 not in finished and 2 not in finished


def test_setup_pass_errors_reach_the_caller(hm):
    from workbench.heads._model import blockwise_job

    def bad() -> None:
        raise ValueError("inside the pass")

    with pytest.raises(ValueError, match="inside the pass"):
        run(blockwise_job(hm, bad, "x"))


# ------------------------------------------------------------------ leftovers of Save As
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_leftover_saving_files_are_removed_on_open_and_save(tmp_path):
    target = tmp_path / "study.wbproj"
    with Project.open(target, create=True):
        pass
    dead = tmp_path / f".study.wbproj.{_dead_pid()}-0123abcd.saving"
    dead_other = tmp_path / f".gone.wbproj.{_dead_pid()}-0123abcd.saving"  # a target never made
    old = tmp_path / ".study.wbproj.89abcdef.saving"  # written by an older version
    recent_old = tmp_path / ".other.wbproj.11111111.saving"  # perhaps being written right now
    live = tmp_path / f".study.wbproj.{os.getppid()}-fedcba98.saving"  # a save under way
    unrelated = tmp_path / ".notes.txt"
    for f in (dead, dead_other, old, recent_old, live, unrelated):
        f.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    with Project.open(target):
        pass
    assert not dead.exists() and not dead_other.exists() and not old.exists()
    assert live.exists() and recent_old.exists() and unrelated.exists()
    # Save As cleans the target's folder too
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dead2 = elsewhere / f".copy.wbproj.{_dead_pid()}-00000000.saving"
    dead2.write_bytes(b"x")
    with Project.open(target) as p:
        p.copy_to(elsewhere / "copy.wbproj")
    assert not dead2.exists() and (elsewhere / "copy.wbproj").exists()
    assert [f.name for f in elsewhere.glob(".*")] == []


def test_a_save_as_killed_midway_leaves_nothing_after_the_next_open(tmp_path):
    """A real kill -9 while the copy is being written: the hidden temporary stays behind, and
    the next open of a project in that folder removes it; the source is intact."""
    src = tmp_path / "study.wbproj"
    with Project.open(src, create=True) as p:
        p.add_concept(Concept("happy", {SITE: torch.randn(32)}, ModelRef("m", d_model=32)))
    code = (
        "import sys, time\n"
        "import workbench.store.db as db\n"
        "from workbench.store import Project\n"
        "real = db.backup\n"
        "def slow(conn, tmp):\n"
        "    real(conn, tmp)\n"
        "    print('written', flush=True)\n"
        "    time.sleep(120)\n"
        "db.backup = slow\n"
        f"Project.open({str(src)!r}).copy_to({str(tmp_path / 'copy.wbproj')!r})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        proc.kill()
        proc.wait()
    leftovers = list(tmp_path.glob(".copy.wbproj.*.saving"))
    assert len(leftovers) == 1 and not (tmp_path / "copy.wbproj").exists()
    with Project.open(src) as p:
        assert p.concept_names() == ["happy"]
    assert not leftovers[0].exists()


# ------------------------------------------------------------------------ attention sink
def test_one_token_demonstrations_are_read_after_a_start_token(hm):
    from workbench.concepts.extraction import ExtractionSpec, extract_job
    from workbench.concepts.norm_check import off_first_token
    from workbench.concepts.prompt_sets import PromptSet

    texts, prefix = off_first_token(hm, ["hot", "cold"])
    assert prefix == "<bos>" and texts == ["<bos>hot", "<bos>cold"]
    assert off_first_token(hm, ["the king", "a queen"]) == (["the king", "a queen"], "")
    demos = PromptSet("opp", "demonstrations", inputs=["hot", "big"], outputs=["cold", "small"])
    c = run(extract_job(hm, ExtractionSpec("icv", layers=[1], prompts=demos)))
    assert c.recipe["context_prefix"] == "<bos>"


def test_a_vector_far_above_the_sites_norm_gets_a_warning(hm):
    from workbench.concepts.norm_check import norm_warnings, site_norms

    typical = site_norms(hm, [SITE])[SITE]
    assert not norm_warnings(hm, {SITE: torch.ones(32) * typical / 32**0.5})
    (w,) = norm_warnings(hm, {SITE: torch.ones(32) * 50 * typical})
    assert SITE in w and "typical activation norm" in w and "attention sink" in w


def test_project_concepts_json_has_no_python_repr(tmp_path, capsys):
    proj = tmp_path / "p.wbproj"
    with Project.open(proj, create=True) as p:
        p.add_concept(Concept("a", {SITE: torch.randn(32)}, ModelRef("m", d_model=32)))
    assert main(["project", "concepts", str(proj), "--json"]) == 0
    out = capsys.readouterr().out
    assert "ModelRef(" not in out
    (info,) = json.loads(out)
    assert info["model_ref"]["d_model"] == 32 and info["model_ref"]["name"] == "m"
