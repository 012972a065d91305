"""Dataset readers: each format on tiny drawn fixtures, and each bad-annotation error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from models.datasets import (
    DetectionDataset,
    merge_datasets,
    read_coco,
    read_dataset,
    read_voc,
    read_yolo,
)
from models.errors import AnnotationError, DatasetLayoutError
from tests.models.scenes import CLASSES, draw_scenes, write_voc, write_yolo


def _assert_matches(index, scenes, tol: float = 0.01) -> None:
    assert index.class_names == CLASSES
    by_name = {s.image_path.name: s for s in index.samples}
    assert set(by_name) == {s.name for s in scenes}
    for scene in scenes:
        sample = by_name[scene.name]
        assert (sample.width, sample.height) == scene.size
        assert sample.classes == scene.classes
        assert torch.allclose(
            torch.tensor(sample.boxes), torch.tensor(scene.boxes, dtype=torch.float32), atol=tol
        )


def test_yolo_reads_boxes_in_pixels(yolo_dir):
    root, scenes = yolo_dir
    _assert_matches(read_yolo(root), scenes)


def test_yolo_data_yaml_in_parent_and_image_without_labels(tmp_path):
    scenes = draw_scenes(tmp_path / "set" / "train" / "images", 2)
    write_yolo(tmp_path / "set" / "train", scenes)
    shutil.move(tmp_path / "set" / "train" / "data.yaml", tmp_path / "set" / "data.yaml")
    (tmp_path / "set" / "train" / "labels" / "scene001.txt").unlink()
    index = read_dataset(tmp_path / "set" / "train", "yolo")
    dataset = DetectionDataset(index)
    image, target = dataset[1]
    assert image.shape == (3, 128, 128)
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)


def test_coco_reads_boxes(coco_file):
    path, scenes = coco_file
    _assert_matches(read_coco(path), scenes)
    _assert_matches(read_dataset(path.parent, "coco"), scenes)  # the folder holding the json


def test_voc_reads_both_layouts(voc_dir, tmp_path):
    root, scenes = voc_dir
    assert read_voc(root).class_names == ("metal", "plastic")  # sorted names when not given
    _assert_matches(read_voc(root, class_names=CLASSES), scenes)
    other = tmp_path / "voc2"
    (other / "Annotations").mkdir(parents=True)
    shutil.copytree(root, other / "JPEGImages", ignore=shutil.ignore_patterns("*.xml"))
    for xml in root.glob("*.xml"):
        shutil.copy(xml, other / "Annotations" / xml.name)
    _assert_matches(read_dataset(other, "voc", class_names=CLASSES), scenes)


def test_target_dict_is_torchvision_contract(yolo_dir):
    root, scenes = yolo_dir
    image, target = DetectionDataset(read_yolo(root))[0]
    assert image.dtype == torch.float32 and 0 <= float(image.min()) <= float(image.max()) <= 1
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (2, 4)
    assert target["labels"].dtype == torch.int64
    assert target["labels"].tolist() == [c + 1 for c in scenes[0].classes]  # 0 = background


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("0 1.2 0.5 0.2 0.2", "outside"),
        ("0 0.5 0.5 0.0 0.2", "zero-area"),
        ("7 0.5 0.5 0.2 0.2", "unknown class id 7"),
        ("0 0.5 0.5", "expected 'class cx cy w h'"),
    ],
)
def test_yolo_bad_line_names_file_and_line(yolo_dir, line, problem):
    root, _ = yolo_dir
    label = root / "labels" / "scene001.txt"
    label.write_text(label.read_text() + line + "\n")
    with pytest.raises(AnnotationError, match=problem) as info:
        read_yolo(root)
    assert info.value.path == label and info.value.line == 3
    assert f"{label}:3" in str(info.value) and "--skip-bad" in str(info.value)
    with pytest.warns(UserWarning, match="skipped bad annotation"):
        index = read_yolo(root, skip_bad=True)
    assert sum(len(s.boxes) for s in index.samples) == 6


def test_yolo_missing_image(yolo_dir):
    root, _ = yolo_dir
    orphan = root / "labels" / "ghost.txt"
    orphan.write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(AnnotationError, match="missing image") as info:
        read_yolo(root)
    assert info.value.path == orphan
    with pytest.warns(UserWarning):
        assert len(read_yolo(root, skip_bad=True)) == 3


def test_yolo_layout_error(tmp_path):
    with pytest.raises(DatasetLayoutError, match="images/ and labels/"):
        read_yolo(tmp_path)


def _edit_coco(path: Path, index: int, **changes) -> None:
    data = json.loads(path.read_text())
    data["annotations"][index].update(changes)
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"bbox": [120, 10, 30, 30]}, "outside"),
        ({"bbox": [10, 10, 0, 30]}, "zero-area"),
        ({"category_id": 9}, "unknown class"),
    ],
)
def test_coco_bad_annotation_names_file_and_line(coco_file, changes, problem):
    path, _ = coco_file
    _edit_coco(path, 2, **changes)
    with pytest.raises(AnnotationError, match=problem) as info:
        read_coco(path)
    assert info.value.path == path and "annotations[2]" in str(info.value)
    lines = path.read_text().splitlines()
    assert '"bbox"' in lines[info.value.line - 1]  # the line of that annotation's bbox
    with pytest.warns(UserWarning):
        index = read_coco(path, skip_bad=True)
    assert sum(len(s.boxes) for s in index.samples) == 5


def test_coco_missing_image(coco_file):
    path, _ = coco_file
    (path.parent / "images" / "scene001.jpg").unlink()
    with pytest.raises(AnnotationError, match=r"missing image 'scene001\.jpg'") as info:
        read_coco(path)
    assert '"file_name": "scene001.jpg"' in path.read_text().splitlines()[info.value.line - 1]


def _voc_box(root: Path, stem: str, old: str, new: str) -> Path:
    xml = root / f"{stem}.xml"
    xml.write_text(xml.read_text().replace(old, new, 1))
    return xml


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("<xmax>", "<xmax>9", "outside"),
        ("<name>plastic</name>", "<name>sofa</name>", "unknown class 'sofa'"),
    ],
)
def test_voc_bad_object_names_file_and_line(voc_dir, old, new, problem):
    root, _ = voc_dir
    xml = _voc_box(root, "scene000", old, new)
    with pytest.raises(AnnotationError, match=problem) as info:
        read_voc(root, class_names=CLASSES)
    assert info.value.path == xml
    assert "<object>" in xml.read_text().splitlines()[info.value.line - 1]


def test_voc_zero_area_and_missing_image(voc_dir):
    root, _ = voc_dir
    text = (root / "scene001.xml").read_text()
    xmin = text.split("<xmin>")[1].split("<")[0]
    _voc_box(root, "scene001", text.split("<xmax>")[1].split("<")[0] + "</xmax>", xmin + "</xmax>")
    with pytest.raises(AnnotationError, match="zero-area"):
        read_voc(root)
    (root / "scene002.jpg").unlink()
    with pytest.warns(UserWarning):
        index = read_voc(root, skip_bad=True)
    assert len(index) == 2 and sum(len(s.boxes) for s in index.samples) == 3


def test_unknown_format():
    with pytest.raises(ValueError, match="coco, yolo, voc"):
        read_dataset(".", "kitti")


def test_write_voc_helper_roundtrip(tmp_path):
    scenes = draw_scenes(tmp_path, 1)
    write_voc(tmp_path, scenes)
    assert read_voc(tmp_path, class_names=CLASSES).samples[0].classes == scenes[0].classes


def test_merge_renumbers_classes_by_name(tmp_path):
    first_scenes = draw_scenes(tmp_path / "real" / "images", 2)
    write_yolo(tmp_path / "real", first_scenes)
    second_scenes = draw_scenes(tmp_path / "rendered" / "images", 3, seed=5)
    # the second set lists the same names in reverse order, its ids follow that order
    reversed_names = tuple(reversed(CLASSES))
    flipped = [
        type(s)(s.name, s.size, s.boxes, [len(CLASSES) - 1 - c for c in s.classes])
        for s in second_scenes
    ]
    write_yolo(tmp_path / "rendered", flipped, names=reversed_names)
    merged = merge_datasets([read_yolo(tmp_path / "real"), read_yolo(tmp_path / "rendered")])
    assert merged.class_names == CLASSES
    assert len(merged) == 5
    by_name = {s.image_path.parent.parent.name + "/" + s.image_path.name: s for s in merged.samples}
    for scene in second_scenes:
        assert by_name["rendered/" + scene.name].classes == scene.classes
    assert merged.description == f"{tmp_path / 'real'} + {tmp_path / 'rendered'}"
    assert merged.content_hash() != read_yolo(tmp_path / "real").content_hash()


def test_merge_refuses_a_class_the_first_lacks(tmp_path):
    scenes = draw_scenes(tmp_path / "a" / "images", 1)
    write_yolo(tmp_path / "a", scenes)
    write_yolo(tmp_path / "b", draw_scenes(tmp_path / "b" / "images", 1), names=("x", *CLASSES[1:]))
    with pytest.raises(ValueError, match=r"\['x'\]"):
        merge_datasets([read_yolo(tmp_path / "a"), read_yolo(tmp_path / "b")])
