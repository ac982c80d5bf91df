"""Labelled image grids (PIL): sweep results and baseline/edited pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable when Pillow has FreeType
    except (TypeError, OSError):
        return ImageFont.load_default()


def _text_size(draw: Any, text: str, font: Any) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left), int(bottom - top)


def labelled_grid(
    images: Sequence[Sequence[Image.Image]],
    col_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    pad: int = 4,
) -> Image.Image:
    """Rows of equally sized images on white, column labels on top, row labels on the left,
    an optional title above (e.g. the axis names)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    rows = [list(r) for r in images]
    iw = max(im.width for r in rows for im in r)
    ih = max(im.height for r in rows for im in r)
    font = _font(max(10, min(24, iw // 8)))
    probe = ImageDraw.Draw(PILImage.new("RGB", (1, 1)))
    line_h = _text_size(probe, "Ag", font)[1] + pad
    # columns widen to fit their labels, so long expressions stay readable
    cw = max([iw] + [_text_size(probe, s, font)[0] for s in (col_labels or [])])
    left = 0
    if row_labels:
        left = max(_text_size(probe, s, font)[0] for s in row_labels) + 2 * pad
    top = (line_h + pad if col_labels else 0) + (line_h + pad if title else 0)
    ncols = max(len(r) for r in rows)
    width = left + ncols * (cw + pad) + pad
    if title:
        width = max(width, _text_size(probe, title, font)[0] + 2 * pad)
    height = top + len(rows) * (ih + pad) + pad
    canvas = PILImage.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    y0 = pad
    if title:
        draw.text((pad, y0), title, fill="black", font=font)
        y0 += line_h + pad
    if col_labels:
        for j, label in enumerate(col_labels):
            tw = _text_size(draw, label, font)[0]
            x = left + pad + j * (cw + pad) + max(0, (cw - tw) // 2)
            draw.text((x, y0), label, fill="black", font=font)
    for i, row in enumerate(rows):
        y = top + pad + i * (ih + pad)
        if row_labels:
            th = _text_size(draw, row_labels[i], font)[1]
            draw.text((pad, y + max(0, (ih - th) // 2)), row_labels[i], fill="black", font=font)
        for j, im in enumerate(row):
            x = left + pad + j * (cw + pad) + (cw - im.width) // 2
            canvas.paste(im.convert("RGB"), (x, y))
    return canvas
