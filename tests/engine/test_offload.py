"""A model placed by accelerate (device map, CPU and disk offload) against a plain load:
captures, steering, ablation and Hugging Face's own hidden states agree; the options are
refused clearly when wrong."""

from __future__ import annotations

import pytest
import torch

from workbench.errors import ModelLoadError
from workbench.models.generation import SamplingSettings, steered_generate
from workbench.models.interventions import AddVector
from workbench.models.loading import load_language_model
from workbench.models.placement import parse_device_map, parse_max_memory

PROMPTS = ["the king is a", "I feel very happy and"]
SITES = ["blocks.0.hook_resid_post", "blocks.1.attn.hook_z", "blocks.2.hook_resid_post"]


@pytest.fixture(scope="module")
def plain(tiny_llama_dir):
    return load_language_model(tiny_llama_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def offloaded(tiny_llama_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("offload")
    hm = load_language_model(
        tiny_llama_dir, device="cpu", dtype="float32",
        device_map='{"0": "cpu", "1-2": "disk", "rest": "cpu"}', offload_folder=str(folder),
    )  # fmt: skip
    return hm, folder


def test_disk_offload_is_real(offloaded):
    hm, _ = offloaded
    placed = hm.model.hf_device_map
    assert placed["model.layers.1"] == "disk" and placed["model.layers.0"] == "cpu"
    # the offloaded blocks' weights are not in memory (meta) until a forward brings them in
    assert hm.model.model.layers[1].self_attn.q_proj.weight.device.type == "meta"
    # accelerate's hook brings them in for each forward (from the safetensors file itself:
    # transformers writes to the offload folder only weights that are not in one)
    hook = hm.model.model.layers[1].self_attn.q_proj._hf_hook
    assert hook.offload and hook.execution_device in ("cpu", torch.device("cpu"))
    assert hm.device == torch.device("cpu")
    assert "disk x 2" in hm.info["device_map"]  # modules per device


def test_captures_under_disk_offload_equal_a_plain_load_and_hugging_face(plain, offloaded):
    hm, _ = offloaded
    a = plain.capture(PROMPTS, SITES, position="all")
    b = hm.capture(PROMPTS, SITES, position="all")
    for site in SITES:
        torch.testing.assert_close(b[site], a[site], rtol=0, atol=0)
    # and Hugging Face's own hidden states of the offloaded model
    enc = hm.encode(PROMPTS[:1])
    with torch.no_grad():
        hs = hm.model(**enc, output_hidden_states=True).hidden_states
    one = hm.capture(PROMPTS[:1], ["blocks.0.hook_resid_post"], position="all")
    torch.testing.assert_close(one["blocks.0.hook_resid_post"], hs[1][0].float(), rtol=0, atol=0)


def test_steering_and_ablation_under_disk_offload_equal_a_plain_load(plain, offloaded):
    hm, _ = offloaded
    v = torch.randn(plain.d_model, generator=torch.Generator().manual_seed(0))
    settings = SamplingSettings(max_new_tokens=6, stop_at_eos=False)
    for site in ("blocks.0.hook_resid_post", "blocks.2.hook_resid_pre"):  # in memory, on disk
        iv = [AddVector(site, vector=v, coefficient=4.0)]
        a = steered_generate(plain, PROMPTS[0], iv, settings)
        b = steered_generate(hm, PROMPTS[0], iv, settings)
        assert b.generation.token_ids == a.generation.token_ids
        assert b.steered == a.steered and b.steered != b.baseline
    la = plain.logits(PROMPTS, [AddVector("blocks.1.hook_resid_post", vector=v, coefficient=2.0)])
    lb = hm.logits(PROMPTS, [AddVector("blocks.1.hook_resid_post", vector=v, coefficient=2.0)])
    torch.testing.assert_close(lb, la, rtol=0, atol=0)
    from workbench.heads.ablation import ablation_scores_job
    from workbench.heads.data import TaskPrompts
    from workbench.jobs import run

    task = TaskPrompts(["the king is a", "I feel very"], [" man", " happy"], [" woman", " sad"])
    sa = run(ablation_scores_job(plain, task, max_rows=4))
    sb = run(ablation_scores_job(hm, task, max_rows=4))
    torch.testing.assert_close(sb.scores, sa.scores, rtol=0, atol=0)


def test_a_planned_map_under_a_memory_limit_offloads(tiny_llama_dir, plain, tmp_path):
    hm = load_language_model(
        tiny_llama_dir, device="cpu", dtype="float32", device_map="sequential",
        max_memory="cpu=60KB", offload_folder=str(tmp_path / "off"),
    )  # fmt: skip
    assert "disk" in hm.model.hf_device_map.values()
    a = plain.capture(PROMPTS, SITES)
    b = hm.capture(PROMPTS, SITES)
    for site in SITES:
        torch.testing.assert_close(b[site], a[site], rtol=0, atol=0)


def test_without_a_device_map_the_model_is_on_one_device(plain):
    assert not getattr(plain.model, "hf_device_map", None)
    assert plain.info["device_map"] is None


def test_placement_options_are_checked(tiny_llama_dir):
    assert parse_device_map("auto") == "auto"
    assert parse_device_map('{"0-1": 0, "2": "cuda:1", "rest": "cpu"}') == {
        "0-1": 0, "2": 1, "rest": "cpu",
    }  # fmt: skip
    assert parse_max_memory("0=10GiB, cpu=30GiB") == {0: "10GiB", "cpu": "30GiB"}
    bad = [
        ("device_map", "everywhere", "use auto, balanced"),
        ("device_map", '{"0": "tpu"}', "not a device"),
        ("max_memory", "cpu:3GB", "has no '='"),
        ("max_memory", "cpu=lots", "not a size"),
    ]
    for key, value, msg in bad:
        with pytest.raises(ModelLoadError, match=msg):
            (parse_device_map if key == "device_map" else parse_max_memory)(value)
    with pytest.raises(ModelLoadError, match="give an offload folder"):
        load_language_model(tiny_llama_dir, device="cpu", device_map='{"0-2": "disk"}')
    with pytest.raises(ModelLoadError, match="outside this model's 0-2"):
        load_language_model(tiny_llama_dir, device="cpu", device_map='{"0-5": "cpu"}')
    with pytest.raises(ModelLoadError, match="have no device"):
        load_language_model(tiny_llama_dir, device="cpu", device_map='{"0": "cpu"}')
    with pytest.raises(ModelLoadError, match="only applies with a device map"):
        load_language_model(tiny_llama_dir, device="cpu", max_memory="cpu=1GB")


def test_the_command_line_takes_the_placement_options(tiny_llama_dir, tmp_path, capsys):
    import json

    from workbench.cli import main

    base = ["concepts", "sweep", "x", "--model", str(tiny_llama_dir), "--device", "cpu",
            "--layers", "1", "--coefficients", "2", "--prompt", "the king is",
            "--max-new-tokens", "3", "--json"]  # fmt: skip
    v = torch.randn(32, generator=torch.Generator().manual_seed(1))
    from safetensors.torch import save_file

    f = tmp_path / "x.safetensors"
    save_file({"blocks.1.hook_resid_post": v}, str(f))
    base += ["--concept", f"x={f}"]
    assert main(base) == 0
    plain = json.loads(capsys.readouterr().out)
    off = ["--device-map", '{"0-1": "cpu", "2": "disk"}', "--offload-folder", str(tmp_path / "o")]
    assert main([*base, *off]) == 0
    placed = json.loads(capsys.readouterr().out)
    placed.pop("concept"), plain.pop("concept")  # a fresh id each time the file is read
    assert placed == plain
    assert main([*base, "--device-map", '{"2": "disk"}']) == 1
    assert "give an offload folder" in capsys.readouterr().err


def test_weight_reading_analyses_refuse_offloaded_weights(offloaded):
    from workbench.heads.data import TaskPrompts
    from workbench.heads.dla import dla_job
    from workbench.jobs import run

    hm, _ = offloaded
    task = TaskPrompts(["the king is a"], [" man"], [" woman"])
    with pytest.raises(ModelLoadError, match="offloaded to disk"):
        run(dla_job(hm, task))
