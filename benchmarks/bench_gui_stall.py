"""How long the GUI thread stalls while a model loads and a steered preview streams (the checks
that used to be timing asserts in tests/ui/test_load_preview.py; tests assert no times).

    python benchmarks/bench_gui_stall.py [--repeat 3]

The window runs offscreen on a tiny random Llama (built from a config, nothing downloaded). A
5 ms heartbeat timer on the GUI thread measures the longest gap between its ticks (the longest
time the window could not repaint or take a click) during: **load** (Models dock, through the
real loader on the executor's worker), and **preview** (a steered generation of 8 tokens whose
tokens stream into the Preview panel). Target: every stall < 100 ms. Each phase is repeated and
its worst stall reported. Results: ``benchmarks/results/gui_stall.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import report, save_results, setup_threads  # noqa: E402

TARGET_S = 0.1
PAIRS = [
    ["I feel very happy today", "I feel very sad today"],
    ["this movie is good", "this movie is bad"],
    ["I love the food", "I hate the food"],
    ["the weather is nice", "the weather is awful"],
]


def _tiny_model(folder: Path) -> Path:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from tiny import tiny_hf_model, tiny_tokenizer

    tiny_hf_model("llama").save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    setup_threads()
    from _window import Heartbeat, close_window, make_window, wait_until

    with tempfile.TemporaryDirectory() as tmp:
        folder = _tiny_model(Path(tmp) / "tiny-llama")
        w = make_window()
        ctx = w.ctx

        def idle() -> bool:
            return not ctx.executor.busy

        load_stalls, preview_stalls = [], []
        for i in range(args.repeat):
            for m in ctx.state.models:  # the window holds two models at most: load into none
                ctx.state.remove_model(m.key)
            hb = Heartbeat()
            with hb:
                w.models_dock.load(str(folder))
                wait_until(lambda: bool(ctx.state.models) and idle(), 600, "the load")
            load_stalls.append(hb.max_gap)
            if i == 0:
                w.prompts_dock.create_set("bench-sentiment", "contrastive", PAIRS)
                n = ctx.state.model().hm.n_layers
                sites = [f"blocks.{layer}.hook_resid_post" for layer in range(n)]
                w.library_dock.extract("bench-sentiment", "diff_of_means", sites, name="happy")
                wait_until(lambda: ctx.state.concept_info("happy") is not None and idle(), 600)
            preview = w.view("preview")
            preview.vector.setCurrentText("happy")
            preview.site.setCurrentText("blocks.1.hook_resid_post")
            preview.coef.setValue(8.0)
            preview.prompt.setPlainText("I feel")
            preview.sampling.max_tokens.setValue(8)
            hb = Heartbeat()
            with hb:
                preview.last = None
                preview.generate()
                wait_until(lambda p=preview: p.last is not None and idle(), 600, "the preview")
            preview_stalls.append(hb.max_gap)
        close_window(w)
    report("gui.stall_load_model (worst)", max(load_stalls) * 1e3, "ms", "< 100 ms")
    report("gui.stall_steered_preview (worst)", max(preview_stalls) * 1e3, "ms", "< 100 ms")
    report("gui.stall_load_model (median)", statistics.median(load_stalls) * 1e3, "ms")
    report("gui.stall_steered_preview (median)", statistics.median(preview_stalls) * 1e3, "ms")
    save_results(
        "gui_stall",
        " ".join(["python benchmarks/bench_gui_stall.py", *argv])
        if argv
        else "python3 bootstrap.py bench gui_stall",
        notes=f"A tiny random Llama, QPA offscreen, {args.repeat} repetitions of each phase.",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
