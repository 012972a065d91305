"""Tiny datasets the detector tests draw: shapes on noise, written as YOLO, COCO or VOC."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("WASTEMAP_SHARED", REPO.parent / "shared"))
TRASH_FILTER = SHARED / "datasets" / "trash-filter"
SHARED_WEIGHTS = SHARED / "weights"
CLASSES = ("plastic", "metal")


@dataclass
class Scene:
    """One drawn image: file name, size and boxes (pixels x1 y1 x2 y2) with class indices."""

    name: str
    size: tuple[int, int]
    boxes: list[tuple[int, int, int, int]]
    classes: list[int]


def draw_scenes(folder: Path, count: int, *, size: int = 128, seed: int = 0) -> list[Scene]:
    """Draw ``count`` images of red squares ("plastic") and blue discs ("metal") on grey noise."""
    generator = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for i in range(count):
        noise = (torch.rand(size, size, 3, generator=generator) * 60 + 100).to(torch.uint8)
        image = Image.fromarray(noise.numpy())
        draw = ImageDraw.Draw(image)
        boxes, classes = [], []
        for j in range(2):
            side = int(torch.randint(24, 44, (1,), generator=generator))
            x = int(torch.randint(0, size // 2 - side, (1,), generator=generator)) + j * size // 2
            y = int(torch.randint(0, size - side, (1,), generator=generator))
            cls = (i + j) % 2
            box = (x, y, x + side, y + side)
            if cls == 0:
                draw.rectangle((x, y, x + side - 1, y + side - 1), fill=(220, 30, 30))
            else:
                draw.ellipse((x, y, x + side - 1, y + side - 1), fill=(30, 60, 220))
            boxes.append(box)
            classes.append(cls)
        name = f"scene{i:03d}.jpg"
        image.save(folder / name, quality=95)
        scenes.append(Scene(name, (size, size), boxes, classes))
    return scenes


def write_yolo(root: Path, scenes: list[Scene], *, names: tuple[str, ...] = CLASSES) -> Path:
    """YOLO layout: root/images, root/labels, root/data.yaml."""
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for s in scenes:
        w, h = s.size
        lines = [
            f"{c} {(b[0] + b[2]) / 2 / w:.6f} {(b[1] + b[3]) / 2 / h:.6f} "
            f"{(b[2] - b[0]) / w:.6f} {(b[3] - b[1]) / h:.6f}"
            for b, c in zip(s.boxes, s.classes, strict=True)
        ]
        (root / "labels" / f"{Path(s.name).stem}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(f"names: {list(names)}\nnc: {len(names)}\n")
    return root


def write_coco(root: Path, scenes: list[Scene], *, names: tuple[str, ...] = CLASSES) -> Path:
    """COCO json beside an images/ folder."""
    images, annotations = [], []
    for i, s in enumerate(scenes):
        images.append({"id": i + 1, "file_name": s.name, "width": s.size[0], "height": s.size[1]})
        for b, c in zip(s.boxes, s.classes, strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": c + 1,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "area": (b[2] - b[0]) * (b[3] - b[1]),
                    "iscrowd": 0,
                }
            )
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def write_voc(root: Path, scenes: list[Scene], *, names: tuple[str, ...] = CLASSES) -> Path:
    """VOC xml files beside the images."""
    for s in scenes:
        objects = "".join(
            f"  <object>\n    <name>{names[c]}</name>\n    <bndbox>\n"
            f"      <xmin>{b[0]}</xmin>\n      <ymin>{b[1]}</ymin>\n"
            f"      <xmax>{b[2]}</xmax>\n      <ymax>{b[3]}</ymax>\n    </bndbox>\n  </object>\n"
            for b, c in zip(s.boxes, s.classes, strict=True)
        )
        xml = (
            f"<annotation>\n  <filename>{s.name}</filename>\n  <size><width>{s.size[0]}</width>"
            f"<height>{s.size[1]}</height><depth>3</depth></size>\n{objects}</annotation>\n"
        )
        (root / f"{Path(s.name).stem}.xml").write_text(xml)
    return root


def tiny_config_dict() -> dict:
    """A detector small enough to train from scratch in seconds on 128 px drawn scenes."""
    return {
        "feature_map_generator": {
            "backbone": "shufflenet_v2_x0_5_fpn",
            "fpn_channels": 32,
            "train_sizes_px": [128],
            "test_size_px": 128,
            "input_format": "rgb",
            "frozen_batchnorm": False,
        },
        "candidate_object_locator": {
            "anchor_sizes_px": [[16], [32], [64], [128]],
            "aspect_ratios": [1.0],
        },
        "foreground_background_score": {"pre_nms_top_n_train": 200, "pre_nms_top_n_test": 100},
        "regression_proposal_selector": {"post_nms_top_n_train": 100, "post_nms_top_n_test": 50},
        "object_localization": {"representation_size": 64, "rois_per_image_train": 64},
    }
