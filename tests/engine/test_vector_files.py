"""Vector files: every format round-trips bit-exactly; bad inputs say what is wrong."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from workbench import __version__
from workbench.concepts.concept import Concept, ModelRef
from workbench.errors import VectorFileError
from workbench.io import FORMATS, detect_format, export_concept, import_concept

D_MODEL = 16
MODEL = ModelRef(
    name="tiny-llama",
    architecture="LlamaForCausalLM",
    d_model=D_MODEL,
    n_layers=3,
    model_type="llama",
    file_hash="ab" * 32,
    source="/models/tiny",
)
FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]


def make_concept(sites, dtype=torch.float32, seed=0, **kw) -> Concept:
    g = torch.Generator().manual_seed(seed)
    vectors = {}
    for s in sites:
        shape = (4, 4) if s.endswith("hook_z") else (D_MODEL,)
        vectors[s] = torch.randn(shape, generator=g).to(dtype)
    recipe = {"method": "diff_of_means", "prompts": ["happy", "sad"], "layer": 1, "version": 1}
    return Concept(name=kw.pop("name", "joy"), vectors=vectors, model=MODEL, recipe=recipe, **kw)


ALL_SITES = [
    "hook_embed",
    "blocks.0.hook_resid_pre",
    "blocks.0.hook_resid_post",
    "blocks.1.hook_attn_out",
    "blocks.1.attn.hook_z",
    "blocks.2.hook_resid_post",
]
RESID_POST = [f"blocks.{L}.hook_resid_post" for L in range(3)]


def assert_same_tensors(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for site in a:
        assert a[site].dtype == b[site].dtype, site
        assert a[site].shape == b[site].shape, site
        assert torch.equal(a[site], b[site]), site
        # bit-exact, not just numerically equal (-0.0 == 0.0 would pass torch.equal)
        assert (
            a[site].view(-1).view(torch.uint8).tolist()
            == b[site].view(-1).view(torch.uint8).tolist()
        )


# ---------------------------------------------------------------- safetensors


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_safetensors_round_trip_gives_an_equal_concept(tmp_path, dtype):
    c = make_concept(ALL_SITES, dtype, description="a mood")
    out = export_concept(c, tmp_path / "joy.safetensors")
    back = import_concept(out)
    assert (back.name, back.id, back.created, back.description) == (
        c.name,
        c.id,
        c.created,
        c.description,
    )
    assert back.recipe == c.recipe
    assert back.model == c.model
    assert_same_tensors(c.vectors, back.vectors)
    assert back.content_hash() == c.content_hash()


def test_exported_files_get_the_usual_permissions(tmp_path):
    """safetensors writes owner-only files; an export gets what a plain open() would give."""
    import os
    import stat

    mask = os.umask(0o022)
    try:
        c = make_concept(["blocks.1.hook_resid_post"])
        for name in ("joy.safetensors", "joy.gguf", "joy.npz"):
            out = export_concept(c, tmp_path / name)
            assert stat.S_IMODE(out.stat().st_mode) == 0o644, name
    finally:
        os.umask(mask)


def test_safetensors_header_holds_our_metadata(tmp_path):
    c = make_concept(["blocks.1.hook_resid_post", "blocks.2.hook_resid_pre"])
    out = export_concept(c, tmp_path / "joy.safetensors")
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
        assert sorted(f.keys()) == sorted(c.sites)
    assert meta["workbench.format_version"] == "1"
    assert meta["workbench.version"] == __version__
    assert meta["name"] == "joy" and meta["id"] == c.id and meta["method"] == "diff_of_means"
    assert json.loads(meta["sites"]) == c.sites
    assert json.loads(meta["layers"]) == [1, 2]
    assert json.loads(meta["model"]) == MODEL.to_dict()
    assert json.loads(meta["recipe"]) == c.recipe
    assert meta["hash"] == c.content_hash()


def test_safetensors_detects_edited_tensors(tmp_path):
    c = make_concept(RESID_POST)
    out = export_concept(c, tmp_path / "joy.safetensors")
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
    edited = {s: v + 1 for s, v in c.vectors.items()}
    save_file(edited, str(out), metadata=meta)
    with pytest.raises(VectorFileError, match="hash"):
        import_concept(out)


def test_safetensors_from_a_newer_workbench_is_refused(tmp_path):
    c = make_concept(RESID_POST)
    out = export_concept(c, tmp_path / "joy.safetensors")
    with safe_open(str(out), framework="pt") as f:
        meta = dict(f.metadata())
    meta["workbench.format_version"] = "2"
    save_file(dict(c.vectors), str(out), metadata=meta)
    with pytest.raises(VectorFileError, match="newer workbench"):
        import_concept(out)


def test_foreign_safetensors_with_site_names_imports(tmp_path):
    vectors = make_concept(RESID_POST).vectors
    save_file(dict(vectors), str(tmp_path / "theirs.safetensors"))
    back = import_concept(tmp_path / "theirs.safetensors")
    assert_same_tensors(vectors, back.vectors)
    assert back.recipe["format"] == "safetensors" and back.recipe["method"] == "import"


def test_foreign_safetensors_without_site_names_says_what_to_do(tmp_path):
    save_file(
        {"W_dec": torch.zeros(4, 16), "W_enc": torch.zeros(16, 4)}, str(tmp_path / "x.safetensors")
    )
    with pytest.raises(VectorFileError, match="SAELens"):
        import_concept(tmp_path / "x.safetensors")


def test_site_selects_one_vector_of_a_multi_site_file(tmp_path):
    c = make_concept(RESID_POST)
    out = export_concept(c, tmp_path / "joy.safetensors")
    one = import_concept(out, site="blocks.1.hook_resid_post", name="joy@1")
    assert one.sites == ["blocks.1.hook_resid_post"] and one.name == "joy@1"
    assert one.id != c.id
    with pytest.raises(VectorFileError, match=r"no vector at blocks\.7"):
        import_concept(out, site="blocks.7.hook_resid_post")


@pytest.mark.parametrize("ext", ["safetensors", "pt", "npz"])
def test_diffusion_concepts_round_trip(tmp_path, ext):
    g = torch.Generator().manual_seed(3)
    vectors = {
        "text_encoder.hidden": torch.randn(77, 32, generator=g),
        "text_encoder.pooled": torch.randn(32, generator=g),
    }
    c = Concept("watercolour", vectors, ModelRef(name="sd-tiny", kind="diffusion"))
    back = import_concept(export_concept(c, tmp_path / f"w.{ext}"))
    assert_same_tensors(c.vectors, back.vectors)
    with pytest.raises(VectorFileError, match="not a language-model hook site"):
        export_concept(c, tmp_path / "w.gguf")


# ---------------------------------------------------------------- pt, npy, npz


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_pt_round_trip(tmp_path, dtype):
    c = make_concept(ALL_SITES, dtype)
    back = import_concept(export_concept(c, tmp_path / "joy.pt"))
    assert_same_tensors(c.vectors, back.vectors)
    assert back.recipe == {"method": "import", "format": "pt", "source": str(tmp_path / "joy.pt")}


def test_pt_file_is_plain_tensors_loadable_with_weights_only(tmp_path):
    c = make_concept(RESID_POST)
    big = torch.randn(1000, D_MODEL)
    c.vectors["blocks.0.hook_resid_post"] = big[3]  # a view: must not drag `big` into the file
    out = export_concept(c, tmp_path / "joy.pt")
    loaded = torch.load(out, weights_only=True)
    assert_same_tensors(c.vectors, loaded)
    assert out.stat().st_size < big.numel() * 4 / 4


def test_pt_with_code_is_refused_and_never_run(tmp_path):
    ran = []

    class Evil:
        def __reduce__(self):
            return (ran.append, ("ran",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"blocks.1.hook_resid_post": Evil()}, f, protocol=2)
    with pytest.raises(VectorFileError, match="never runs code"):
        import_concept(path)
    assert ran == []


def test_pt_single_tensor_needs_a_site(tmp_path):
    v = torch.randn(D_MODEL)
    torch.save(v, tmp_path / "layer_5.pt")
    with pytest.raises(VectorFileError, match="site="):
        import_concept(tmp_path / "layer_5.pt")
    c = import_concept(tmp_path / "layer_5.pt", site="blocks.5.hook_resid_pre")
    assert_same_tensors({"blocks.5.hook_resid_pre": v}, c.vectors)


def test_easyedit_folder_of_layer_files_with_a_site_template(tmp_path):
    vs = {L: torch.randn(D_MODEL) for L in (3, 10, 4)}
    for L, v in vs.items():
        torch.save(v, tmp_path / f"layer_{L}.pt")
    assert detect_format(tmp_path) == "pt"
    with pytest.raises(VectorFileError, match=r"\{L\}"):
        import_concept(tmp_path)
    with pytest.raises(VectorFileError, match=r"\{L\}"):
        import_concept(tmp_path, site="blocks.3.hook_resid_post")
    c = import_concept(tmp_path, site="blocks.{L}.hook_resid_post")
    assert c.sites == [f"blocks.{L}.hook_resid_post" for L in (3, 4, 10)]
    assert torch.equal(c.vectors["blocks.10.hook_resid_post"], vs[10])


def test_pt_dict_keyed_by_layer_number(tmp_path):
    torch.save({1: torch.ones(D_MODEL), 2: torch.zeros(D_MODEL)}, tmp_path / "v.pt")
    c = import_concept(tmp_path / "v.pt", site="blocks.{L}.hook_resid_pre")
    assert c.sites == ["blocks.1.hook_resid_pre", "blocks.2.hook_resid_pre"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_npz_round_trip(tmp_path, dtype):
    c = make_concept(ALL_SITES, dtype)
    back = import_concept(export_concept(c, tmp_path / "joy.npz"))
    assert_same_tensors(c.vectors, back.vectors)


def test_bfloat16_goes_to_numpy_as_exact_float32(tmp_path):
    c = make_concept(RESID_POST, torch.bfloat16)
    back = import_concept(export_concept(c, tmp_path / "joy.npz"))
    for s, v in c.vectors.items():
        assert back.vectors[s].dtype == torch.float32
        assert torch.equal(back.vectors[s].to(torch.bfloat16), v)
        assert torch.equal(back.vectors[s], v.to(torch.float32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_npy_round_trip_of_one_site(tmp_path, dtype):
    c = make_concept(RESID_POST, dtype)
    out = export_concept(c, tmp_path / "joy.npy", site="blocks.1.hook_resid_post")
    assert np.load(out).shape == (D_MODEL,)
    back = import_concept(out, site="blocks.1.hook_resid_post")
    assert_same_tensors(
        {"blocks.1.hook_resid_post": c.vectors["blocks.1.hook_resid_post"]}, back.vectors
    )


def test_npy_needs_one_site_on_export_and_a_site_on_import(tmp_path):
    c = make_concept(RESID_POST)
    with pytest.raises(VectorFileError, match="site=.*npz"):
        export_concept(c, tmp_path / "joy.npy")
    np.save(tmp_path / "v.npy", np.ones(D_MODEL, dtype=np.float32))
    with pytest.raises(VectorFileError, match="site="):
        import_concept(tmp_path / "v.npy")


def test_npy_of_the_wrong_shape_or_objects_is_refused(tmp_path):
    np.save(tmp_path / "m.npy", np.ones((2, D_MODEL), dtype=np.float32))
    with pytest.raises(VectorFileError, match=r"shape \(2, 16\)"):
        import_concept(tmp_path / "m.npy", site="blocks.1.hook_resid_post")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(VectorFileError, match="never unpickled"):
        import_concept(tmp_path / "o.npy", site="blocks.1.hook_resid_post")
    np.save(tmp_path / "i.npy", np.arange(D_MODEL))
    with pytest.raises(VectorFileError, match="float"):
        import_concept(tmp_path / "i.npy", site="blocks.1.hook_resid_post")


def test_npz_keys_must_be_sites(tmp_path):
    np.savez(tmp_path / "x.npz", W_dec=np.ones(D_MODEL, dtype=np.float32), b=np.ones(3))
    with pytest.raises(VectorFileError, match="not a hook site|W_dec"):
        import_concept(tmp_path / "x.npz")


# ---------------------------------------------------------------- detection and bad inputs


def test_formats_registry():
    assert set(FORMATS) == {
        "safetensors",
        "gguf",
        "pt",
        "npy",
        "npz",
        "neuronpedia",
        "svec",
        "saelens",
    }
    assert not FORMATS["saelens"].can_export
    assert FORMATS["gguf"].extensions == (".gguf",)


def test_detect_format_looks_at_content_when_the_extension_lies(tmp_path):
    c = make_concept(RESID_POST[1:])  # GGUF cannot hold block 0's output
    for fmt in ("safetensors", "gguf", "pt", "npz", "svec"):
        out = export_concept(c, tmp_path / f"joy.{fmt}")
        lying = out.rename(tmp_path / f"joy-{fmt}.bin")
        assert detect_format(lying) == fmt
        assert_same_tensors(c.vectors, import_concept(lying).vectors)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(VectorFileError, match="cannot tell the format"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(VectorFileError, match="does not exist"):
        import_concept(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("ext", ["safetensors", "gguf", "pt", "npz", "npy", "svec", "json"])
def test_corrupt_files_raise_vector_file_errors(tmp_path, ext):
    c = make_concept(["blocks.2.hook_resid_pre"])
    good = export_concept(c, tmp_path / f"good.{ext}")
    data = good.read_bytes()
    for i, broken in enumerate([data[: len(data) // 2], b"\x00garbage" * 5, b""]):
        p = tmp_path / f"bad{i}.{ext}"
        p.write_bytes(broken)
        with pytest.raises(VectorFileError):
            import_concept(
                p, fmt=ext if ext != "json" else "neuronpedia", site="blocks.2.hook_resid_pre"
            )


def test_export_arguments_are_checked(tmp_path):
    c = make_concept(RESID_POST)
    with pytest.raises(VectorFileError, match="cannot tell the format"):
        export_concept(c, tmp_path / "joy.xyz")
    with pytest.raises(VectorFileError, match="unknown vector format"):
        export_concept(c, tmp_path / "joy", fmt="onnx")
    with pytest.raises(VectorFileError, match="import-only"):
        export_concept(c, tmp_path / "joy", fmt="saelens")
    with pytest.raises(VectorFileError, match="coefficient.*do not apply to safetensors"):
        export_concept(c, tmp_path / "joy.safetensors", coefficient=2.0)
    assert export_concept(c, tmp_path / "joy", fmt="npz") == tmp_path / "joy.npz"
    with pytest.raises(VectorFileError, match="feature= applies to SAELens"):
        import_concept(tmp_path / "joy.npz", feature=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joy.npz"]  # no temporary left over


def test_a_failed_export_leaves_no_file(tmp_path):
    c = make_concept(["blocks.0.hook_resid_post"])
    with pytest.raises(VectorFileError):
        export_concept(c, tmp_path / "joy.gguf")
    assert list(tmp_path.iterdir()) == []


def test_site_in_a_file_name():
    from workbench.io.vector_files import site_in_name

    assert site_in_name("happy.blocks.12.hook_resid_post.npy") == "blocks.12.hook_resid_post"
    assert site_in_name("x_blocks.3.attn.hook_z.npy") == "blocks.3.attn.hook_z"
    # a suffix after an underscore is not part of the site (it was once read as "..._post_v")
    assert site_in_name("happy_blocks.1.hook_resid_post_v2.npy") == "blocks.1.hook_resid_post"
    assert site_in_name("blocks.1.hook_resid_postx.npy") is None
    assert site_in_name("happy.npy") is None
