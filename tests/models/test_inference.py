"""The fast inference path and its contract with the rest of WasteMap."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from models.errors import ModelNotFoundError
from models.inference import Detection, Detector, load_image, model_input_size


@pytest.fixture(scope="module")
def detector(tiny_run):
    return Detector.load(tiny_run.checkpoint, num_threads=1)


def test_detector_attributes(detector, tiny_run):
    assert detector.class_names == ("plastic", "metal")
    assert detector.model_version.startswith(tiny_run.checkpoint.stem + "-")
    assert len(detector.model_version.split("-")[-1]) == 12
    assert Detector.load(tiny_run.checkpoint, num_threads=1).model_version == detector.model_version
    assert detector.metadata["taxonomy"] == {"plastic": "plastic", "metal": "metal"}
    assert "model" not in detector.metadata


def test_detection_is_frozen():
    d = Detection((1.0, 2.0, 3.0, 4.0), "foam", "plastic", 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.score = 1.0  # type: ignore[misc]
    assert d.to_dict() == {
        "box": [1.0, 2.0, 3.0, 4.0],
        "label": "foam",
        "category": "plastic",
        "score": 0.5,
    }


def test_boxes_are_in_original_pixels(detector, tiny_run, tmp_path):
    scene = tiny_run.scenes[0]
    small = Image.open(tiny_run.data / "images" / scene.name).convert("RGB")
    big = small.resize((small.width * 4, small.height * 4), Image.Resampling.BICUBIC)
    big.save(tmp_path / "big.jpg", quality=95)
    [on_small] = detector.detect_images([small])
    [on_big] = detector.detect_paths([tmp_path / "big.jpg"])
    top_small = max(on_small, key=lambda d: d.score)
    # the same object found on the big image, its box in the big image's pixels: 4x the small
    # one's (a scene may hold several objects of one label, so match by overlap, not by score)
    scaled = [
        tuple(v / 4 for v in d.box) for d in on_big if d.label == top_small.label and d.score > 0.3
    ]
    best = max(scaled, key=lambda box: _iou(box, top_small.box))
    # the upscaled JPEG is not the same picture to a tiny model (its boxes move a few pixels);
    # a box left in the model's input pixels would be off by the 4x scale (IoU near 0)
    assert _iou(best, top_small.box) > 0.5
    for a, b in zip(top_small.box, best, strict=True):
        assert b == pytest.approx(a, abs=8)  # pixels of the 128 px scene


def _iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_paths_and_images_agree_and_batch(detector, tiny_run):
    paths = [tiny_run.data / "images" / s.name for s in tiny_run.scenes[:5]]
    by_path = detector.detect_paths(paths, batch_size=2)
    by_image = detector.detect_images([Image.open(p) for p in paths], batch_size=3)
    assert len(by_path) == len(by_image) == 5
    for a, b in zip(by_path, by_image, strict=True):
        assert [d.label for d in a] == [d.label for d in b]
        assert all(d.category in ("plastic", "metal") for d in a)


def test_draft_decode_keeps_the_input_size(tmp_path):
    Image.new("RGB", (4000, 3000), "gray").save(tmp_path / "big.jpg")
    image, original = load_image(tmp_path / "big.jpg", size_hint=640)
    assert original == (4000, 3000)
    assert min(image.size) >= 640 and image.size[0] < 4000  # decoded smaller
    assert model_input_size(4000, 3000, min_size=640, max_size=1333) == (853, 640)


def test_missing_checkpoint_is_a_named_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"missing\.pt") as info:
        Detector.load(tmp_path / "missing.pt")
    assert isinstance(info.value, FileNotFoundError)
    assert "wastemap train" in str(info.value)
