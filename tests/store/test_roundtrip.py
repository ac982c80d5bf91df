"""Every kind of record: written, closed, reopened, equal (tensors bit-exact)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from make_fixture import reference_records, write_records
from store_helpers import MODEL, assert_same_tensor, check_reference, make_concept

from workbench.concepts.concept import Concept, ModelRef
from workbench.errors import PromptSetError, WorkbenchError
from workbench.store import (
    NameTakenError,
    Project,
    ReadOnlyProjectError,
    RecordNotFoundError,
    migrate,
)
from workbench.store.db import NotJSONError


def test_every_record_kind_survives_close_and_reopen(project_path: Path) -> None:
    ref = reference_records()
    with Project.create(project_path) as project:
        write_records(project, ref)
        check_reference(project, ref)
    with Project.open(project_path) as project:
        assert not project.read_only
        check_reference(project, ref)
    with Project.open(project_path, read_only=True) as project:
        check_reference(project, ref)


@pytest.mark.parametrize(
    "tensor",
    [
        torch.randn(4096),
        torch.randn(64).half(),
        torch.randn(64).bfloat16(),
        torch.randn(3, 5, dtype=torch.float64),
        torch.randint(-128, 127, (7,), dtype=torch.int8),
        torch.tensor([True, False, True]),
        torch.tensor(2.5),  # 0-dim
        torch.empty(0, 8),  # no elements
        torch.randn(8, 6).t(),  # not contiguous
        torch.tensor([float("nan"), -0.0, float("inf"), -float("inf"), 1e-45]),
    ],
    ids=["f32", "f16", "bf16", "f64", "i8", "bool", "scalar", "empty", "transposed", "special"],
)
def test_tensors_are_bit_exact(project_path: Path, tensor: torch.Tensor) -> None:
    concept = Concept("c", {"blocks.0.hook_resid_post": tensor}, MODEL, {"method": "x"})
    with Project.create(project_path) as project:
        project.add_concept(concept)
        project.add_run("probe", "p", {}, {}, tensors={"w": tensor})
    with Project.open(project_path) as project:
        assert_same_tensor(tensor, project.load_concept("c").vectors["blocks.0.hook_resid_post"])
        assert_same_tensor(tensor, project.load_run(1).tensors["w"])


def test_stored_bytes_match_numpy_reference(project: Project) -> None:
    """The raw column is the little-endian array numpy would write (readable without torch)."""
    values = np.linspace(-1, 1, 16, dtype=np.float32)
    project.add_concept(Concept("c", {"s": torch.from_numpy(values.copy())}, MODEL))
    with project._engine.connect() as conn:
        data, dtype, shape = conn.exec_driver_sql(
            "SELECT data, dtype, shape FROM concept_vectors"
        ).one()
    assert (dtype, shape) == ("float32", "[16]")
    assert data == values.astype("<f4").tobytes()


def test_concept_infos_do_not_load_vectors(project: Project) -> None:
    a, b = make_concept("a", 1), make_concept("b", 2, dtype=torch.bfloat16)
    project.add_concepts([a, b])
    infos = project.concept_infos()
    assert [i.name for i in infos] == ["a", "b"]
    info = infos[1]
    assert info.id == b.id and info.model == MODEL.name and info.model_ref == MODEL
    assert info.sites == tuple(b.sites) and info.n_sites == 2 and info.method == "diff_of_means"
    assert info.dtypes == dict.fromkeys(b.sites, "bfloat16")
    assert info.norms == pytest.approx(b.norms(), rel=1e-6)  # as Concept.norms() says
    assert project.concept_names() == ["a", "b"]


def test_replace_rename_delete(project: Project) -> None:
    first = make_concept("happy", 1)
    project.add_concept(first)
    second = make_concept("happy", 2)  # same name, new id: replaces
    project.add_concept(second)
    assert [i.id for i in project.concept_infos()] == [second.id]
    with pytest.raises(NameTakenError, match="already has a concept named 'happy'"):
        project.add_concept(make_concept("happy", 3), replace=False)
    project.add_concept(make_concept("sad", 4))
    with pytest.raises(NameTakenError):
        project.rename_concept("sad", "happy")
    project.rename_concept(second.id, "joyful")
    assert project.load_concept("joyful").id == second.id
    project.delete_concept("joyful")
    assert project.concept_names() == ["sad"]
    with pytest.raises(RecordNotFoundError, match="No concept named 'joyful'.*'sad'"):
        project.load_concept("joyful")
    with project._engine.connect() as conn:  # its vectors went with it
        assert conn.exec_driver_sql("SELECT count(*) FROM concept_vectors").scalar() == 2


def test_batch_is_all_or_nothing(project: Project) -> None:
    project.add_concept(make_concept("kept", 1))
    batch = [make_concept("new", 2), make_concept("kept", 3)]
    with pytest.raises(NameTakenError):
        project.add_concepts(batch, replace=False)
    assert project.concept_names() == ["kept"]
    with pytest.raises(NameTakenError, match="two of the concepts"):
        project.add_concepts([make_concept("x", 1), make_concept("x", 2)])


def test_models_are_recorded_once_and_found_missing(project_path: Path) -> None:
    with Project.create(project_path) as project:
        project.add_model(MODEL, path="/not/on/this/machine", format="hf", config={"n": 2})
        project.add_concept(make_concept("a"))  # same ModelRef: no second record
        other = ModelRef("other", d_model=16)
        project.add_concept(Concept("b", {"s": torch.ones(16)}, other))
    with Project.open(project_path) as project:
        assert project.models() == [MODEL, other]
        record = project.model_records()[0]
        assert record.path_exists is False and record.config == {"n": 2}
        assert project.load_concept("a").model == MODEL  # opens and loads all the same


def test_prompt_sets(project: Project) -> None:
    items = [{"positive": "I love it", "negative": "I hate it"}]
    first = project.add_prompt_set("sentiment", "contrastive", items, source="typed")
    again = project.add_prompt_set("sentiment", "contrastive", items * 2)
    assert first == again and len(project.prompt_set("sentiment").items) == 2
    with pytest.raises(PromptSetError, match="kind"):
        project.add_prompt_set("bad", "nonsense", items)
    with pytest.raises(PromptSetError, match="list of dicts"):
        project.add_prompt_set("bad", "plain", ["just a string"])
    with pytest.raises(PromptSetError, match="meta="):
        project.add_prompt_set("bad", "plain", [{"text": "x", "_meta": {"poles": ["a", "b"]}}])
    project.delete_prompt_set("sentiment")
    with pytest.raises(RecordNotFoundError):
        project.prompt_set("sentiment")


def test_prompt_set_and_its_meta_round_trip(project: Project) -> None:
    from workbench.concepts.prompt_sets import PromptSet

    qa = PromptSet(
        "capitals",
        "demonstrations",
        inputs=["France", "Peru"],
        outputs=["Paris", "Lima"],
        template="Q: {input}\nA: {output}",
        separator="\n\n",
        description="country to capital",
        source="typed",
    )
    pairs = PromptSet(
        "tone", "contrastive", positive=["great"], negative=["awful"], poles=("up", "down")
    )
    seqs = PromptSet("days", "ordinal", sequences=[["Monday", "Tuesday"], ["one", "two", "three"]])
    for ps in (qa, pairs, seqs):
        project.save_prompt_set(ps)
        assert project.load_prompt_set(ps.name) == ps if ps.source else True
    stored = project.prompt_set("capitals")
    assert list(stored.items) == [
        {"input": "France", "output": "Paris"},
        {"input": "Peru", "output": "Lima"},
    ]  # prompts only: the template sits in its own column
    assert stored.meta["template"] == "Q: {input}\nA: {output}"
    assert project.load_prompt_set("tone").poles == ("up", "down")
    assert project.load_prompt_set("days").sequences == seqs.sequences
    assert project.load_prompt_set("tone").source == "typed"  # a set without a source was typed


def test_runs_generations_figures_notes_settings(project: Project) -> None:
    scores = torch.rand(2, 4)
    run_id = project.add_run(
        "head_scores", "ind", {"seq": 5}, {"best": np.float32(0.5)}, {"s": scores}
    )
    project.add_run("sweep", "coef", {"coefs": (1, 2)}, {"ok": True})
    assert [r.analysis for r in project.runs()] == ["head_scores", "sweep"]
    assert [r.name for r in project.runs("sweep")] == ["coef"]
    run = project.load_run(run_id)
    assert run.result == {"best": 0.5}  # numpy numbers are stored as plain numbers
    assert project.runs("sweep")[0].settings == {"coefs": [1, 2]}  # JSON: tuples are lists
    with pytest.raises(NotJSONError, match="Tensor"):
        project.add_run("bad", "x", {"t": torch.ones(1)}, {})
    assert len(project.runs()) == 2  # the failed one left nothing
    project.delete_run(run_id)
    with pytest.raises(RecordNotFoundError):
        project.load_run(run_id)

    g = project.add_generation(medium="image", prompt="p", provenance={"seed": 1}, image_png=b"png")
    listed = project.generations("image", images=False)[0]
    assert (listed.medium, listed.prompt, listed.provenance) == ("image", "p", {"seed": 1})
    assert listed.image_png is None and project.generations("image")[0].image_png == b"png"
    assert project.generations("text") == []
    with pytest.raises(ValueError, match="medium is one of text, image"):
        project.add_generation(medium="video", prompt="p", provenance={})
    project.delete_generation(g)

    fig = project.add_figure("f", {"kind": "bar"}, {"png": b"1", "svg": b"<svg/>"})
    assert project.figure_file(fig, "svg") == b"<svg/>"
    with pytest.raises(RecordNotFoundError, match="no 'pdf' file"):
        project.figure_file(fig, "pdf")

    note = project.add_note("text", title="t")
    project.update_note(note, text="new text")
    assert project.notes()[0].text == "new text"

    project.set_setting("layout", {"docks": ["a", "b"]})
    project.set_setting("geometry", b"\x00\xff")
    assert project.settings() == {"geometry": b"\x00\xff", "layout": {"docks": ["a", "b"]}}
    assert project.get_setting("missing", 3) == 3
    project.save_canvas("c", {"nodes": []})
    project.save_canvas("c", {"nodes": [1]})
    assert project.canvases() == {"c": {"nodes": [1]}}


def test_read_only_and_closed_projects_refuse_changes(project_path: Path) -> None:
    Project.create(project_path).close()
    with Project.open(project_path, read_only=True) as project:
        assert project.read_only and "as asked" in project.read_only_reason
        with pytest.raises(ReadOnlyProjectError, match="Save As"):
            project.add_note("x")
    project = Project.open(project_path)
    project.close()
    project.close()  # twice is fine
    with pytest.raises(WorkbenchError, match="closed"):
        project.notes()


def test_writers_in_several_threads(project: Project) -> None:
    def write(k: int) -> None:
        for i in range(10):
            project.add_note(f"{k}-{i}")

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(n.text for n in project.notes()) == sorted(
        f"{k}-{i}" for k in range(4) for i in range(10)
    )


def test_open_create_and_create_refuses_existing(project_path: Path) -> None:
    with Project.open(project_path, create=True) as project:
        assert project.schema_revision == migrate.HEAD == "0002" and project.upgraded_from is None
    with pytest.raises(WorkbenchError, match="already exists"):
        Project.create(project_path)
    assert not list(project_path.parent.glob(".*creating*"))
