"""Learned interventions and a weight-space task vector on the embedded SmolLM2-135M (CPU).

One fresh process, on the built-in antonyms set in the function vectors' Q/A format (69 pairs:
48 to train on, 21 held out, seed 0):

1. LoFiT head offsets at the 8 heads with the largest loss gradient; held-out accuracy against
   zero-shot, 5-shot prompting and a function vector from the same heads.
2. A steering vector trained at ``blocks.10.hook_resid_post`` with a KL penalty on neutral
   prompts.
3. The real check of task vectors: fine-tune a copy for a few steps with the same loop,
   Δ = fine-tuned − original (``weights diff``), then original + 1·Δ loaded in memory against
   the fine-tune (logits, greedy text), and a coefficient sweep of Δ, of Δ's MLP tensors only
   and of its attention tensors only.

Writes ``benchmarks/results/learned.json`` and the README's LEARNED block. Run it as
``nice -n 10 .venv/bin/python benchmarks/bench_learned.py`` (a few minutes on 2 threads).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import update_readme_block

RESULTS = Path(__file__).resolve().parent / "results" / "learned.json"
COEFFICIENTS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn):
    t, c = time.perf_counter(), _cpu()
    out = fn()
    return out, round(time.perf_counter() - t, 1), round(_cpu() - c, 1)


def main() -> dict:
    import torch

    from workbench.heads.function_vector import ICLTask
    from workbench.jobs import run
    from workbench.models.loading import cached_folder, embedded_source, load_language_model
    from workbench.training import (
        Examples,
        TrainingSpec,
        train_head_offsets_job,
        train_steering_vector_job,
    )
    from workbench.weights import TensorFilter, diff
    from workbench.weights.evaluate import coefficient_sweep_job
    from workbench.weights.finetune import finetune_job

    out: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "torch_threads": None,
    }
    hm = load_language_model(device="cpu", dtype="float32")
    out["torch_threads"] = torch.get_num_threads()
    task = ICLTask.antonyms()
    train, test = task.split(0.3, 0)
    out["task"] = {"name": task.name, "train": len(train.pairs), "held_out": len(test.pairs),
                   "template": task.template}  # fmt: skip

    # 1. LoFiT head offsets
    spec = TrainingSpec(steps=40, lr=1e-2, batch_size=8, seed=0)
    res, wall, cpu = _timed(lambda: run(train_head_offsets_job(hm, task, k=8, spec=spec)))
    out["head_offsets"] = {
        "command": "workbench train offsets --task antonyms --k 8 --steps 40 --lr 0.01",
        "heads": [f"L{L}H{h}" for L, h in res.heads],
        "metrics": res.metrics,
        "loss_first_last": [res.curve.losses[0], res.curve.losses[-1]],
        "seconds": wall,
        "cpu_seconds": cpu,
    }
    print(json.dumps(out["head_offsets"], indent=1), flush=True)
    res, wall, cpu = _timed(
        lambda: run(train_head_offsets_job(hm, task, k=8, select="attribution", spec=spec))
    )
    out["head_offsets_attribution"] = {
        "command": "workbench train offsets --task antonyms --k 8 --select attribution --steps 40",
        "heads": [f"L{L}H{h}" for L, h in res.heads],
        "metrics": res.metrics,
        "loss_first_last": [res.curve.losses[0], res.curve.losses[-1]],
        "seconds": wall,
        "cpu_seconds": cpu,
    }
    print(json.dumps(out["head_offsets_attribution"], indent=1), flush=True)

    # 2. trained steering vector
    vspec = TrainingSpec(steps=40, lr=5e-2, batch_size=8, seed=0)
    vres, wall, cpu = _timed(
        lambda: run(train_steering_vector_job(hm, task, layer=10, kl_weight=1.0, spec=vspec))
    )
    out["trained_vector"] = {
        "command": "workbench train vector --task antonyms --layer 10 --kl-weight 1 --steps 40 --lr 0.05",
        "site": vres.site,
        "norm": float(vres.concept.vectors[vres.site].norm()),
        "metrics": vres.metrics,
        "loss_first_last": [vres.curve.losses[0], vres.curve.losses[-1]],
        "kl_last": vres.curve.extra["kl"][-1],
        "seconds": wall,
        "cpu_seconds": cpu,
    }
    print(json.dumps(out["trained_vector"], indent=1), flush=True)

    # 3. fine-tune, Δ, reproduce, sweep
    original = cached_folder(embedded_source())
    tmp = Path(tempfile.mkdtemp(prefix="learned-"))
    ft_dir, delta = tmp / "antonyms-ft", tmp / "delta.safetensors"
    ft_spec = TrainingSpec(steps=3, lr=1e-4, batch_size=8, seed=0)
    fres, wall, cpu = _timed(lambda: run(finetune_job(hm, task, spec=ft_spec, out=ft_dir)))
    out["finetune"] = {
        "command": f"workbench train finetune --task antonyms --steps 3 --lr 1e-4 --out {ft_dir.name}",
        "metrics": fres.metrics,
        "losses": list(fres.curve.losses),
        "seconds": wall,
        "cpu_seconds": cpu,
    }
    print(json.dumps(out["finetune"], indent=1), flush=True)
    dres, wall, _ = _timed(lambda: diff(ft_dir, original, delta))
    out["diff"] = {"command": f"workbench weights diff {ft_dir.name} <embedded> --out delta.safetensors",
                   "tensors": dres.n_tensors, "mb": round(dres.bytes_written / 2**20, 1),
                   "norm_by_kind": dres.norm_by_kind, "seconds": wall}  # fmt: skip
    held = Examples.zero_shot(test)
    probe = [*held.prompts[:8], "The weather today is", "My favourite food is"]
    enc = hm.encode(probe)
    with torch.no_grad():
        ft_logits = hm.forward(enc["input_ids"], enc["attention_mask"]).logits
    ft_text = [hm.tokenizer.decode(t) for t in _greedy(hm, probe)]
    hm = None  # the fine-tune goes before another copy loads
    merged = load_language_model(device="cpu", dtype="float32", deltas=[(delta, 1.0)])
    with torch.no_grad():
        m_logits = merged.forward(enc["input_ids"], enc["attention_mask"]).logits
    m_text = [merged.tokenizer.decode(t) for t in _greedy(merged, probe)]
    mask = enc["attention_mask"].bool()
    out["reproduce"] = {
        "max_abs_logit_diff": float((ft_logits - m_logits)[mask].abs().max()),
        "logit_scale": float(ft_logits[mask].abs().max()),
        "greedy_texts_identical": ft_text == m_text,
        "prompts": len(probe),
        "example": {"prompt": probe[0], "fine_tune": ft_text[0], "original_plus_delta": m_text[0]},
    }
    print(json.dumps(out["reproduce"], indent=1), flush=True)
    del merged
    base = load_language_model(device="cpu", dtype="float32")
    sweeps = {}
    for label, flt in (
        ("all", TensorFilter()),
        ("mlp", TensorFilter(kinds=("mlp",))),
        ("attention", TensorFilter(kinds=("attention",))),
    ):
        sw = run(coefficient_sweep_job(base, str(delta), COEFFICIENTS, task, tensor_filter=flt))
        sweeps[label] = sw.metrics
        print(label, "\n" + sw.table(), flush=True)
    out["sweep"] = {
        "command": "workbench weights sweep delta.safetensors --coefficients -1 -0.5 0 0.5 1 1.5 "
        "--task antonyms [--kinds mlp]",
        "coefficients": list(COEFFICIENTS),
        "metrics": sweeps,
    }
    return out


def _greedy(hm, prompts, n: int = 8) -> list[list[int]]:
    """Greedy token ids of each prompt's continuation."""
    from workbench.models.generation import SamplingSettings, generate

    return generate(hm, prompts, settings=SamplingSettings(max_new_tokens=n)).token_ids


