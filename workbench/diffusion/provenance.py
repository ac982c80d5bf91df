"""PNG files that say how they were made.

Two text chunks: ``workbench`` holds our full JSON (format name and version, expression, each
term's coefficient and concept, level, model and its hash, seed, steps, scheduler, guidance,
size, batch); ``parameters`` is the AUTOMATIC1111 line that other tools (A1111, Forge, InvokeAI's
importer, civitai, exiftool users) read::

    castle + 0.6*winter - 0.4*summer
    Negative prompt: blurry
    Steps: 30, Sampler: DDIM, CFG scale: 7.5, Seed: 1, Size: 512x512, Model hash: 1a2b3c4d5e, ...
"""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.diffusion.schedulers import A1111_SAMPLERS, sampler_name
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from PIL import Image

    from workbench.diffusion.embeddings import Term
    from workbench.diffusion.generate import ImageSpec
    from workbench.diffusion.loading import DiffusionModel

FORMAT = "concept-workbench/image"
VERSION = 1
KEY = "workbench"
A1111_KEY = "parameters"


def item_name(item: Any) -> str:
    """A term's name as the concept algebra writes it (a raw prompt is quoted if needed)."""
    from workbench.concepts.algebra import Term

    return Term(item if isinstance(item, str) else item.name).to_text()


def format_expression(terms: tuple[Term, ...] | list[Term]) -> str:
    """``[(1, castle), (0.6, winter), (-0.4, summer)]`` -> ``castle + 0.6*winter - 0.4*summer``,
    in the concept algebra's own spelling (``algebra.parse`` reads it back)."""
    from workbench.concepts.algebra import Sum, scale
    from workbench.concepts.algebra import Term as Name

    nodes = [
        scale(float(w), Name(item if isinstance(item, str) else item.name)) for w, item in terms
    ]
    return (nodes[0] if len(nodes) == 1 else Sum(nodes)).to_text()


def _term_info(w: float, item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"coefficient": w, "prompt": item}
    return {
        "coefficient": w,
        "concept": item.name,
        "concept_id": item.id,
        "content_hash": item.content_hash(),
        "prompt": item.recipe.get("prompt"),
        "recipe": item.recipe,
    }


def image_info(
    dm: DiffusionModel,
    spec: ImageSpec,
    size: tuple[int, int],
    scheduler: Any,
    batch_size: int = 1,
    batch_index: int = 0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance dict written under the ``workbench`` key."""
    import diffusers
    import torch

    terms = spec.effective_terms
    info: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "expression": spec.expression or format_expression(terms),
        "level": spec.level,
        "terms": [_term_info(w, i) for w, i in terms],
        "negative_prompt": spec.negative_prompt,
        "base_prompt": spec.base_prompt,
        "seed": spec.seed,
        "generator": "torch.Generator('cpu').manual_seed(seed), one per image",
        "steps": spec.steps,
        "guidance": spec.guidance,
        "scheduler": type(scheduler).__name__,
        "sampler": sampler_name(scheduler),
        "scheduler_config": dict(getattr(scheduler, "config", {})),
        "size": [int(size[0]), int(size[1])],
        "batch": {"size": batch_size, "index": batch_index},
        "model": dm.ref.to_dict(),
        "family": dm.family,
        "dtype": str(dm.dtype or dm.denoiser.dtype).replace("torch.", ""),
        "software": {"diffusers": diffusers.__version__, "torch": torch.__version__},
    }
    if spec.neurons is not None:
        info["neurons"] = spec.neurons.to_dict()
    if extra:
        info.update(extra)
    return info


def _quote(value: Any) -> str:
    # A1111's own rule (modules/infotext_utils.quote)
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def a1111_parameters(info: dict[str, Any]) -> str:
    """The A1111 ``parameters`` text for a provenance dict."""
    model = info.get("model", {})
    fields: dict[str, Any] = {
        "Steps": info.get("steps"),
        "Sampler": info.get("sampler")
        or A1111_SAMPLERS.get(info.get("scheduler", ""), info.get("scheduler")),
        "CFG scale": info.get("guidance"),
        "Seed": info.get("seed"),
        "Size": "x".join(str(v) for v in info.get("size", [])),
        "Model hash": (model.get("file_hash") or "")[:10],
        "Model": model.get("name"),
        "Workbench level": info.get("level"),
    }
    neurons = info.get("neurons")
    if neurons:
        fields["Workbench neurons"] = (
            f"{neurons.get('label') or neurons.get('count')} x{neurons.get('scale'):g}"
        )
    if len(info.get("terms", [])) != 1 or info["terms"][0].get("coefficient") != 1.0:
        fields["Workbench expression"] = info.get("expression")
    first = info.get("terms", [{}])[0] if len(info.get("terms", [])) == 1 else {}
    prompt = first.get("prompt") if first.get("coefficient") == 1.0 else None
    lines = [prompt if prompt is not None else info.get("expression", "")]
    if info.get("negative_prompt"):
        lines.append(f"Negative prompt: {info['negative_prompt']}")
    lines.append(", ".join(f"{k}: {_quote(v)}" for k, v in fields.items() if v not in (None, "")))
    return "\n".join(lines)


_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def parse_a1111_parameters(text: str) -> dict[str, Any]:
    """Parse an A1111 ``parameters`` text into ``{"prompt", "negative_prompt", key: value}``."""
    lines = text.strip().split("\n")
    last = lines[-1] if lines and _PARAM.match(lines[-1]) and "Steps:" in lines[-1] else ""
    body = lines[:-1] if last else lines
    prompt: list[str] = []
    negative: list[str] = []
    in_neg = False
    for line in body:
        if line.startswith("Negative prompt:"):
            in_neg = True
            line = line[len("Negative prompt:") :].strip()
        (negative if in_neg else prompt).append(line)
    out: dict[str, Any] = {"prompt": "\n".join(prompt), "negative_prompt": "\n".join(negative)}
    for key, value in _PARAM.findall(last):
        value = value.strip()
        if value.startswith('"') and value.endswith('"'):
            value = json.loads(value)
        out[key.strip()] = value
    return out


def png_with_provenance(image: Image.Image, info: dict[str, Any]) -> bytes:
    """PNG bytes with ``workbench`` (our JSON) and ``parameters`` (A1111) text chunks."""
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    meta.add_text(KEY, json.dumps(info, ensure_ascii=False, default=str))
    meta.add_text(A1111_KEY, a1111_parameters(info))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=meta)
    return buf.getvalue()


def read_provenance(source: str | Path | bytes) -> dict[str, Any]:
    """``{"workbench": dict | None, "parameters": str | None, "parsed": dict}`` from a PNG."""
    from PIL import Image as PILImage

    try:
        img = PILImage.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        img.load()
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"cannot read a PNG from {str(source)[:80]!r}: {exc}") from exc
    text = dict(getattr(img, "text", {}) or {})
    ours = None
    if KEY in text:
        try:
            ours = json.loads(text[KEY])
        except ValueError as exc:
            raise WorkbenchError(f"the {KEY!r} chunk is not valid JSON: {exc}") from exc
        if ours.get("format") == FORMAT and int(ours.get("version", 0)) > VERSION:
            raise WorkbenchError(
                f"this image's provenance is version {ours['version']}; this workbench reads up "
                f"to {VERSION}. Update the workbench."
            )
    params = text.get(A1111_KEY)
    return {
        "workbench": ours,
        "parameters": params,
        "parsed": parse_a1111_parameters(params) if params else {},
    }
