"""The shipped checkpoint (models/weights/) loads and detects litter on the shared valid images."""

from __future__ import annotations

import pytest
import torch

from models.datasets import read_yolo
from models.inference import Detector, load_image, shipped_model_path
from models.taxonomy import CATEGORIES
from tests.models.scenes import TRASH_FILTER

VALID = TRASH_FILTER / "valid"

pytestmark = [
    pytest.mark.skipif(
        shipped_model_path() is None, reason="no shipped checkpoint in models/weights/ yet"
    ),
    pytest.mark.skipif(not VALID.is_dir(), reason=f"shared data absent: {VALID}"),
]


def _iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def test_shipped_model_loads_and_finds_litter_on_valid():
    detector = Detector.load(None, num_threads=1)
    assert detector.class_names == (
        "cardboard",
        "foam",
        "glass",
        "metal",
        "other",
        "paper",
        "plastic",
    )
    assert 0 < detector.metadata["metrics"]["map50"] <= 1  # what MODEL_CARD.md reports
    index = read_yolo(VALID)
    samples = [s for s in index.samples if s.boxes][:12]
    results = detector.detect_paths([s.image_path for s in samples], batch_size=4)
    found = 0
    for sample, detections in zip(samples, results, strict=True):
        assert all(d.category in CATEGORIES for d in detections)
        confident = [d.box for d in detections if d.score >= 0.3]
        found += any(_iou(box, gt) >= 0.5 for gt in sample.boxes for box in confident)
    assert found >= 3, f"found litter in only {found} of {len(samples)} images"


def test_shipped_model_is_small_and_fp16():
    path = shipped_model_path()
    assert path.stat().st_size < 25 * 1024 * 1024
    state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    assert any(v.dtype == torch.float16 for v in state.values())


def test_shipped_model_folded_for_inference_gives_the_same_detections():
    from models.checkpoint import load_checkpoint, model_from_checkpoint

    detector = Detector.load(None, num_threads=1)
    plain, _ = model_from_checkpoint(load_checkpoint(detector.path))
    samples = [s for s in read_yolo(VALID).samples if s.boxes][:4]
    images = [detector._prepare(*load_image(s.image_path)) for s in samples]
    with torch.inference_mode():
        expected, got = plain(images), detector.model(images)
    for a, b in zip(expected, got, strict=True):
        n = int((a["scores"] >= 0.1).sum())
        torch.testing.assert_close(b["boxes"][:n], a["boxes"][:n], atol=0.05, rtol=0)
        torch.testing.assert_close(b["scores"][:n], a["scores"][:n], atol=1e-3, rtol=0)