def _rows(rows: list) -> list[str]:
    width = max(len(r[0]) for r in rows) + 2
    return [
        f"{name:<{width}}{m['accuracy']:.3f}  ({m['target_logprob']:6.2f})  {tail}".rstrip()
        for name, m, tail in rows
    ]


def block(r: dict) -> str:
    ho, tv, ft, rep, sw = (r["head_offsets"], r["trained_vector"], r["finetune"], r["reproduce"],
                           r["sweep"])  # fmt: skip
    m = ho["metrics"]
    ha = r["head_offsets_attribution"]
    lines = [
        f"Measured {r['date']} with `nice -n 10 .venv/bin/python benchmarks/bench_learned.py` "
        f"({r['machine']}, {r['torch_threads']} torch thread(s), shared with other work). "
        f"Task: antonyms in the Q/A format, {r['task']['train']} training pairs, "
        f"{r['task']['held_out']} held out (seed 0). Held-out accuracy of the first answer token "
        "(mean log-prob of it in brackets):",
        "",
        "```text",
        *_rows(
            [
                ("zero-shot", m["zero_shot"], ""),
                ("5-shot prompting", m["few_shot"], ""),
                (
                    "function vector, gradient heads",
                    m["function_vector"],
                    f"layer {m['function_vector']['layer']}, coefficient 1",
                ),
                (
                    "function vector, attribution heads",
                    ha["metrics"]["function_vector"],
                    f"layer {ha['metrics']['function_vector']['layer']}, coefficient 1",
                ),
                (
                    "LoFiT offsets, gradient heads",
                    m["head_offsets"],
                    f"{','.join(ho['heads'])}; {ho['seconds']:.0f} s",
                ),
                (
                    "LoFiT offsets, attribution heads",
                    ha["metrics"]["head_offsets"],
                    f"{','.join(ha['heads'])}; {ha['seconds']:.0f} s",
                ),
                (
                    f"trained vector at {tv['site']}",
                    tv["metrics"]["trained_vector"],
                    f"KL on held-out neutral prompts {tv['metrics']['trained_vector']['kl']:.3f} nats; "
                    f"{tv['seconds']:.0f} s",
                ),
                (
                    "fine-tune, 3 steps, all weights",
                    ft["metrics"]["after"],
                    f"{ft['seconds']:.0f} s",
                ),
            ]
        ),
        "```",
        "",
        f"Task vector Δ = fine-tune − original ({r['diff']['tensors']} tensors, {r['diff']['mb']} MB): "
        f"original + 1·Δ loaded in memory gives the fine-tune's logits to "
        f"{rep['max_abs_logit_diff']:.2e} (largest logit {rep['logit_scale']:.1f}) on "
        f"{rep['prompts']} prompts, greedy continuations identical: "
        f"{'yes' if rep['greedy_texts_identical'] else 'NO'}. Coefficient sweep (held-out accuracy / "
        "mean log-prob of the answer's first token):",
        "",
        "```text",
        f"{'c':<12}" + "".join(f"{c:>14g}" for c in sw["coefficients"]),
    ]
    for label in ("all", "mlp", "attention"):
        h = sw["metrics"][label]["held_out"]
        cells = "".join(
            f"{a:>7.3f} {lp:>6.2f}"
            for a, lp in zip(h["accuracy"], h["target_logprob"], strict=True)
        )
        lines.append(f"{'Δ ' + label:<12}{cells}")
    lines.append("```")
    return "\n".join(lines)


if __name__ == "__main__":
    if "--readme-only" in sys.argv:
        result = json.loads(RESULTS.read_text())
    else:
        result = main()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=1))
    text = block(result)
    print(text)
    if not update_readme_block("LEARNED", text):
        print("(README has no LEARNED block)", file=sys.stderr)
