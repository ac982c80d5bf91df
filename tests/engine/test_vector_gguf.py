"""GGUF control vectors against llama.cpp's and repeng's rules (REFERENCE.md, "Vector file formats").

Two references: ``llama_cpp_load`` transcribes llama.cpp's ``common_control_vector_load_one``
(common/common.cpp) rule for rule, and ``repeng_export``/``repeng_import`` do what repeng's
``ControlVector.export_gguf``/``import_gguf`` do, with the ``gguf`` library.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from workbench.concepts.concept import Concept, ModelRef
from workbench.errors import VectorFileError
from workbench.io import export_concept, import_concept
from workbench.io.gguf_control import direction_index

D_MODEL = 16
MODEL = ModelRef(name="tiny-llama", d_model=D_MODEL, n_layers=3, model_type="llama")


def make_concept(sites, dtype=torch.float32, seed=0) -> Concept:
    g = torch.Generator().manual_seed(seed)
    return Concept(
        "joy",
        {s: torch.randn(D_MODEL, generator=g).to(dtype) for s in sites},
        MODEL,
        recipe={"method": "diff_of_means"},
    )


def llama_cpp_load(path, strength=1.0) -> tuple[int, np.ndarray]:
    """llama.cpp's loader: (n_embd, data) with layer k at data[(k-1)*n_embd : k*n_embd].

    Raises ValueError where llama.cpp logs an error and skips the whole file.
    """
    reader = gguf.GGUFReader(path)
    n_embd, data = -1, np.zeros(0, dtype=np.float32)
    for t in reader.tensors:
        prefix, dot, rest = t.name.partition(".")
        try:
            layer_idx = int(rest) if dot and prefix == "direction" else -1
        except ValueError:
            layer_idx = -1
        if layer_idx < 0:
            raise ValueError("invalid/unparsable direction tensor layer index")
        if layer_idx == 0:
            raise ValueError("invalid (zero) direction tensor layer index")
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            raise ValueError("invalid (non-F32) direction tensor type")
        if len(t.shape) != 1:
            raise ValueError("invalid (non-1D) direction tensor shape")
        if n_embd == -1:
            n_embd = int(t.n_elements)
        elif t.n_elements != n_embd:
            raise ValueError("direction tensor does not match previous dimensions")
        if data.size < n_embd * layer_idx:
            data = np.concatenate([data, np.zeros(n_embd * layer_idx - data.size, np.float32)])
        data[n_embd * (layer_idx - 1) : n_embd * layer_idx] += t.data * np.float32(strength)
    return n_embd, data


def repeng_export(path, model_type: str, directions: dict[int, np.ndarray]) -> None:
    """repeng's ControlVector.export_gguf, line for line."""
    arch = "controlvector"
    writer = gguf.GGUFWriter(path, arch)
    writer.add_string(f"{arch}.model_hint", model_type)
    writer.add_uint32(f"{arch}.layer_count", len(directions))
    for layer in directions:
        writer.add_tensor(f"direction.{layer}", directions[layer])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def repeng_import(path) -> tuple[str, dict[int, np.ndarray]]:
    """repeng's ControlVector.import_gguf (its warnings left out)."""
    reader = gguf.GGUFReader(path)
    modelf = reader.get_field("controlvector.model_hint")
    if not modelf or not len(modelf.parts):
        raise ValueError(".gguf file missing controlvector.model_hint field")
    model_hint = str(bytes(modelf.parts[-1]), encoding="utf-8")
    directions = {}
    for tensor in reader.tensors:
        if tensor.name.startswith("direction."):
            directions[int(tensor.name.split(".")[1])] = np.array(tensor.data)
    return model_hint, directions


def test_the_llama_cpp_transcription_refuses_what_llama_cpp_refuses(tmp_path):
    repeng_export(
        tmp_path / "zero.gguf", "llama", {0: np.ones(4, np.float32), 1: np.ones(4, np.float32)}
    )
    with pytest.raises(ValueError, match="zero"):
        llama_cpp_load(tmp_path / "zero.gguf")
    repeng_export(tmp_path / "f16.gguf", "llama", {1: np.ones(4, np.float16)})
    with pytest.raises(ValueError, match="non-F32"):
        llama_cpp_load(tmp_path / "f16.gguf")
    repeng_export(
        tmp_path / "mixed.gguf", "llama", {1: np.ones(4, np.float32), 2: np.ones(5, np.float32)}
    )
    with pytest.raises(ValueError, match="dimensions"):
        llama_cpp_load(tmp_path / "mixed.gguf")


