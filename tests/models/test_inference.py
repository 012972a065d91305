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
    top_big = max((d for d in on_big if d.label == top_small.label), key=lambda d: d.score)
    for a, b in zip(top_small.box, top_big.box, strict=True):
        assert b == pytest.approx(4 * a, abs=8)


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
