"""Weight-space task vectors: diff, apply and in-memory deltas against identities
(apply(B, diff(A, B), 1) == A; coefficient 0 == B) and refusals with the tensors' names."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from workbench.weights import (
    TensorFilter,
    WeightsError,
    apply,
    diff,
    read_delta_metadata,
    tensor_kind,
    tensor_layer,
)


def _save_model(model, tokenizer, folder, max_shard_size=None):
    kw = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(folder, **kw)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two tiny Llamas of one architecture (A sharded in several files, B in one)."""
    from tiny import tiny_hf_model, tiny_tokenizer

    base = tmp_path_factory.mktemp("weights")
    tok = tiny_tokenizer()
    a = _save_model(tiny_hf_model("llama", seed=1), tok, base / "A", max_shard_size="20KB")
    b = _save_model(tiny_hf_model("llama", seed=2), tok, base / "B")
    assert len(list(a.glob("*.safetensors"))) > 1  # the sharded path is exercised
    return a, b


def _weights(folder):
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


def test_apply_of_diff_gives_back_a_and_zero_gives_b(pair, tmp_path):
    a, b = pair
    res = diff(a, b, tmp_path / "delta.safetensors")
    wa, wb = _weights(a), _weights(b)
    assert res.n_tensors == len(wa)
    merged = apply(b, tmp_path / "delta.safetensors", tmp_path / "merged", coefficient=1.0)
    wm = _weights(tmp_path / "merged")
    differ = sum(not torch.equal(wa[n], wb[n]) for n in wa)  # norms start at ones in both
    assert set(wm) == set(wa) and merged.n_changed == differ > 0
    for n in wa:
        torch.testing.assert_close(wm[n], wa[n], rtol=0, atol=1e-6)
    zero = apply(b, tmp_path / "delta.safetensors", tmp_path / "zero", coefficient=0.0)
    wz = _weights(tmp_path / "zero")
    assert zero.n_changed == 0 and all(torch.equal(wz[n], wb[n]) for n in wb)
    # the merged folder is a model folder: config and tokenizer came along
    assert (tmp_path / "merged" / "config.json").exists()
    assert (tmp_path / "merged" / "tokenizer.json").exists()
    record = json.loads((tmp_path / "merged" / "workbench-merge.json").read_text())
    assert record["coefficient"] == 1.0 and record["delta"]["b"]["path"] == str(b)
    # ... and loads as a model whose outputs are A's
    from workbench.models.loading import load_language_model

    hm_m = load_language_model(str(tmp_path / "merged"), device="cpu")
    hm_a = load_language_model(str(a), device="cpu")
    ids = hm_a.encode(["the king is"])
    torch.testing.assert_close(hm_m.forward(**ids).logits, hm_a.forward(**ids).logits)


def test_delta_records_sources_hashes_and_tensors(pair, tmp_path):
    a, b = pair
    out = tmp_path / "d.safetensors"
    diff(a, b, out)
    meta = read_delta_metadata(out)
    assert meta["a"]["path"] == str(a) and meta["b"]["path"] == str(b)
    assert all(len(h) == 64 for h in meta["a"]["sha256"].values())
    assert len(meta["a"]["sha256"]) == len(list(a.glob("*.safetensors")))
    with safe_open(str(out), framework="pt") as f:
        assert sorted(meta["tensors"]) == sorted(f.keys())
        n = meta["tensors"][0]
        torch.testing.assert_close(f.get_tensor(n), _weights(a)[n] - _weights(b)[n])


def test_single_files_and_half_precision_round_trip(tmp_path):
    """bfloat16 checkpoints come back bit-exact through a float32 delta."""
    g = torch.Generator().manual_seed(0)
    wa = {"model.layers.0.mlp.up_proj.weight": torch.randn(8, 4, generator=g).bfloat16()}
    wb = {"model.layers.0.mlp.up_proj.weight": torch.randn(8, 4, generator=g).bfloat16()}
    save_file(wa, tmp_path / "a.safetensors")
    save_file(wb, tmp_path / "b.safetensors")
    diff(tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "d.safetensors")
    apply(tmp_path / "b.safetensors", tmp_path / "d.safetensors", tmp_path / "m.safetensors")
    wm = load_file(tmp_path / "m.safetensors")
    assert all(torch.equal(wm[n], wa[n]) for n in wa)


