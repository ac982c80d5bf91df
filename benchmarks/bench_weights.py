"""Weight deltas on the embedded model's weights: diff and apply throughput against a plain
``torch.load`` + ``torch.save`` copy of the same weights, and the peak memory of a diff.

A = the embedded SmolLM2-135M's de-quantised float32 weights (the loader's cache folder, one
``model.safetensors``); B = A plus small noise, written once. Throughput is one checkpoint's
size per second of each operation (a diff reads two checkpoints and writes one, as does an
apply; the copy reads one and writes one). Medians of alternating runs.

The peak memory of a diff is measured in a child process: its peak resident memory (VmHWM)
minus its resident memory after the imports, against one model's size plus its largest tensor
(the issue's bound: a diff must never hold two models).

``python benchmarks/bench_weights.py`` (fresh process) writes ``benchmarks/results/weights.json``
and the README's WEIGHTS block.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import update_readme_block

RESULTS = Path(__file__).resolve().parent / "results" / "weights.json"
REPEAT = 3

CHILD = r"""
import json, sys, time
def status():
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmHWM", "VmRSS", "RssAnon"):
            out[k] = int(v.split()[0]) * 1024
    return out
import torch, safetensors, workbench.weights as W
from workbench.weights.delta import diff
W.open_checkpoint(sys.argv[1]); W.open_checkpoint(sys.argv[2])  # hashes memoised, imports done
before = status()
diff(sys.argv[1], sys.argv[2], sys.argv[3])
after = status()
print(json.dumps({"before": before, "after": after}))
"""


def _mb(n: int) -> float:
    return n / 2**20


def main() -> dict:
    import torch

    from workbench.models.loading import cached_folder, embedded_source, load_language_model
    from workbench.weights import apply, diff, open_checkpoint
    from workbench.weights.stream_write import StreamingSafetensorsWriter

    src = cached_folder(embedded_source())
    if src is None:  # the first load converts the GGUF into the cache
        load_language_model(device="cpu", dtype="float32", check_memory=False)
        src = cached_folder(embedded_source())
    assert src is not None
    tmp = Path(tempfile.mkdtemp(prefix="bench-weights-"))
    try:
        a = tmp / "A"
        shutil.copytree(src, a)
        b = tmp / "B"
        b.mkdir()
        for f in a.iterdir():
            if f.suffix != ".safetensors":
                shutil.copy2(f, b / f.name)
        ca = open_checkpoint(a)
        g = torch.Generator().manual_seed(0)
        layout = [(n, t.shape, t.dtype) for n, t in ca.tensors.items()]
        with ca.reader() as r, StreamingSafetensorsWriter(b / "model.safetensors", layout) as w:
            for n, _, _ in layout:
                t = r.get(n)
                w.write(n, t + 1e-3 * torch.randn(t.shape, generator=g, dtype=t.dtype))
        size = ca.nbytes
        largest = max(t.nbytes for t in ca.tensors.values())
        open_checkpoint(b)  # hash once (remembered), as a second diff of the same files would
        pt = tmp / "a.pt"
        torch.save({n: t for n, t in _load_all(a).items()}, pt)

        def copy() -> None:
            state = torch.load(pt, weights_only=True)
            torch.save(state, tmp / "copy.pt")
            del state

        def do_diff() -> None:
            (tmp / "d.safetensors").unlink(missing_ok=True)
            diff(a, b, tmp / "d.safetensors")

        def do_apply() -> None:
            shutil.rmtree(tmp / "m", ignore_errors=True)
            apply(b, tmp / "d.safetensors", tmp / "m", coefficient=1.0)

        times: dict[str, list[float]] = {"copy": [], "diff": [], "apply": []}
        do_diff()  # warm: the first apply needs a delta
        for i in range(REPEAT):
            order = [("copy", copy), ("diff", do_diff), ("apply", do_apply)]
            for name, fn in order if i % 2 == 0 else order[::-1]:
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        mbs = {k: _mb(size) / v for k, v in med.items()}
        # merged == A (the identity the tests check, here on the real weights)
        wa, wm = _load_all(a), _load_all(tmp / "m")
        max_err = max(float((wa[n] - wm[n]).abs().max()) for n in wa)
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(a), str(b), str(tmp / "d2.safetensors")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        mem = json.loads(child.stdout.strip().splitlines()[-1])
        peak_extra = mem["after"]["VmHWM"] - mem["before"]["VmRSS"]
        return {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
            "load_average": os.getloadavg()[0],
            "model_mb": round(_mb(size), 1),
            "largest_tensor_mb": round(_mb(largest), 1),
            "tensors": len(ca.tensors),
            "median_seconds": {k: round(v, 3) for k, v in med.items()},
            "runs": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "mb_per_s": {k: round(v, 1) for k, v in mbs.items()},
            "ratio_to_copy": {k: round(mbs[k] / mbs["copy"], 2) for k in ("diff", "apply")},
            "apply_of_diff_max_abs_error": max_err,
            "diff_peak_extra_mb": round(_mb(peak_extra), 1),
            "diff_peak_bound_mb": round(_mb(size + largest), 1),
            "diff_peak_within_bound": peak_extra < size + largest,
            "child_status": mem,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_all(folder: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


def block(r: dict) -> str:
    return "\n".join(
        [
            f"Measured {r['date']} with `python benchmarks/bench_weights.py` ({r['machine']}; load "
            f"average {r['load_average']:.1f} at the end, so other work shared the cores). "
            f"The embedded SmolLM2-135M's float32 weights ({r['model_mb']} MB, {r['tensors']} "
            f"tensors, the largest {r['largest_tensor_mb']} MB); medians of {REPEAT} alternating runs:",
            "",
            "```text",
            f"torch.load + torch.save copy   {r['mb_per_s']['copy']:>7.1f} MB/s  ({r['median_seconds']['copy']:.2f} s)",
            f"weights diff A B               {r['mb_per_s']['diff']:>7.1f} MB/s  ({r['median_seconds']['diff']:.2f} s; {r['ratio_to_copy']['diff']:.2f}x the copy; reads 2 checkpoints, writes 1)",
            f"weights apply B Δ, c = 1       {r['mb_per_s']['apply']:>7.1f} MB/s  ({r['median_seconds']['apply']:.2f} s; {r['ratio_to_copy']['apply']:.2f}x the copy)",
            f"apply(B, diff(A, B), 1) vs A   max |error| {r['apply_of_diff_max_abs_error']:.1e}",
            f"diff peak memory               +{r['diff_peak_extra_mb']:.0f} MB over the process after imports "
            f"(bound: one model + its largest tensor = {r['diff_peak_bound_mb']:.0f} MB; "
            f"{'within' if r['diff_peak_within_bound'] else 'OVER'})",
            "```",
        ]
    )


if __name__ == "__main__":
    if "--readme-only" in sys.argv:
        result = json.loads(RESULTS.read_text())
    else:
        result = main()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=1))
    text = block(result)
    print(text)
    if not update_readme_block("WEIGHTS", text):
        print("(README has no WEIGHTS block)", file=sys.stderr)
