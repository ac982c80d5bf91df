"""A job that reads a prompt set asks the app state (not the Prompts dock) whether the set as
shown is saved: the dock writes a pending edit when the state asks, and records a table that
cannot be saved there. The sweep refuses such a set like the extraction does."""

from __future__ import annotations

import pytest
import torch
from ui_helpers import TINY_PAIRS, wait_idle

from workbench.concepts.concept import Concept
from workbench.errors import PromptSetError


def test_the_state_flushes_pending_edits_and_refuses_an_unsaved_table(qtbot, loaded_window):
    w = loaded_window
    st, dock = w.ctx.state, w.prompts_dock
    dock.create_set("tiny-sentiment", "contrastive", TINY_PAIRS)
    wait_idle(qtbot, w.ctx)
    dock.table.item(0, 0).setText("I feel wonderful today")  # a pending (timed) save
    st.check_prompt_set_saved("tiny-sentiment")  # written now, before the job reads it
    assert st.prompt_set("tiny-sentiment")["set"].positive[0] == "I feel wonderful today"
    dock.table.selectAll()
    dock.remove_rows()
    with pytest.raises(PromptSetError, match="not saved"):
        st.check_prompt_set_saved("tiny-sentiment")
    assert "tiny-sentiment" in st.prompt_set_problems
    # the sweep reads the set through the same check: a message, nothing started
    hm = st.model().hm
    w.library_dock.add_concept(
        Concept("v", {"blocks.1.hook_resid_post": torch.randn(hm.d_model)}, hm.ref)
    )
    sweep = w.view("sweep")
    sweep.form.concept = "v"
    sweep.prompt_source.setCurrentIndex(sweep.prompt_source.findData("tiny-sentiment"))
    sweep.layers.setText("1")
    n = len(w.ctx.errors.history)
    assert sweep.run() is None
    assert len(w.ctx.errors.history) == n + 1 and "not saved" in str(w.ctx.errors.history[-1])
    dock.add_row()  # fixed: the problem is gone from the state
    dock.table.item(0, 0).setText("I am glad")
    dock.table.item(0, 1).setText("I am sad")
    st.check_prompt_set_saved("tiny-sentiment")
    assert "tiny-sentiment" not in st.prompt_set_problems