def test_mismatched_shapes_are_refused_naming_the_tensor(tmp_path):
    save_file(
        {"x.weight": torch.zeros(4, 4), "y.weight": torch.zeros(3)}, tmp_path / "a.safetensors"
    )
    save_file(
        {"x.weight": torch.zeros(4, 5), "y.weight": torch.zeros(3)}, tmp_path / "b.safetensors"
    )
    with pytest.raises(WeightsError, match=r"x\.weight: \[4, 4\] vs \[4, 5\]"):
        diff(tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "d.safetensors")
    assert not (tmp_path / "d.safetensors").exists()
    save_file({"x.weight": torch.zeros(4, 4)}, tmp_path / "c.safetensors")
    with pytest.raises(WeightsError, match=r"only .*a\.safetensors has y\.weight"):
        diff(tmp_path / "a.safetensors", tmp_path / "c.safetensors", tmp_path / "d.safetensors")


def test_mismatched_architectures_and_bad_inputs_are_refused(pair, tmp_path):
    from tiny import tiny_hf_model, tiny_tokenizer

    a, _ = pair
    gpt2 = _save_model(tiny_hf_model("gpt2"), tiny_tokenizer(), tmp_path / "gpt2")
    with pytest.raises(WeightsError, match="llama model and .* a gpt2 model"):
        diff(a, gpt2, tmp_path / "d.safetensors")
    with pytest.raises(WeightsError, match="does not exist"):
        diff(a, tmp_path / "nowhere", tmp_path / "d.safetensors")
    with pytest.raises(WeightsError, match="same weights"):
        diff(a, a, tmp_path / "d.safetensors")  # an all-zero delta is a mistake, not a result
    with pytest.raises(WeightsError, match="not a weight delta"):
        apply(a, next(a.glob("*.safetensors")), tmp_path / "m")
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    (tmp_path / "bins").mkdir()
    torch.save({"w": torch.zeros(2)}, tmp_path / "bins" / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="Convert them to safetensors"):
        diff(tmp_path / "bins", a, tmp_path / "d.safetensors")


def test_apply_restricted_to_mlp_and_layers(pair, tmp_path):
    a, b = pair
    diff(a, b, tmp_path / "d.safetensors")
    apply(
        b, tmp_path / "d.safetensors", tmp_path / "mlp", tensor_filter=TensorFilter(kinds=("mlp",))
    )
    wa, wb, wm = _weights(a), _weights(b), _weights(tmp_path / "mlp")
    for n in wa:
        want = wa[n] if tensor_kind(n) == "mlp" else wb[n]
        torch.testing.assert_close(wm[n], want, rtol=0, atol=1e-6)
    apply(b, tmp_path / "d.safetensors", tmp_path / "l1", tensor_filter=TensorFilter(layers=(1,)))
    wl = _weights(tmp_path / "l1")
    for n in wa:
        want = wa[n] if tensor_layer(n) == 1 else wb[n]
        torch.testing.assert_close(wl[n], want, rtol=0, atol=1e-6)
    with pytest.raises(WeightsError, match="unknown tensor kind"):
        TensorFilter(kinds=("mlps",))


def test_tensor_kinds():
    assert tensor_kind("model.layers.3.self_attn.q_proj.weight") == "attention"
    assert tensor_kind("model.layers.3.mlp.down_proj.weight") == "mlp"
    assert tensor_kind("model.layers.3.input_layernorm.weight") == "norm"
    assert tensor_kind("model.layers.3.post_attention_layernorm.weight") == "norm"
    assert tensor_kind("transformer.h.2.attn.c_proj.weight") == "attention"
    assert tensor_kind("transformer.h.2.mlp.c_proj.weight") == "mlp"
    assert tensor_kind("gpt_neox.layers.1.attention.query_key_value.weight") == "attention"
    assert tensor_kind("model.embed_tokens.weight") == "embedding"
    assert tensor_layer("model.layers.12.mlp.up_proj.weight") == 12
    assert tensor_layer("model.norm.weight") is None


