"""SAELens import: feature i of an SAE folder is the decoder row W_dec[i] at the SAE's hook."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from workbench.concepts.concept import ModelRef
from workbench.errors import VectorFileError
from workbench.io import detect_format, import_concept

D_IN, D_SAE = 16, 8


def make_sae(folder, cfg_style="v5", hook="blocks.8.hook_resid_pre", dtype=torch.float32):
    """A folder laid out as SAELens's SAE.save_model writes it (cfg.json + weights)."""
    g = torch.Generator().manual_seed(1)
    weights = {
        "W_enc": torch.randn(D_IN, D_SAE, generator=g).to(dtype),
        "W_dec": torch.randn(D_SAE, D_IN, generator=g).to(dtype),
        "b_enc": torch.zeros(D_SAE, dtype=dtype),
        "b_dec": torch.zeros(D_IN, dtype=dtype),
    }
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(folder / "sae_weights.safetensors"))
    if cfg_style == "v5":  # SAELens < 6: hook and model at the top level
        cfg = {
            "d_in": D_IN,
            "d_sae": D_SAE,
            "hook_name": hook,
            "hook_layer": 8,
            "model_name": "gpt2-small",
            "architecture": "standard",
            "dtype": "float32",
        }
    else:  # SAELens 6: SAEConfig.to_dict() puts them under "metadata"
        cfg = {
            "d_in": D_IN,
            "d_sae": D_SAE,
            "dtype": "float32",
            "architecture": "standard",
            "metadata": {
                "hook_name": hook,
                "model_name": "gpt2-small",
                "neuronpedia_id": "gpt2-small/8-res-jb",
            },
        }
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return weights


@pytest.mark.parametrize("style", ["v5", "v6"])
def test_feature_is_the_decoder_row_at_the_sae_hook(tmp_path, style):
    weights = make_sae(tmp_path / "sae", style)
    c = import_concept(tmp_path / "sae", feature=3)
    assert c.sites == ["blocks.8.hook_resid_pre"]
    v = c.vectors["blocks.8.hook_resid_pre"]
    assert v.dtype == torch.float32 and torch.equal(v, weights["W_dec"][3])
    assert c.model.name == "gpt2-small" and c.model.d_model == D_IN
    assert c.recipe["method"] == "sae_feature" and c.recipe["format"] == "saelens"
    assert c.recipe["feature"] == 3 and c.recipe["d_sae"] == D_SAE


def test_bfloat16_sae_keeps_its_dtype(tmp_path):
    weights = make_sae(tmp_path / "sae", dtype=torch.bfloat16)
    v = import_concept(tmp_path / "sae", feature=0).vectors["blocks.8.hook_resid_pre"]
    assert v.dtype == torch.bfloat16 and torch.equal(v, weights["W_dec"][0])


def test_folder_cfg_or_weights_path_all_detect_as_saelens(tmp_path):
    make_sae(tmp_path / "sae")
    for p in (
        tmp_path / "sae",
        tmp_path / "sae" / "cfg.json",
        tmp_path / "sae" / "sae_weights.safetensors",
    ):
        assert detect_format(p) == "saelens"
        assert import_concept(p, feature=1).sites == ["blocks.8.hook_resid_pre"]


def test_feature_index_is_required_and_checked(tmp_path):
    make_sae(tmp_path / "sae")
    with pytest.raises(VectorFileError, match="feature=<index>"):
        import_concept(tmp_path / "sae")
    with pytest.raises(VectorFileError, match="8 features"):
        import_concept(tmp_path / "sae", feature=D_SAE)
    with pytest.raises(VectorFileError, match="out of range"):
        import_concept(tmp_path / "sae", feature=-1)


def test_site_name_and_model_overrides(tmp_path):
    make_sae(tmp_path / "sae")
    given = ModelRef(name="GPT-2", d_model=D_IN)
    c = import_concept(
        tmp_path / "sae", feature=2, site="blocks.7.hook_resid_post", name="f2", model=given
    )
    assert c.sites == ["blocks.7.hook_resid_post"] and c.name == "f2" and c.model == given


def test_hooks_the_workbench_cannot_steer_are_refused(tmp_path):
    make_sae(tmp_path / "z", hook="blocks.3.attn.hook_z")
    with pytest.raises(VectorFileError, match="per-head"):
        import_concept(tmp_path / "z", feature=0)
    make_sae(tmp_path / "mlp", hook="blocks.3.mlp.hook_post")
    with pytest.raises(VectorFileError, match="not a hook site"):
        import_concept(tmp_path / "mlp", feature=0)


def test_broken_sae_folders(tmp_path):
    make_sae(tmp_path / "sae")
    (tmp_path / "sae" / "cfg.json").write_text("{not json")
    with pytest.raises(VectorFileError, match="not readable JSON"):
        import_concept(tmp_path / "sae", feature=0)
    make_sae(tmp_path / "sae2")
    save_file(
        {"W_enc": torch.zeros(D_IN, D_SAE)}, str(tmp_path / "sae2" / "sae_weights.safetensors")
    )
    with pytest.raises(VectorFileError, match="no W_dec"):
        import_concept(tmp_path / "sae2", feature=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VectorFileError, match="neither a SAELens SAE"):
        import_concept(tmp_path / "empty", feature=0)
