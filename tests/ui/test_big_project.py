"""A project with 20,000 generations opens in the window and lists them newest first, a page at
a time (issue 19: the old dock built one widget item per cell and the binding bug aborted)."""

from __future__ import annotations

import pytest
from ui_helpers import make_window

N = 20_000


def _generation(k: int) -> dict:
    return {
        "medium": "text",
        "prompt": f"prompt {k}",
        "baseline": f"baseline {k}",
        "steered": f"steered {k}" + (" needle" if k % 1000 == 7 else ""),
        "provenance": {
            "model": {"name": "tiny"},
            "concept": {"name": f"concept {k % 50}"},
            "sites": [f"blocks.{k % 4}.hook_resid_post"],
            "coefficient": float(k % 9 - 4),
            "seed": k,
        },
    }


@pytest.fixture(scope="module")
def big_project(tmp_path_factory):
    from workbench.store import Project

    path = tmp_path_factory.mktemp("big") / "big.wbproj"
    with Project.create(path) as p:
        assert p.add_generations(_generation(k) for k in range(1, N + 1)) == N  # one transaction
    return path


def test_opens_with_20000_generations_newest_first(qtbot, big_project):
    w = make_window(qtbot, project=big_project)
    dock = w.view("generations")
    assert w.ctx.state.project.count_generations() == N
    assert 0 < dock.row_count() < N  # a page, not a widget per cell for every row
    assert [dock.text(r, "id") for r in range(3)] == ["20000", "19999", "19998"]
    assert dock.text(0, "prompt") == "prompt 20000" and dock.text(0, "concept") == "concept 0"
    # scrolling to the end reads the next page
    shown = dock.row_count()
    dock.table.scrollToBottom()
    qtbot.waitUntil(lambda: dock.row_count() > shown)
    assert dock.text(shown, "id") == str(N - shown)

    # a search runs in the store, off the GUI thread
    dock.search.setText("NEEDLE")
    dock.apply_search()
    qtbot.waitUntil(lambda: not dock.model.busy and dock.row_count() == N // 1000)
    assert dock.text(0, "id") == "19007" and dock.text(19, "id") == "7"
    # sorting by a column is done in SQL too
    dock.search.setText("")
    dock.apply_search()
    dock.table.sortByColumn(4, dock.table.horizontalHeader().sortIndicatorOrder().AscendingOrder)
    qtbot.waitUntil(lambda: not dock.model.busy and dock.row_count() > 0)
    assert dock.text(0, "coefficient") == "-4.0" and dock.text(0, "id") == "9"
    dock.table.sortByColumn(0, dock.table.horizontalHeader().sortIndicatorOrder().DescendingOrder)
    qtbot.waitUntil(lambda: not dock.model.busy and dock.text(0, "id") == "20000")


def test_a_new_generation_is_one_new_row(qtbot, big_project, tmp_path):
    import shutil

    from ui.docks.generations_dock import generations_changed

    path = tmp_path / "copy.wbproj"
    shutil.copyfile(big_project, path)
    w = make_window(qtbot, project=path)
    dock = w.view("generations")
    shown = dock.row_count()
    resets, inserted = [], []
    dock.model.modelReset.connect(lambda: resets.append(1))
    dock.model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    gid = w.ctx.state.project.add_generation(
        prompt="the newest", steered="yes", provenance={"concept": {"name": "new"}}
    )
    generations_changed(w.ctx, gid)
    assert not resets and inserted == [(0, 0)]
    assert dock.row_count() == shown + 1 and dock.text(0, "id") == str(N + 1)
    assert dock.text(0, "prompt") == "the newest" and dock.text(1, "id") == str(N)
