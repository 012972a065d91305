"""Boxes drawn on photos (Pillow only).

Boxes are ``x1, y1, x2, y2`` in pixels of the image *as displayed*, i.e. after its EXIF
orientation is applied: :func:`open_upright` gives exactly that image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

from analytics.maps import CATEGORY_COLOURS


class PhotoUnavailableError(FileNotFoundError):
    """The stored photo of a detection cannot be read."""


def open_upright(source: str | Path | Any) -> Image.Image:
    """The image at ``source`` (a path or file object) turned upright, in RGB."""
    try:
        with Image.open(source) as raw:
            raw.load()
            image = ImageOps.exif_transpose(raw)
            return image.convert("RGB")
    except FileNotFoundError:
        raise PhotoUnavailableError(
            f"the photo {source} is no longer at its stored path; restore the file or re-ingest it"
        ) from None
    except OSError as exc:
        raise PhotoUnavailableError(f"the photo {source} cannot be read ({exc})") from None


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def draw_boxes(
    image: Image.Image,
    boxes: Iterable[Mapping[str, Any]],
    *,
    highlight: int | None = None,
) -> Image.Image:
    """A copy of ``image`` with each box (``x1``..``y2``, ``label``, ``category``, ``score``,
    optionally ``detection_id``) outlined in its category's colour and labelled.

    The box whose ``detection_id`` is ``highlight`` is drawn thicker, the others thinner.
    """
    out = image.copy()
    draw = ImageDraw.Draw(out)
    scale = max(out.size) / 800
    width = max(2, round(3 * scale))
    font = _font(max(12, round(15 * scale)))
    for box in boxes:
        colour = CATEGORY_COLOURS.get(str(box.get("category")), "#111827")
        x1, y1, x2, y2 = (float(box[k]) for k in ("x1", "y1", "x2", "y2"))
        is_highlight = highlight is not None and box.get("detection_id") == highlight
        line = width * 2 if is_highlight else width
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        text = f"{box.get('label', '')} {float(box.get('score', 0)):.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top
        ty = y1 - th - 6 if y1 - th - 6 >= 0 else y1
        draw.rectangle((x1, ty, x1 + tw + 8, ty + th + 6), fill=colour)
        draw.text((x1 + 4, ty + 3 - top), text, fill="#ffffff", font=font)
    return out


def draw_outlines(image: Image.Image, boxes: Iterable[Mapping[str, Any]]) -> Image.Image:
    """A copy of ``image`` with thin outlines: each item has ``box`` (x1, y1, x2, y2) and
    ``colour``; later items are drawn on top."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    width = max(1, round(max(out.size) / 500))
    for item in boxes:
        x1, y1, x2, y2 = (float(v) for v in item["box"])
        draw.rectangle((x1, y1, x2, y2), outline=item["colour"], width=width)
    return out


def crop_around(image: Image.Image, box: Mapping[str, Any], *, margin: float = 0.6) -> Image.Image:
    """The part of ``image`` around ``box`` with ``margin`` (fraction of the box) on each side."""
    x1, y1, x2, y2 = (float(box[k]) for k in ("x1", "y1", "x2", "y2"))
    mw, mh = (x2 - x1) * margin + 16, (y2 - y1) * margin + 16
    left, top = max(0, int(x1 - mw)), max(0, int(y1 - mh))
    right, bottom = min(image.width, int(x2 + mw)), min(image.height, int(y2 + mh))
    return image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))