def test_load_with_deltas_in_memory_matches_the_merged_model(pair, tmp_path):
    from workbench.models.loading import load_language_model

    a, b = pair
    diff(a, b, tmp_path / "d.safetensors")
    hm_a = load_language_model(str(a), device="cpu", dtype="float32")
    hm = load_language_model(
        str(b), device="cpu", dtype="float32", deltas=[(tmp_path / "d.safetensors", 1.0)]
    )
    sa, sm = hm_a.model.state_dict(), hm.model.state_dict()
    for n in sa:
        torch.testing.assert_close(sm[n], sa[n], rtol=0, atol=1e-6)
    assert hm.info["deltas"][0]["coefficient"] == 1.0
    assert "Δ[d.safetensors" in hm.ref.source
    ids = hm.encode(["the king is"])
    torch.testing.assert_close(
        hm.forward(**ids).logits, hm_a.forward(**ids).logits, rtol=1e-4, atol=1e-5
    )
    hm_b = load_language_model(str(b), device="cpu", dtype="float32")
    zero = load_language_model(
        str(b), device="cpu", dtype="float32", deltas=[(tmp_path / "d.safetensors", 0.0)]
    )
    sb, sz = hm_b.model.state_dict(), zero.model.state_dict()
    assert all(torch.equal(sz[n], sb[n]) for n in sb)


@pytest.mark.slow
def test_the_embedded_gguf_is_read_through_the_cache():
    """A GGUF's tensors come under the Hugging Face names, from the de-quantised cache."""
    from workbench.weights import open_checkpoint

    ck = open_checkpoint("embedded")
    assert ck.kind == "gguf" and ck.via
    assert "model.layers.0.mlp.up_proj.weight" in ck.tensors
    (gguf_hash,) = ck.hashes.values()
    assert len(gguf_hash) == 64 and ck.describe()["model_type"] == "llama"
    with ck.reader() as r:
        t = r.get("model.layers.0.mlp.up_proj.weight")
    assert t.shape == ck.tensors["model.layers.0.mlp.up_proj.weight"].shape
    assert bool(t.isfinite().all())


