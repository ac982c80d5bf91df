"""Engine overheads on the embedded model, as ratios measured in one run.

python3 bootstrap.py bench engine      # or: .venv/bin/python benchmarks/bench_engine.py

The two loads are each a new process on a cold model cache of its own: the first converts the
GGUF, the second reads the converted safetensors (what every later start of the app pays).
The rest runs in this process on the real cache's model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import compare, report, save_results, setup_threads

ROOT = Path(__file__).resolve().parents[1]
# a load in a process of its own: (seconds to import the loader, seconds to load)
_LOAD = """
import json, time
t0 = time.perf_counter()
from workbench.models.loading import load_language_model
t1 = time.perf_counter()
load_language_model(device="cpu")
print("LOAD " + json.dumps([t1 - t0, time.perf_counter() - t1]), flush=True)
"""


def _load_in_new_process(cache: str) -> tuple[float, float, float]:
    """``(process wall time, import time, load time)`` of one load in a fresh interpreter."""
    env = dict(os.environ, WORKBENCH_CACHE_DIR=cache)
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _LOAD], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("LOAD ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"the load in a new process failed:\n{out.stderr[-2000:]}")
    imp, load = json.loads(line[5:])
    return wall, imp, load


def main() -> None:
    setup_threads()
    import torch

    from workbench.models.generation import SamplingSettings, generate
    from workbench.models.interventions import AddVector
    from workbench.models.loading import load_language_model
    from workbench.models.sites import resid_post

    with tempfile.TemporaryDirectory() as cache:  # a cold cache: the first load converts
        w1, i1, first = _load_in_new_process(cache)
        w2, i2, second = _load_in_new_process(cache)
    report("engine.load_first (new process, convert GGUF)", first, "s")
    report("engine.load_second (new process, cached)", second, "s", "< 3 s")
    report("engine.load_second / load_first", second / first, "x")
    report("engine.import_loader (new process)", i2, "s")
    report("engine.process_second (start+import+load)", w2, "s")
    hm = load_language_model(device="cpu")

    sites = [resid_post(L) for L in range(hm.n_layers)]
    g = torch.Generator().manual_seed(0)
    for batch, seq in ((1, 16), (8, 64)):
        ids = torch.randint(100, 20000, (batch, seq), generator=g)
        mask = torch.ones_like(ids)
        store: dict = {}

        def plain(ids=ids, mask=mask) -> None:
            with torch.no_grad():
                hm.model(input_ids=ids, attention_mask=mask, use_cache=False)

        def captured(ids=ids, mask=mask, store=store) -> None:
            readers = {s: [lambda x, s=s: store.__setitem__(s, x.detach())] for s in sites}
            with torch.no_grad():
                hm.forward(ids, mask, readers=readers, use_cache=False)

        tp, tc = compare(plain, captured, repeat=15 if batch == 1 else 9)
        report(f"engine.capture_30_resid_post_{batch}x{seq} / forward", tc / tp, "x", "<= 1.03x")

    v = torch.randn(hm.d_model) * 4
    s = SamplingSettings(max_new_tokens=32, stop_at_eos=False)
    prompt = ["I think that the weather today is"]
    iv = [AddVector(resid_post(12), vector=v)]
    tp, ts = compare(
        lambda: generate(hm, prompt, (), s), lambda: generate(hm, prompt, iv, s), repeat=7, warmup=1
    )
    report("engine.steered_generate_32 / plain_generate_32", ts / tp, "x", "<= 1.02x")
    report("engine.plain_generate_32 tokens/s", 32 / tp, "tok/s")
    report("engine.torch_threads", torch.get_num_threads(), "")
    save_results("engine", "python3 bootstrap.py bench engine")


if __name__ == "__main__":
    main()
