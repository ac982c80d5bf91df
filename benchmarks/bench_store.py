"""Project store benchmark: save and reopen 1,000 vectors of 4,096 float32 values.

Run with ``python benchmarks/bench_store.py``. Targets (issue 4): under 1 s to save, under
0.5 s to open (open + list + load every tensor), a file no larger than 1.1x the raw bytes.
Times are the best of ``--repeat`` runs, each on a fresh file; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import note, save_results, setup_threads

N_VECTORS = 1000
WIDTH = 4096
SAVE_TARGET_S = 1.0
OPEN_TARGET_S = 0.5
SIZE_TARGET = 1.1
N_EACH = 100  # one-by-one saves timed (fsync-bound: the disk, not the code)


def _concepts(n: int, width: int) -> list:
    import torch

    from workbench.concepts.concept import Concept, ModelRef

    gen = torch.Generator().manual_seed(0)
    model = ModelRef("bench-model", "LlamaForCausalLM", width, 32, "llama")
    return [
        Concept(
            f"concept_{i:04d}",
            {f"blocks.{i % 32}.hook_resid_post": torch.randn(width, generator=gen)},
            model,
            {"method": "diff_of_means", "layer": i % 32},
        )
        for i in range(n)
    ]


def _best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Print one line per measurement with its target and ratio; return the numbers."""
    setup_threads()
    from workbench.store import Project

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the files (a temp dir)")
    args = parser.parse_args(argv)

    concepts = _concepts(N_VECTORS, WIDTH)
    raw = N_VECTORS * WIDTH * 4
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        counter = iter(range(10_000))

        def save_batch() -> float:
            path = Path(tmp) / f"batch{next(counter)}.wbproj"
            with Project.create(path) as project:
                t0 = time.perf_counter()
                project.add_concepts(concepts)  # one transaction
                dt = time.perf_counter() - t0
            out["size"] = path.stat().st_size
            out["path"] = str(path)  # type: ignore[assignment]
            return dt

        def save_each() -> float:
            path = Path(tmp) / f"each{next(counter)}.wbproj"
            with Project.create(path) as project:
                t0 = time.perf_counter()
                for c in concepts[:N_EACH]:
                    project.add_concept(c)  # one committed, fully synced change each
                return (time.perf_counter() - t0) / N_EACH

        def reopen() -> float:
            t0 = time.perf_counter()
            project = Project.open(out["path"])  # type: ignore[arg-type]  # writable: takes the lock
            infos = project.concept_infos()
            loaded = project.concepts()  # every tensor, checksums verified
            dt = time.perf_counter() - t0
            project.close()
            assert len(infos) == len(loaded) == N_VECTORS
            return dt

        out["save_batch"] = _best(save_batch, args.repeat)
        out["open"] = _best(reopen, args.repeat)
        out["save_each"] = _best(save_each, 1)

    name = f"store.{{}}_{N_VECTORS}x{WIDTH}"
    ratio = out["size"] / raw
    note(
        f"{name.format('save')}: {out['save_batch']:.3f} s (target < {SAVE_TARGET_S:g} s, "
        f"{out['save_batch'] / SAVE_TARGET_S:.2f}x of target; add_concepts, one transaction)"
    )
    note(
        f"{name.format('open')}: {out['open']:.3f} s (target < {OPEN_TARGET_S:g} s, "
        f"{out['open'] / OPEN_TARGET_S:.2f}x of target; open + concept_infos + load all)"
    )
    note(
        f"{name.format('file_size')}: {out['size'] / 2**20:.2f} MiB for {raw / 2**20:.2f} MiB raw "
        f"= {ratio:.3f}x (target <= {SIZE_TARGET:g}x)"
    )
    note(
        f"store.add_concept_4096: {out['save_each'] * 1e3:.1f} ms per call ({N_EACH} calls, each "
        f"one transaction synced to disk; 1,000 of them would take {out['save_each'] * N_VECTORS:.1f} s, "
        f"{out['save_each'] * N_VECTORS / out['save_batch']:.0f}x the batch; no target)"
    )
    out["size_ratio"] = ratio
    save_results(
        "store",
        "python3 bootstrap.py bench store",
        numbers={k: v for k, v in out.items() if k != "path"},
    )
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
