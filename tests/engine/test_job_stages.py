"""A job made of parts reports one monotonic 0-100 % scale (issue 18 item 6: function-vector
head scoring's "block 12/30 … block 1/30" jumped back and forth)."""

from __future__ import annotations

from tiny import tiny_hooked

from workbench.jobs import Progress, in_stages, run


def _parts():
    for name, n in (("clean run", 4), ("corrupted run", 4), ("patches", 10)):
        yield Progress(0, n, name)
        for i in range(1, n + 1):
            yield Progress(i, n, f"{name}: block {i}/{n}", payload=(name, i))
    return "result"


def test_parts_become_one_scale_that_never_goes_back():
    seen: list[Progress] = []
    out = run(in_stages(_parts(), ("clean run", "corrupted run", "patches")), seen.append)
    assert out == "result"
    done = [p.done for p in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 100
    assert {p.total for p in seen} == {100.0}
    assert seen[-1].message == "stage 3 of 3, patches: block 10/10"
    # the middle of the second part is halfway through its third of the whole
    mid = next(p for p in seen if p.message == "stage 2 of 3, corrupted run: block 2/4")
    assert abs(mid.done - 100 * (1 + 0.5) / 3) < 0.01
    assert [p.payload for p in seen if p.payload][:2] == [("clean run", 1), ("clean run", 2)]


def test_function_vector_head_scoring_reports_one_scale():
    from tiny import OPPOSITE_PAIRS

    from workbench.heads.function_vector import ICLTask, fv_head_scores_job, icl_prompts

    hm = tiny_hooked("llama")
    prompts = icl_prompts(ICLTask("opposites", OPPOSITE_PAIRS), n_prompts=4, n_shots=3)
    seen: list[Progress] = []
    run(fv_head_scores_job(hm, prompts), seen.append)
    done = [p.done for p in seen]
    assert done == sorted(done) and done[-1] == 100 and {p.total for p in seen} == {100.0}
    assert any(p.message.startswith("stage 3 of 3") for p in seen)