def test_export_follows_the_control_vector_convention(tmp_path):
    sites = ["blocks.2.hook_resid_post", "blocks.1.hook_resid_post"]
    c = make_concept(sites)
    out = export_concept(c, tmp_path / "joy.gguf")
    reader = gguf.GGUFReader(out)
    assert reader.get_field("general.architecture").contents() == "controlvector"
    assert reader.get_field("controlvector.model_hint").contents() == "llama"
    count = reader.get_field("controlvector.layer_count")
    assert count.types == [gguf.GGUFValueType.UINT32] and count.contents() == 2
    assert [t.name for t in reader.tensors] == ["direction.1", "direction.2"]
    for t in reader.tensors:
        assert t.tensor_type == gguf.GGMLQuantizationType.F32
        assert len(t.shape) == 1 and t.n_elements == D_MODEL
    del reader
    # llama.cpp accepts it, and direction.k lands on block k's output
    n_embd, data = llama_cpp_load(out)
    assert n_embd == D_MODEL
    for k in (1, 2):
        block_k = data[(k - 1) * n_embd : k * n_embd]
        assert np.array_equal(block_k, c.vectors[f"blocks.{k}.hook_resid_post"].numpy())


def test_repeng_reads_our_file(tmp_path):
    c = make_concept(["blocks.1.hook_resid_post", "blocks.2.hook_resid_post"])
    hint, directions = repeng_import(export_concept(c, tmp_path / "joy.gguf"))
    assert hint == "llama" and sorted(directions) == [1, 2]
    for k, v in directions.items():
        assert v.dtype == np.float32
        assert np.array_equal(v, c.vectors[f"blocks.{k}.hook_resid_post"].numpy())


def test_a_repeng_written_file_imports_to_the_same_tensors(tmp_path):
    rng = np.random.default_rng(0)
    directions = {k: rng.standard_normal(D_MODEL).astype(np.float32) for k in (5, 1, 3)}
    repeng_export(tmp_path / "repeng.gguf", "mistral", directions)
    c = import_concept(tmp_path / "repeng.gguf")
    assert c.sites == [
        "blocks.1.hook_resid_post",
        "blocks.3.hook_resid_post",
        "blocks.5.hook_resid_post",
    ]
    for k, v in directions.items():
        got = c.vectors[f"blocks.{k}.hook_resid_post"]
        assert got.dtype == torch.float32 and np.array_equal(got.numpy(), v)
    assert c.model.model_type == "mistral" and c.model.d_model == D_MODEL
    assert c.recipe["method"] == "import" and c.recipe["format"] == "gguf"
    assert c.recipe["source"] == str(tmp_path / "repeng.gguf")
    given = ModelRef(name="Mistral-7B", model_type="mistral", d_model=D_MODEL)
    assert import_concept(tmp_path / "repeng.gguf", model=given, name="calm").model == given


def test_repeng_direction_0_imports_as_block_0_output(tmp_path):
    repeng_export(tmp_path / "r.gguf", "llama", {0: np.ones(D_MODEL, np.float32)})
    assert import_concept(tmp_path / "r.gguf").sites == ["blocks.0.hook_resid_post"]


