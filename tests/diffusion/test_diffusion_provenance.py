"""PNG provenance: our JSON and the A1111 ``parameters`` chunk round-trip."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from workbench.concepts.algebra import parse
from workbench.diffusion.embeddings import encode_concept
from workbench.diffusion.generate import generate_image
from workbench.diffusion.provenance import (
    a1111_parameters,
    format_expression,
    parse_a1111_parameters,
    png_with_provenance,
    read_provenance,
)
from workbench.errors import WorkbenchError
from workbench.jobs import run


def test_png_round_trip(tmp_path, sdxl_dm, make_spec):
    castle = encode_concept(sdxl_dm, "a castle", name="castle")
    spec = make_spec(
        terms=[(1.0, castle), (0.6, "winter"), (-0.4, "summer")], negative_prompt="blurry, dark",
        seed=11,
    )  # fmt: skip
    result = run(generate_image(sdxl_dm, spec))
    path = result.save(tmp_path / "edit.png")
    back = read_provenance(path)
    assert back == read_provenance(path.read_bytes())
    ours = back["workbench"]
    assert ours == json.loads(json.dumps(result.info))  # everything, exactly
    assert ours["format"] == "concept-workbench/image" and ours["version"] == 1
    assert ours["expression"] == "castle + 0.6*winter - 0.4*summer"
    assert [t["coefficient"] for t in ours["terms"]] == [1.0, 0.6, -0.4]
    assert ours["terms"][0]["concept_id"] == castle.id
    assert ours["terms"][0]["content_hash"] == castle.content_hash()
    assert ours["terms"][1] == {"coefficient": 0.6, "prompt": "winter"}
    assert ours["model"]["file_hash"] == sdxl_dm.ref.file_hash
    assert ours["model"]["kind"] == "diffusion"
    assert (ours["seed"], ours["steps"], ours["guidance"]) == (11, 2, 7.5)
    assert ours["scheduler"] == "DDIMScheduler" and ours["size"] == [64, 64]
    parsed = back["parsed"]
    assert parsed["prompt"] == "castle + 0.6*winter - 0.4*summer"
    assert parsed["negative_prompt"] == "blurry, dark"
    assert parsed["Steps"] == "2" and parsed["Seed"] == "11" and parsed["CFG scale"] == "7.5"
    assert parsed["Sampler"] == "DDIM" and parsed["Size"] == "64x64"
    assert parsed["Model hash"] == sdxl_dm.ref.file_hash[:10]
    assert parsed["Workbench expression"] == "castle + 0.6*winter - 0.4*summer"
    # the pixels are the image's
    assert Image.open(path).convert("RGB").tobytes() == result.image.tobytes()


def test_plain_prompt_writes_a_plain_a1111_prompt():
    info = {"terms": [{"coefficient": 1.0, "prompt": "a castle, at night"}], "expression": "x",
            "steps": 20, "seed": 1, "guidance": 7, "scheduler": "EulerAncestralDiscreteScheduler",
            "size": [512, 768], "model": {"name": "sd15: custom", "file_hash": "ab" * 32}}  # fmt: skip
    text = a1111_parameters(info)
    assert text.splitlines()[0] == "a castle, at night"
    parsed = parse_a1111_parameters(text)
    assert parsed["prompt"] == "a castle, at night" and parsed["negative_prompt"] == ""
    assert parsed["Sampler"] == "Euler a" and parsed["Size"] == "512x768"
    assert parsed["Model"] == "sd15: custom"  # quoted by A1111's rule, unquoted on reading
    assert "Workbench expression" not in parsed


def test_format_expression_is_what_the_algebra_reads(sd_dm):
    c = encode_concept(sd_dm, "castle")
    text = format_expression([(1.0, c), (0.6, "snowy winter"), (-0.4, "summer"), (-1.0, "x")])
    assert text == 'castle + 0.6*"snowy winter" - 0.4*summer - x'
    assert parse(text).to_text() == text


def test_unreadable_and_future_files(tmp_path):
    with pytest.raises(WorkbenchError, match="cannot read"):
        read_provenance(b"not a png")
    img = Image.new("RGB", (4, 4))
    future = png_with_provenance(img, {"format": "concept-workbench/image", "version": 99})
    with pytest.raises(WorkbenchError, match="version 99"):
        read_provenance(future)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert read_provenance(buf.getvalue()) == {"workbench": None, "parameters": None, "parsed": {}}
