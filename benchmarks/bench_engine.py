"""Engine overheads on the embedded model, as ratios measured in one run.

python3 bootstrap.py bench engine      # or: .venv/bin/python benchmarks/bench_engine.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import compare, report


def main() -> None:
    import tempfile

    import torch

    from workbench.models.generation import SamplingSettings, generate
    from workbench.models.interventions import AddVector
    from workbench.models.loading import load_language_model
    from workbench.models.sites import resid_post

    saved = os.environ.get("WORKBENCH_CACHE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["WORKBENCH_CACHE_DIR"] = cache  # a cold cache: the first load converts the GGUF
        try:
            t = time.perf_counter()
            load_language_model(device="cpu")
            first = time.perf_counter() - t
            t = time.perf_counter()
            hm = load_language_model(device="cpu")
            second = time.perf_counter() - t
        finally:  # later benchmarks in the same process use the real cache again
            if saved is None:
                os.environ.pop("WORKBENCH_CACHE_DIR", None)
            else:
                os.environ["WORKBENCH_CACHE_DIR"] = saved
    report("engine.load_first (convert GGUF)", first, "s")
    report("engine.load_second (cached)", second, "s", "< 3 s")
    report("engine.load_second / load_first", second / first, "x")

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


if __name__ == "__main__":
    main()