def test_a_llama_cpp_generator_file_with_int32_layer_count_imports(tmp_path):
    w = gguf.GGUFWriter(tmp_path / "cvg.gguf", "controlvector")
    w.add_string("controlvector.model_hint", "llama")
    w.add_int32("controlvector.layer_count", 2)
    for k in (1, 2):
        w.add_tensor(f"direction.{k}", np.full(D_MODEL, k, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    c = import_concept(tmp_path / "cvg.gguf")
    assert c.vectors["blocks.2.hook_resid_post"].tolist() == [2.0] * D_MODEL


def test_round_trip_of_resid_post_sites_is_bit_exact(tmp_path):
    c = make_concept([f"blocks.{k}.hook_resid_post" for k in (1, 2)])
    back = import_concept(export_concept(c, tmp_path / "joy.gguf"))
    assert back.name == "joy"
    for s, v in c.vectors.items():
        assert torch.equal(back.vectors[s], v) and back.vectors[s].dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_written_as_exact_float32(tmp_path, dtype):
    c = make_concept(["blocks.1.hook_resid_post"], dtype)
    back = import_concept(export_concept(c, tmp_path / "joy.gguf"))
    v = back.vectors["blocks.1.hook_resid_post"]
    assert v.dtype == torch.float32 and torch.equal(
        v, c.vectors["blocks.1.hook_resid_post"].float()
    )


def test_resid_pre_of_block_l_is_direction_l_minus_1(tmp_path):
    assert direction_index("blocks.4.hook_resid_pre") == 3
    assert direction_index("blocks.4.hook_resid_post") == 4
    c = make_concept(["blocks.2.hook_resid_pre"])
    out = export_concept(c, tmp_path / "pre.gguf")
    n_embd, data = llama_cpp_load(out)
    assert np.array_equal(
        data[0:n_embd], c.vectors["blocks.2.hook_resid_pre"].numpy()
    )  # direction.1
    assert import_concept(out).sites == ["blocks.1.hook_resid_post"]


@pytest.mark.parametrize(
    ("site", "why"),
    [
        ("blocks.0.hook_resid_post", r"direction\.0.*llama\.cpp rejects the whole"),
        ("blocks.1.hook_resid_pre", r"output of block 0.*direction\.0"),
        ("blocks.0.hook_resid_pre", "input of block 0"),
        ("hook_embed", "input of block 0"),
        ("blocks.1.hook_attn_out", r"blocks\.1\.hook_attn_out.*residual-stream"),
        ("blocks.1.hook_mlp_out", r"blocks\.1\.hook_mlp_out.*safetensors"),
        ("blocks.1.hook_resid_mid", "not a residual-stream addition at a block's output"),
    ],
)
def test_sites_a_control_vector_cannot_hold_are_refused_with_the_reason(tmp_path, site, why):
    with pytest.raises(VectorFileError, match=why):
        export_concept(make_concept([site]), tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_per_head_sites_are_refused(tmp_path):
    c = make_concept(["blocks.1.hook_resid_post"])
    c.vectors["blocks.1.attn.hook_z"] = torch.zeros(4, 4)
    with pytest.raises(VectorFileError, match=r"blocks\.1\.attn\.hook_z"):
        export_concept(c, tmp_path / "x.gguf")


def test_skip_unsupported_writes_the_rest(tmp_path):
    c = make_concept(
        ["blocks.0.hook_resid_post", "blocks.1.hook_mlp_out", "blocks.2.hook_resid_post"]
    )
    out = export_concept(c, tmp_path / "x.gguf", skip_unsupported=True)
    assert import_concept(out).sites == ["blocks.2.hook_resid_post"]
    llama_cpp_load(out)  # accepted


def test_two_sites_at_one_point_are_refused(tmp_path):
    c = make_concept(["blocks.1.hook_resid_post", "blocks.2.hook_resid_pre"])
    with pytest.raises(VectorFileError, match=r"same point.*direction\.1"):
        export_concept(c, tmp_path / "x.gguf")


def test_coefficient_is_baked_in(tmp_path):
    c = make_concept(["blocks.1.hook_resid_post"])
    out = export_concept(c, tmp_path / "x.gguf", coefficient=-2.5)
    _, data = llama_cpp_load(out)
    assert np.array_equal(data, (c.vectors["blocks.1.hook_resid_post"] * -2.5).numpy())


def test_model_hint_is_needed(tmp_path):
    c = make_concept(["blocks.1.hook_resid_post"])
    c.model = ModelRef(name="mystery", d_model=D_MODEL)
    with pytest.raises(VectorFileError, match="model_hint="):
        export_concept(c, tmp_path / "x.gguf")
    out = export_concept(c, tmp_path / "x.gguf", model_hint="qwen2")
    assert repeng_import(out)[0] == "qwen2"


def test_a_model_gguf_is_not_a_control_vector(tmp_path):
    w = gguf.GGUFWriter(tmp_path / "model.gguf", "llama")
    w.add_tensor("blk.0.attn_q.weight", np.zeros((4, 4), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(VectorFileError, match="model file.*not a control vector"):
        import_concept(tmp_path / "model.gguf")


def test_a_2d_direction_is_refused(tmp_path):
    repeng_export(tmp_path / "x.gguf", "llama", {1: np.zeros((2, D_MODEL), np.float32)})
    with pytest.raises(VectorFileError, match="1-D"):
        import_concept(tmp_path / "x.gguf")
