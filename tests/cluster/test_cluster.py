"""Sweeps on a real local Ray cluster (a head and two workers on 127.0.0.1) against one
process: the same numbers in the same order and the same stored record; a cancel reaching
every worker; a killed worker's share run again on the other one."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import torch

from workbench.concepts.concept import Concept
from workbench.concepts.steering_sweep import SteeringSweepSpec, steering_sweep_job
from workbench.heads.ablation import ablation_scores_job, patching_scores_job
from workbench.heads.data import TaskPrompts
from workbench.jobs import Cancelled, run
from workbench.models.generation import SamplingSettings

pytestmark = pytest.mark.slow

TASK = TaskPrompts(
    ["the king is a", "I feel very", "Paris is the capital of", "the weather today is"],
    [" man", " happy", " France", " hot"],
    [" woman", " sad", " London", " cold"],
    ["the queen is a", "I feel not", "London is the capital of", "the film today is"],
)


def _concept(hm):
    g = torch.Generator().manual_seed(0)
    vecs = {f"blocks.{L}.hook_resid_post": torch.randn(hm.d_model, generator=g) for L in range(3)}
    return Concept("probe", vecs, hm.ref, {"method": "test"})


def _same_scores(a, b):
    assert a.kind == b.kind and a.settings == b.settings and a.model == b.model
    # bit for bit, not close (NaN: heads not scored)
    torch.testing.assert_close(a.scores, b.scores, rtol=0, atol=0, equal_nan=True)
    assert a.to_json() == b.to_json()  # the stored form: same numbers, same order


@pytest.mark.parametrize("max_rows", [4, 8])
def test_ablation_sweep_on_the_cluster_equals_one_process(cluster, tiny_hm, max_rows, tmp_path):
    one = run(ablation_scores_job(tiny_hm, TASK, max_rows=max_rows))
    reports = []
    two = run(
        ablation_scores_job(tiny_hm, TASK, max_rows=max_rows, cluster=cluster), reports.append
    )
    _same_scores(one, two)
    assert len(cluster.actors) == 2
    # progress summed over the workers reached the whole sweep
    last = reports[-1]
    assert last.total and last.done == last.total
    # stored by this process: the same record as one process stores
    from workbench.store import Project

    with Project.open(tmp_path / "p.wbproj", create=True) as project:
        a = project.load_run(one.save_to_project(project, "ablation"))
        b = project.load_run(two.save_to_project(project, "ablation"))

    assert (a.analysis, a.name, a.settings, a.result) == (b.analysis, b.name, b.settings, b.result)
    assert a.tensors.keys() == b.tensors.keys()
    for k in a.tensors:
        assert torch.equal(a.tensors[k], b.tensors[k])


def test_mean_ablation_and_patching_on_the_cluster_equal_one_process(cluster, tiny_hm):
    heads = [(2, 1), (0, 3), (1, 0), (0, 0), (2, 3)]  # a subset, out of order
    one = run(ablation_scores_job(tiny_hm, TASK, mode="mean", heads=heads, max_rows=4))
    two = run(ablation_scores_job(tiny_hm, TASK, mode="mean", heads=heads, max_rows=4,
                                  cluster=cluster))  # fmt: skip
    _same_scores(one, two)
    one = run(patching_scores_job(tiny_hm, TASK, positions="last", max_rows=4))
    two = run(patching_scores_job(tiny_hm, TASK, positions="last", max_rows=4, cluster=cluster))
    _same_scores(one, two)


def _sweep_spec(**kw):
    base = dict(
        layers=(0, 2), coefficients=(-4.0, 0.0, 3.0),
        prompts=("the king is", "I feel very happy and", "Paris is"),
        settings=SamplingSettings(max_new_tokens=5, stop_at_eos=False), targets=("queen",),
        max_rows=4,
    )  # fmt: skip
    base.update(kw)
    return SteeringSweepSpec(**base)


def test_steering_sweep_on_the_cluster_equals_one_process(cluster, tiny_hm):
    concept = _concept(tiny_hm)
    spec = _sweep_spec(answers=("man", "sad", "France"))
    one_reports, two_reports = [], []
    one = run(steering_sweep_job(tiny_hm, concept, spec), one_reports.append)
    two = run(steering_sweep_job(tiny_hm, concept, spec, cluster=cluster), two_reports.append)
    assert two.to_dict() == one.to_dict()  # texts, metrics, baselines: same values, same order
    assert two.token_ids == one.token_ids
    # the cells are reported with the same payloads, in the same order
    cells = lambda rs: [r.payload for r in rs if r.payload is not None]  # noqa: E731
    assert cells(two_reports) == cells(one_reports)


POS = [
    "I love this",
    "a very good day",
    "she is happy",
    "great and good",
    "we love it",
    "a happy man",
    "the good king",
    "love is great",
]
NEG = ["I hate this", "a very bad day", "she is sad", "terrible and bad", "we hate it",
       "a sad man", "the bad king", "hate is terrible"]  # fmt: skip


@pytest.mark.parametrize("method", ["diff_of_means", "pca_diff", "probe"])
def test_extraction_on_the_cluster_equals_one_process(cluster, tiny_hm, method):
    from workbench.concepts.extraction import ExtractionSpec, extract_job
    from workbench.concepts.prompt_sets import PromptSet

    ps = PromptSet("tiny", "contrastive", positive=POS, negative=NEG)
    spec = ExtractionSpec(method, layers=[0, 2], prompts=ps, batch_size=3, position="mean")
    one = run(extract_job(tiny_hm, spec))
    two = run(extract_job(tiny_hm, spec, cluster=cluster))  # 16 prompts: 6 batches on 2 workers
    assert one.vectors.keys() == two.vectors.keys()
    for site in one.vectors:
        assert torch.equal(one.vectors[site], two.vectors[site]), site
    assert one.recipe == two.recipe


def test_probing_on_the_cluster_equals_one_process(cluster, tiny_hm):
    from workbench.concepts.probing import probe_layers_job
    from workbench.concepts.prompt_sets import PromptSet

    ps = PromptSet("tiny", "contrastive", positive=POS, negative=NEG)
    one = run(probe_layers_job(tiny_hm, ps, folds=4, batch_size=4))
    two = run(probe_layers_job(tiny_hm, ps, folds=4, batch_size=4, cluster=cluster))
    assert two == one


def _long_sweep(hm):
    """A sweep that keeps both workers busy for a few seconds."""
    return _concept(hm), _sweep_spec(
        layers=(0, 1, 2), coefficients=tuple(float(c) for c in range(-6, 7)), max_rows=2,
        settings=SamplingSettings(max_new_tokens=40, stop_at_eos=False), targets=(),
    )  # fmt: skip


def test_cancel_reaches_every_worker(cluster, tiny_hm):
    concept, spec = _long_sweep(tiny_hm)
    job = steering_sweep_job(tiny_hm, concept, spec, cluster=cluster)
    started = threading.Event()

    def progress(p):
        if p.total and p.done > 0:
            started.set()

    t0 = None

    def cancel():
        nonlocal t0
        if started.is_set() and t0 is None:
            t0 = time.monotonic()
        return started.is_set()

    with pytest.raises(Cancelled):
        run(job, progress, cancel)
    took = time.monotonic() - t0
    import ray

    states = ray.get([a.state.remote() for a in cluster.actors], timeout=30)
    # both workers were running their share and stopped it themselves, within seconds
    assert cluster.last_cancel["busy"] == 2 and cluster.last_cancel["killed"] == 0
    assert states == ["cancelled", "cancelled"]
    assert took < 10
    # the workers are free again: the next sweep runs on them
    one = run(ablation_scores_job(tiny_hm, TASK, max_rows=4))
    two = run(ablation_scores_job(tiny_hm, TASK, max_rows=4, cluster=cluster))
    _same_scores(one, two)


def test_a_killed_worker_is_retried_once_on_another(cluster, tiny_hm):
    import ray

    concept, spec = _long_sweep(tiny_hm)
    spec = _sweep_spec(
        layers=(0, 1, 2), coefficients=(-6.0, -3.0, 0.0, 3.0, 6.0), max_rows=2,
        settings=SamplingSettings(max_new_tokens=20, stop_at_eos=False),
    )  # fmt: skip
    one = run(steering_sweep_job(tiny_hm, concept, spec))
    cluster.workers_for(tiny_hm)
    pid = ray.get(cluster.actors[1].pid.remote())
    killed = []

    def progress(p):
        if p.total and p.done > 0 and not killed:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    two = run(steering_sweep_job(tiny_hm, concept, spec, cluster=cluster), progress)
    assert killed
    assert sorted(cluster.last_run["attempts"]) == [1, 2]  # the dead worker's share ran again
    assert len(cluster.last_run["deaths"]) == 1
    assert two.to_dict() == one.to_dict()
    assert two.token_ids == one.token_ids


def test_errors_in_a_worker_reach_the_user_as_in_one_process(cluster, tiny_hm):
    from workbench.errors import SiteError

    with pytest.raises(SiteError, match="this model has layers"):
        run(ablation_scores_job(tiny_hm, TASK, heads=[(7, 0)], cluster=cluster))


def test_when_every_worker_dies_the_job_fails_saying_so(cluster, tiny_hm, tmp_path):
    import ray

    from workbench.cluster import ClusterError

    for a in cluster.workers_for(tiny_hm):
        os.kill(ray.get(a.pid.remote()), signal.SIGKILL)
    reports = []
    with pytest.raises(ClusterError, match="died.*nothing was stored"):
        run(ablation_scores_job(tiny_hm, TASK, max_rows=4, cluster=cluster), reports.append)
    assert not cluster.actors  # forgotten: the next job starts new workers
    one = run(ablation_scores_job(tiny_hm, TASK, max_rows=4))
    _same_scores(one, run(ablation_scores_job(tiny_hm, TASK, max_rows=4, cluster=cluster)))


def test_cancel_while_the_models_load_stops_the_new_workers(ray_head, cluster, tiny_hm):
    """Two more workers on a head whose two CPUs are taken: they wait to start, the job reports
    that it is loading; a cancel then stops them, and the cluster is left as it was."""
    import ray

    from workbench.cluster import Cluster

    cluster.workers_for(tiny_hm)  # the module's two workers hold both CPUs
    other = Cluster(ray_head, workers=2, threads=1).open()  # this process's connection
    reports = []
    loading = lambda: any("loading the model" in r.message for r in reports)  # noqa: E731
    with pytest.raises(Cancelled):
        run(ablation_scores_job(tiny_hm, TASK, cluster=other), reports.append, loading)
    assert not other.actors
    other.close()
    one = run(ablation_scores_job(tiny_hm, TASK, max_rows=4))
    _same_scores(one, run(ablation_scores_job(tiny_hm, TASK, max_rows=4, cluster=cluster)))
    assert len(ray.get([a.pid.remote() for a in cluster.actors], timeout=30)) == 2
