"""A long window session: 20,000 UI actions in one process (issue 19).

    python benchmarks/bench_soak.py [--actions 20000]

The window runs offscreen on a tiny random Llama (built from a config, nothing downloaded) with
a scratch project holding six concepts. The actions repeat in turn: **select** a concept in the
library (its details and logit lens follow), **refresh** the project's lists, **edit a
coefficient** on the vector canvas, **undo** it, and **generate** a steered preview of two
tokens (kept in the project and shown in the Generations dock). The session runs in a child
process, so an abort (PySide6 6.12.0's ``none_dealloc``) is reported, not suffered.

Reported: whether it finished, ``sys.getrefcount(None)`` before and after (it must not fall),
and resident memory after a warm-up against the end (target: growth under 5%). Figures are kept
in ``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

GROWTH_TARGET = 0.05
KINDS = ("select", "refresh", "edit_coefficient", "undo", "generate")


def _tiny_model(folder: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny import tiny_hf_model, tiny_tokenizer

    tiny_hf_model("llama").save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def _concepts(m: Any, n: int) -> list[Any]:
    import torch

    from workbench.concepts.concept import Concept

    gen = torch.Generator().manual_seed(0)
    sites = [f"blocks.{layer}.hook_resid_post" for layer in range(m.hm.n_layers)]
    return [
        Concept(
            f"soak {i}",
            {s: torch.randn(m.hm.d_model, generator=gen) for s in sites},
            m.ref,
            {"method": "diff_of_means"},
        )
        for i in range(n)
    ]


def child(actions: int, out_path: Path) -> None:
    """The session itself (in its own process)."""
    import gc

    from _window import make_window, rss_mib, spin, wait_until

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_DATA_DIR"] = str(Path(tmp) / "data")
        os.environ["WORKBENCH_CONFIG_DIR"] = str(Path(tmp) / "config")
        model_dir = _tiny_model(Path(tmp) / "tiny-llama")
        w = make_window()
        ctx = w.ctx
        w.models_dock.load(str(model_dir))
        wait_until(lambda: ctx.state.model() is not None and not ctx.executor.busy, 300, "model")
        m = ctx.state.model()
        concepts = _concepts(m, 6)
        ctx.project.write("saving", lambda: ctx.state.project.add_concepts(concepts))
        ctx.project.refresh()
        names = [c.name for c in concepts]
        canvas, preview, gens = w.view("canvas"), w.view("preview"), w.view("generations")
        canvas.add_term(names[0], 1.0)
        if not canvas.model.terms:
            raise SystemExit(
                f"the canvas took no term; errors: {getattr(ctx.errors, 'history', '')}"
            )
        preview.vector.setCurrentText(names[1])
        preview.site.setCurrentText(f"blocks.{m.hm.n_layers - 1}.hook_resid_post")
        preview.coef.setValue(4.0)
        preview.prompt.setPlainText("I feel")
        preview.sampling.max_tokens.setValue(2)
        spin(0.5)
        base = ctx.undo.index()

        def idle() -> None:
            wait_until(lambda: not ctx.executor.busy, 120, "the executor")

        def act(i: int) -> None:
            kind = KINDS[i % len(KINDS)]
            if kind == "select":
                ctx.state.selected_concepts = (names[(i // len(KINDS)) % len(names)],)
            elif kind == "refresh":
                ctx.project.refresh()
                gens.refresh()
            elif kind == "edit_coefficient":
                canvas.model.update(0, coefficient=1.5 + (i % 7) * 0.25)  # never the 1.0 undone to
            elif kind == "undo" and ctx.undo.index() > base:  # never the setup's own steps
                ctx.undo.undo()
            else:
                preview.generate()
                idle()
            spin(0.001)

        warmup = min(500, actions // 10)
        for i in range(warmup):
            act(i)
        idle()
        gc.collect()
        none_before = sys.getrefcount(None)
        rss_before = rss_mib()
        t0 = time.perf_counter()
        for i in range(warmup, actions):
            act(i)
        idle()
        spin(0.5)
        gc.collect()
        result = {
            "actions": actions,
            "warmup_actions": warmup,
            "seconds": time.perf_counter() - t0,
            "none_refcount_before": none_before,
            "none_refcount_after": sys.getrefcount(None),
            "rss_after_warmup_mib": rss_before,
            "rss_end_mib": rss_mib(),
            "generations_saved": ctx.state.project.count_generations(),
            "errors_shown": len(getattr(ctx.errors, "history", []) or []),
        }
        w.close()
        spin(0.2)
        out_path.write_text(json.dumps(result))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from _window import update_readme, write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=20_000)
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite the README block")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.actions, args.child)
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "soak.json"
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, __file__, "--actions", str(args.actions), "--child", str(out)]
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    result["exit_code"] = proc.returncode
    aborted = proc.returncode != 0 or not result.get("seconds")
    if aborted:
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        print(f"soak: FAILED, exit code {proc.returncode}: " + " | ".join(tail))
        result["stderr_tail"] = tail
        write_results("soak", result)
        return result
    growth = result["rss_end_mib"] / result["rss_after_warmup_mib"] - 1
    none_change = result["none_refcount_after"] - result["none_refcount_before"]
    result["rss_growth"] = growth
    lines: list[str] = []
    say = lines.append
    say(
        f"soak.actions: {result['actions']:,} in {result['seconds']:.0f} s, no abort "
        f"(select, refresh, edit a coefficient, undo, generate 2 tokens; tiny Llama; "
        f"{result['generations_saved']:,} generations saved)"
    )
    say(
        f"soak.none_refcount: {result['none_refcount_before']:,} before, "
        f"{result['none_refcount_after']:,} after ({none_change:+,}; must not fall)"
    )
    say(
        f"soak.memory_growth: {growth * 100:+.1f}% ({result['rss_after_warmup_mib']:.0f} -> "
        f"{result['rss_end_mib']:.0f} MiB after the warm-up; target < {GROWTH_TARGET * 100:.0f}%)"
    )
    print("\n".join(lines), flush=True)
    print(f"# results in {write_results('soak', result)}")
    if not args.no_readme and update_readme("SOAK", lines, "python benchmarks/bench_soak.py"):
        print("# updated the README's soak block")
    return result


if __name__ == "__main__":
    main()