def test_a_cancelled_diff_or_apply_leaves_no_file(pair, tmp_path):
    from workbench.jobs import Cancelled, run
    from workbench.weights import apply_job, diff_job

    a, b = pair
    seen = []
    with pytest.raises(Cancelled):
        run(diff_job(a, b, tmp_path / "d.safetensors"), seen.append, lambda: len(seen) > 3)
    assert list(tmp_path.iterdir()) == []
    diff(a, b, tmp_path / "d.safetensors")
    seen.clear()
    with pytest.raises(Cancelled):
        run(
            apply_job(b, tmp_path / "d.safetensors", tmp_path / "m"),
            seen.append,
            lambda: len(seen) > 3,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.safetensors"]


def test_coefficient_sweep_matches_the_merged_models_and_restores(pair, tmp_path):
    from tiny import OPPOSITE_PAIRS

    from workbench.heads.function_vector import ICLTask
    from workbench.jobs import run
    from workbench.models.loading import load_language_model
    from workbench.training import Examples, answer_metrics
    from workbench.weights.evaluate import coefficient_sweep_job

    a, b = pair
    diff(a, b, tmp_path / "d.safetensors")
    task = ICLTask("opp", list(OPPOSITE_PAIRS), template="{input} is {output}")
    hm_b = load_language_model(str(b), device="cpu")
    before = {k: v.clone() for k, v in hm_b.model.state_dict().items()}
    sw = run(coefficient_sweep_job(hm_b, str(tmp_path / "d.safetensors"), [0, 1], task))
    assert all(torch.equal(before[k], v) for k, v in hm_b.model.state_dict().items())
    _, test = task.split(0.3, 0)
    ex = Examples.zero_shot(test)
    for i, model in enumerate((hm_b, load_language_model(str(a), device="cpu"))):
        want = answer_metrics(model, ex.prompts, ex.answers)
        got = sw.metrics["held_out"]["target_logprob"][i]
        assert got == pytest.approx(want["target_logprob"], abs=1e-4)


def test_sweep_holds_out_what_the_fine_tune_held_out(tmp_path):
    """A fine-tune with --seed 1 diffed into a delta: the sweep uses its split by default (the
    held-out inputs recorded in the delta) and refuses another seed on the same task."""
    from tiny import OPPOSITE_PAIRS, tiny_hooked

    from workbench.heads.function_vector import ICLTask
    from workbench.jobs import run
    from workbench.models.loading import load_language_model
    from workbench.training import Examples, answer_metrics
    from workbench.training.loop import TrainingSpec
    from workbench.weights.evaluate import coefficient_sweep_job
    from workbench.weights.finetune import finetune_job, save_model_folder

    task = ICLTask("opp", list(OPPOSITE_PAIRS), template="{input} is {output}")
    save_model_folder(tiny_hooked("llama", seed=4), tmp_path / "base", {})
    hm = load_language_model(str(tmp_path / "base"), device="cpu")
    run(finetune_job(hm, task, spec=TrainingSpec(2, 1e-2, 4, seed=1), out=tmp_path / "ft"))
    d = tmp_path / "d.safetensors"
    diff(tmp_path / "ft", tmp_path / "base", d)
    split = read_delta_metadata(d)["a"]["finetune"]["split"]
    _, want = task.split(0.3, 1)
    assert split["seed"] == 1 and split["held_out"] == [x for x, _ in want.pairs]
    assert task.split(0.3, 0)[1].pairs != want.pairs  # the default seed would leak
    base = load_language_model(str(tmp_path / "base"), device="cpu")
    sw = run(coefficient_sweep_job(base, str(d), [0], task))
    assert sw.split["seed"] == 1 and "fine-tune" in sw.split["source"]
    assert sw.n_held_out == len(want.pairs)
    ex = Examples.zero_shot(want)
    got = answer_metrics(base, ex.prompts, ex.answers)["target_logprob"]
    assert sw.metrics["held_out"]["target_logprob"][0] == pytest.approx(got, abs=1e-5)
    with pytest.raises(WeightsError, match="--seed 1 .*training examples"):
        run(coefficient_sweep_job(base, str(d), [0], task, seed=0))
    run(coefficient_sweep_job(base, str(d), [0], task, seed=1, test_fraction=0.3))  # the same


def test_sweep_refuses_a_delta_that_changes_tied_tensors_differently(tmp_path):
    from tiny import OPPOSITE_PAIRS, tiny_hooked

    from workbench.heads.function_vector import ICLTask
    from workbench.jobs import run
    from workbench.weights.evaluate import coefficient_sweep_job

    hm = tiny_hooked("gemma")
    sd = hm.model.state_dict()
    assert sd["lm_head.weight"].data_ptr() == sd["model.embed_tokens.weight"].data_ptr()
    _save_model(tiny_hooked("gemma", seed=1).model, hm.tokenizer, tmp_path / "A")
    _save_model(hm.model, hm.tokenizer, tmp_path / "B")
    d = tmp_path / "d.safetensors"
    diff(tmp_path / "A", tmp_path / "B", d)
    with safe_open(str(d), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iter
    emb = tensors["model.embed_tokens.weight"]
    task = ICLTask("opp", list(OPPOSITE_PAIRS), template="{input} is {output}")
    save_file({**tensors, "lm_head.weight": emb.clone()}, str(tmp_path / "same.safetensors"), meta)
    run(coefficient_sweep_job(hm, str(tmp_path / "same.safetensors"), [1], task))  # equal: fine
    save_file({**tensors, "lm_head.weight": emb + 1}, str(tmp_path / "bad.safetensors"), meta)
    before = {k: v.clone() for k, v in hm.model.state_dict().items()}
    with pytest.raises(WeightsError, match="differently.*ties them"):
        run(coefficient_sweep_job(hm, str(tmp_path / "bad.safetensors"), [1], task))
    assert all(torch.equal(before[k], v) for k, v in hm.model.state_dict().items())
