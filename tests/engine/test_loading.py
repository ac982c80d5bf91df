"""Finding and loading models: folders, GGUF, the embedded default, and clear refusals."""

from __future__ import annotations

import json

import pytest
import torch
from tiny import tiny_hf_model, tiny_tokenizer

from workbench.errors import ModelLoadError, UnsupportedModelError
from workbench.models import loading


@pytest.fixture
def tiny_folder(tmp_path):
    folder = tmp_path / "tiny-llama"
    tiny_hf_model("llama").save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def test_load_a_local_folder_equals_the_in_memory_model(tiny_folder):
    hm = loading.load_language_model(tiny_folder, device="cpu", dtype="float32")
    ref = tiny_hf_model("llama")
    enc = hm.encode(["the king is a man"])
    with torch.no_grad():
        assert torch.equal(hm.model(**enc).logits, ref(**enc).logits)
    assert hm.ref.n_layers == 3 and hm.ref.d_model == 32 and hm.ref.model_type == "llama"
    assert hm.ref.file_hash and hm.info["device"] == "cpu"


def test_not_a_model_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match="no config.json.*notes.txt"):
        loading.load_language_model(tmp_path)


def test_missing_weights_and_missing_path(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelLoadError, match="no weights"):
        loading.source_from_path(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        loading.source_from_path(tmp_path / "nope")
    (tmp_path / "weights.txt").write_text("x")
    with pytest.raises(ModelLoadError, match="not a model file"):
        loading.source_from_path(tmp_path / "weights.txt")


def test_missing_tokenizer(tmp_path):
    tiny_hf_model("gpt2").save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        loading.load_language_model(tmp_path, device="cpu")


def test_remote_code_stays_off(tmp_path):
    cfg = {
        "model_type": "my_custom",
        "architectures": ["MyForCausalLM"],
        "auto_map": {"AutoConfig": "cfg.MyConfig"},
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "tokenizer_config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="trust_remote_code|unsupported"):
        loading.load_language_model(tmp_path, device="cpu")


def test_mixture_of_experts_is_refused(tmp_path):
    from transformers import MixtralConfig

    from workbench.models.adapters import check_not_moe

    with pytest.raises(UnsupportedModelError, match="mixture-of-experts"):
        check_not_moe(MixtralConfig(num_local_experts=4))


def test_memory_refusal(monkeypatch, tiny_folder):
    monkeypatch.setattr(loading, "available_memory", lambda device: 1000)
    with pytest.raises(ModelLoadError, match="GiB.*free"):
        loading.load_language_model(tiny_folder, device="cpu")


def test_unknown_architecture_is_discovered():
    from workbench.models.adapters import adapter_for

    m = tiny_hf_model("llama")
    m.config.model_type = "my_llama_fork"
    a = adapter_for(m)
    assert a.discovered and a.spec.blocks == "model.layers" and a.spec.o_proj == "self_attn.o_proj"


@pytest.mark.embedded
def test_embedded_model_loads_offline_and_caches(tmp_path, monkeypatch):
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from workbench.models.generation import SamplingSettings, generate

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    first = loading.load_language_model(device="cpu")
    assert not first.info["from_cache"] and first.n_layers == 30 and first.n_heads == 9
    second = loading.load_language_model(device="cpu")
    assert second.info["from_cache"]
    enc = first.encode(["The capital of France is"])
    with torch.no_grad():
        torch.testing.assert_close(
            first.model(**enc).logits, second.model(**enc).logits, atol=0, rtol=0
        )
    out = generate(
        second, ["The capital of France is"], settings=SamplingSettings(max_new_tokens=3)
    )
    assert "Paris" in out.texts[0]
    # A steering vector visibly changes the continuation (and the baseline row stays plain).
    from workbench.models.generation import steered_generate
    from workbench.models.interventions import AddVector

    site = "blocks.12.hook_resid_post"
    acts = second.capture(["I love this. It is wonderful", "I hate this. It is awful"], [site])
    v = acts[site][0] - acts[site][1]
    cmp = steered_generate(
        second,
        "The food at the restaurant was",
        [AddVector(site, vector=v, coefficient=6.0)],
        SamplingSettings(max_new_tokens=12),
    )
    plain = generate(
        second, ["The food at the restaurant was"], settings=SamplingSettings(max_new_tokens=12)
    )
    assert cmp.baseline == plain.texts[0]
    assert cmp.steered != cmp.baseline
    print("baseline:", cmp.baseline, "| steered:", cmp.steered)
