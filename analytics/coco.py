"""Reviewed detections as a COCO detection dataset, for retraining the detector.

Plain functions over the data frames of ``db.reviews.reviewed_set``: ``images`` (``image_id``,
``original_path``, ``file_name``, ``width``, ``height``) and ``boxes`` (``image_id``, ``label``,
``category``, ``x1``..``y2`` in pixels of the upright image).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import IO, Any

import pandas as pd
from PIL import Image, ImageOps

__all__ = ["coco_dataset", "write_coco_zip"]


def coco_dataset(images: pd.DataFrame, boxes: pd.DataFrame) -> dict[str, Any]:
    """The COCO ``{"images", "annotations", "categories", "info"}`` dict.

    Categories are the labels (sorted, ids from 1) with the platform category as
    ``supercategory``; boxes are ``[x, y, width, height]`` in pixels, ``area`` in pixels².
    Images are named ``images/<image_id>_<file name>`` so names never collide.
    """
    label_category = (
        boxes.drop_duplicates("label").set_index("label")["category"].to_dict()
        if not boxes.empty
        else {}
    )
    labels = sorted(label_category)
    category_ids = {label: i + 1 for i, label in enumerate(labels)}
    coco_images = [
        {
            "id": int(row.image_id),
            "file_name": archive_name(int(row.image_id), str(row.file_name)),
            "width": int(row.width),
            "height": int(row.height),
        }
        for row in images.itertuples(index=False)
    ]
    annotations = []
    for i, row in enumerate(boxes.itertuples(index=False), start=1):
        w, h = float(row.x2) - float(row.x1), float(row.y2) - float(row.y1)
        annotations.append(
            {
                "id": i,
                "image_id": int(row.image_id),
                "category_id": category_ids[row.label],
                "bbox": [
                    round(float(row.x1), 2),
                    round(float(row.y1), 2),
                    round(w, 2),
                    round(h, 2),
                ],
                "area": round(w * h, 2),
                "iscrowd": 0,
            }
        )
    return {
        "info": {
            "description": "WasteMap reviewed detections",
            "date_created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        "images": coco_images,
        "annotations": annotations,
        "categories": [
            {"id": category_ids[label], "name": label, "supercategory": label_category[label]}
            for label in labels
        ],
    }


def archive_name(image_id: int, file_name: str) -> str:
    return f"images/{image_id}_{Path(file_name).name}"


def _upright_bytes(path: Path) -> bytes:
    """The file's bytes, or an upright re-encoding when its EXIF orientation rotates it (the
    boxes are in upright pixels, and not every training tool applies EXIF orientation)."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        if image.getexif().get(0x0112, 1) in (None, 1):
            return data
        upright = ImageOps.exif_transpose(image).convert("RGB")
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def write_coco_zip(
    images: pd.DataFrame, boxes: pd.DataFrame, out: str | Path | IO[bytes]
) -> dict[str, int]:
    """Write ``annotations.json`` and the photos into a zip at ``out`` (a path or binary file).

    Photos whose file is missing are left out with their boxes. Returns counts: ``images``,
    ``annotations``, ``missing``.
    """
    kept, missing = [], 0
    payloads: dict[str, bytes] = {}
    for row in images.itertuples(index=False):
        path = Path(str(row.original_path))
        try:
            payloads[archive_name(int(row.image_id), str(row.file_name))] = _upright_bytes(path)
        except OSError:
            missing += 1
            continue
        kept.append(int(row.image_id))
    images = images[images["image_id"].isin(kept)]
    boxes = boxes[boxes["image_id"].isin(kept)] if not boxes.empty else boxes
    dataset = coco_dataset(images, boxes)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annotations.json", json.dumps(dataset, indent=1))
        for name, payload in payloads.items():
            archive.writestr(name, payload, compress_type=zipfile.ZIP_STORED)
    return {
        "images": len(dataset["images"]),
        "annotations": len(dataset["annotations"]),
        "missing": missing,
    }
