"""Detection datasets: COCO json, YOLO txt and Pascal VOC xml read into one format.

Every reader returns a :class:`DatasetIndex` (class names + one :class:`Sample` per image, boxes
in pixels x1, y1, x2, y2); :class:`DetectionDataset` turns it into exactly torchvision's
``(image, target)`` contract, where ``target`` is ``{"boxes": FloatTensor[N, 4], "labels":
Int64Tensor[N], "image_id": int}`` and images with no objects are valid (``N = 0``).

Bad annotations (box outside the image, zero area, unknown class, missing image) raise
:class:`~models.errors.AnnotationError` naming the file and line, or with ``skip_bad=True`` are
dropped with a warning.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image
from torch.utils.data import Dataset

from models.errors import AnnotationError, DatasetLayoutError

Format = Literal["coco", "yolo", "voc"]
FORMATS: tuple[str, ...] = ("coco", "yolo", "voc")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Relative slack for YOLO boxes that stick out of the image by rounding (0.5% of the side).
YOLO_TOLERANCE = 5e-3
#: Pixel slack for COCO / VOC boxes.
PIXEL_TOLERANCE = 1.0


@dataclass
class Sample:
    """One image and its boxes (pixels, x1 y1 x2 y2) with 0-based class indices."""

    image_path: Path
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    classes: list[int] = field(default_factory=list)


@dataclass
class DatasetIndex:
    """A dataset read from disk: class names in id order and its samples."""

    class_names: tuple[str, ...]
    samples: list[Sample]
    root: Path
    format: str
    annotation_files: list[Path] = field(default_factory=list)
    #: the roots of the datasets :func:`merge_datasets` joined (empty for one dataset)
    sources: tuple[Path, ...] = ()

    def __len__(self) -> int:
        return len(self.samples)

    def subset(self, indices: Sequence[int]) -> DatasetIndex:
        """The same dataset restricted to ``indices``."""
        return DatasetIndex(
            self.class_names,
            [self.samples[i] for i in indices],
            self.root,
            self.format,
            self.annotation_files,
            self.sources,
        )

    def content_hash(self) -> str:
        """sha256 of the annotations and image bytes, to say which data a model saw."""
        digest = hashlib.sha256()
        digest.update(json.dumps(list(self.class_names)).encode())
        for sample in sorted(self.samples, key=lambda s: str(s.image_path)):
            digest.update(sample.image_path.name.encode())
            digest.update(json.dumps([sample.boxes, sample.classes]).encode())
            digest.update(hashlib.sha256(sample.image_path.read_bytes()).digest())
        return digest.hexdigest()

    @property
    def description(self) -> str:
        """Where the data came from: the root, or the roots joined with `` + `` when merged."""
        return " + ".join(str(r) for r in self.sources) if self.sources else str(self.root)

    def class_counts(self) -> dict[str, int]:
        """Boxes per class name."""
        counts = dict.fromkeys(self.class_names, 0)
        for sample in self.samples:
            for c in sample.classes:
                counts[self.class_names[c]] += 1
        return counts


def read_dataset(
    path: str | Path,
    format: str,
    *,
    class_names: Sequence[str] | None = None,
    skip_bad: bool = False,
) -> DatasetIndex:
    """Read a dataset in ``format`` (``coco``, ``yolo`` or ``voc``) from ``path``."""
    readers: dict[str, Callable[..., DatasetIndex]] = {
        "coco": read_coco,
        "yolo": read_yolo,
        "voc": read_voc,
    }
    if format not in readers:
        raise ValueError(f"unknown dataset format {format!r}; choose one of {', '.join(FORMATS)}")
    if not Path(path).exists():
        also = " or .json file" if format == "coco" else ""
        raise DatasetLayoutError(
            f"{path} does not exist; give a {format.upper()} dataset folder{also}"
        )
    index = readers[format](path, class_names=class_names, skip_bad=skip_bad)
    if not index.samples:  # e.g. a COCO file with "images": [] (training on it would do nothing)
        skipped = " once the bad annotations were skipped (--skip-bad)" if skip_bad else ""
        raise DatasetLayoutError(
            f"{path} holds no images{skipped}: give a {format.upper()} dataset with its images"
        )
    return index


def merge_datasets(indexes: Sequence[DatasetIndex]) -> DatasetIndex:
    """One dataset holding the samples of all ``indexes`` (e.g. real photos + rendered scenes).

    The merged classes are the first part's, in its order; the other parts' class ids are
    re-numbered by class name, so each part may list its names in its own order, but a part
    naming a class the first lacks is an error. The merged index keeps the first part's root
    and format and lists every root in ``sources``.
    """
    if not indexes:
        raise ValueError("merge_datasets needs at least one dataset")
    first = indexes[0]
    if len(indexes) == 1:
        return first
    names = tuple(first.class_names)
    samples = list(first.samples)
    for other in indexes[1:]:
        unknown = [n for n in other.class_names if n not in names]
        if unknown:
            raise ValueError(
                f"{other.root} has classes {unknown} that {first.root} lacks (it names "
                f"{list(names)}): datasets trained together need the same class names"
            )
        renumber = [names.index(n) for n in other.class_names]
        samples += [replace(s, classes=[renumber[c] for c in s.classes]) for s in other.samples]
    return DatasetIndex(
        names,
        samples,
        first.root,
        first.format,
        [f for index in indexes for f in index.annotation_files],
        tuple(r for index in indexes for r in (index.sources or (index.root,))),
    )


class _Problems:
    """Collects bad annotations: raise at the first, or warn and count under ``skip_bad``."""

    def __init__(self, skip_bad: bool) -> None:
        self.skip_bad = skip_bad
        self.skipped = 0

    def report(self, path: Path, line: int | None, problem: str) -> None:
        error = AnnotationError(path, line, problem)
        if not self.skip_bad:
            raise error
        self.skipped += 1
        warnings.warn(f"skipped bad annotation: {error}", stacklevel=3)


def _check_box(
    box: tuple[float, float, float, float], width: int, height: int, tolerance: float
) -> tuple[tuple[float, float, float, float] | None, str]:
    """Clip ``box`` to the image; ``(None, problem)`` when it is outside or has no area."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return None, f"zero-area box {_fmt(box)}"
    if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
        return None, f"box {_fmt(box)} is outside the {width}x{height} image"
    clipped = (max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height)))
    if clipped[2] - clipped[0] < 1e-3 or clipped[3] - clipped[1] < 1e-3:
        return None, f"zero-area box {_fmt(box)} after clipping to the image"
    return clipped, ""


def _fmt(box: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in box) + ")"


def _image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


# ----------------------------------------------------------------------------------------- YOLO


def find_yolo_yaml(root: Path) -> Path | None:
    """``data.yaml`` in ``root`` or its parent (Ultralytics' layout)."""
    for folder in (root, root.parent):
        for name in ("data.yaml", "data.yml"):
            if (folder / name).is_file():
                return folder / name
    return None


def _yolo_names(yaml_path: Path) -> tuple[str, ...]:
    import yaml

    data = yaml.safe_load(yaml_path.read_text()) or {}
    names = data.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names, key=int)]
    if not isinstance(names, list) or not names:
        raise DatasetLayoutError(f"{yaml_path} has no 'names' list of class names")
    return tuple(str(n) for n in names)


def read_yolo(
    path: str | Path, *, class_names: Sequence[str] | None = None, skip_bad: bool = False
) -> DatasetIndex:
    """Read a YOLO dataset: ``path/images/*``, ``path/labels/*.txt`` (``class cx cy w h``).

    Class names come from ``data.yaml`` in ``path`` or its parent unless ``class_names`` is given.
    An image without a label file has no objects; a label file without an image is an error.
    """
    root = Path(path)
    images_dir, labels_dir = root / "images", root / "labels"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise DatasetLayoutError(
            f"{root} is not a YOLO dataset folder: it needs images/ and labels/ sub-folders "
            "(Ultralytics layout), e.g. --data datasets/trash-filter/train"
        )
    if class_names is None:
        yaml_path = find_yolo_yaml(root)
        if yaml_path is None:
            raise DatasetLayoutError(
                f"no data.yaml with the class names in {root} or {root.resolve().parent}: add "
                f"{root / 'data.yaml'} with `names: [...]`, the class names in id order "
                "(Ultralytics layout)"
            )
        class_names = _yolo_names(yaml_path)
    names = tuple(class_names)
    problems = _Problems(skip_bad)
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not images:
        raise DatasetLayoutError(
            f"{images_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}): put the dataset's "
            "images there, their boxes in labels/ as .txt files of the same names"
        )
    label_files = sorted(labels_dir.glob("*.txt"))
    for label_file in label_files:
        if label_file.stem not in images:
            problems.report(
                label_file, None, f"missing image: no {label_file.stem}.* in {images_dir}"
            )
    samples = []
    for stem, image_path in images.items():
        width, height = _image_size(image_path)
        sample = Sample(image_path, width, height)
        label_file = labels_dir / f"{stem}.txt"
        if label_file.is_file():
            _read_yolo_labels(label_file, sample, len(names), problems)
        samples.append(sample)
    return DatasetIndex(names, samples, root, "yolo", label_files)


def _read_yolo_labels(
    label_file: Path, sample: Sample, num_classes: int, problems: _Problems
) -> None:
    for number, raw in enumerate(label_file.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        try:
            class_id = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:5])
            if len(parts) != 5:
                raise ValueError
        except (ValueError, IndexError):
            problems.report(label_file, number, f"expected 'class cx cy w h', got {line!r}")
            continue
        if not 0 <= class_id < num_classes:
            problems.report(
                label_file, number, f"unknown class id {class_id} (data.yaml names {num_classes})"
            )
            continue
        W, H = sample.width, sample.height  # noqa: N806
        box = ((cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H)
        clipped, problem = _check_box(box, W, H, YOLO_TOLERANCE * max(W, H))
        if clipped is None:
            problems.report(label_file, number, problem)
            continue
        sample.boxes.append(clipped)
        sample.classes.append(class_id)


# ----------------------------------------------------------------------------------------- COCO


def _find_coco_json(root: Path) -> Path:
    if root.is_file():
        return root
    candidates = sorted(root.glob("*.json")) + sorted(root.glob("annotations/*.json"))
    if len(candidates) != 1:
        found = ", ".join(str(c) for c in candidates) or "none"
        raise DatasetLayoutError(
            f"{root}: expected exactly one COCO .json file in it or in annotations/ "
            f"(found {found}); pass the json file itself as --data"
        )
    return candidates[0]


def _line_of(text: str, needle: str, occurrence: int) -> int | None:
    """1-based line of the ``occurrence``-th (0-based) match of ``needle`` in ``text``."""
    for i, match in enumerate(re.finditer(needle, text)):
        if i == occurrence:
            return text.count("\n", 0, match.start()) + 1
    return None


def read_coco(
    path: str | Path, *, class_names: Sequence[str] | None = None, skip_bad: bool = False
) -> DatasetIndex:
    """Read a COCO detection json (a file, or a folder holding one or ``annotations/`` one).

    Image ``file_name`` is resolved against the json's folder, its ``images/`` sub-folder and its
    parent. Class names are the categories sorted by id (``class_names`` overrides their order).
    """
    json_path = _find_coco_json(Path(path))
    text = json_path.read_text(errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetLayoutError(
            f"{json_path} is not a COCO JSON file ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}): give the COCO annotations .json, or the dataset's own --format"
        ) from exc
    if not isinstance(data, dict):
        raise DatasetLayoutError(
            f"{json_path} is not a COCO JSON file (it holds a {type(data).__name__}, not an "
            "object with images, annotations and categories)"
        )
    problems = _Problems(skip_bad)
    categories = sorted(data.get("categories", []), key=lambda c: c["id"])
    cat_names = {c["id"]: str(c["name"]) for c in categories}
    names = tuple(class_names) if class_names is not None else tuple(cat_names.values())
    name_index = {n: i for i, n in enumerate(names)}
    samples: dict[Any, Sample] = {}
    for i, image in enumerate(data.get("images", [])):
        image_path = _resolve_image(json_path, image["file_name"])
        if image_path is None:
            problems.report(
                json_path,
                _line_of(text, r'"file_name"', i),
                f"missing image {image['file_name']!r} (images[{i}])",
            )
            continue
        width = int(image.get("width") or 0)
        height = int(image.get("height") or 0)
        if not width or not height:
            width, height = _image_size(image_path)
        samples[image["id"]] = Sample(image_path, width, height)
    for i, ann in enumerate(data.get("annotations", [])):
        line = _line_of(text, r'"bbox"', i)
        where = f"annotations[{i}] (id {ann.get('id')})"
        sample = samples.get(ann.get("image_id"))
        if sample is None:
            if ann.get("image_id") not in {im["id"] for im in data.get("images", [])}:
                problems.report(json_path, line, f"{where}: unknown image_id {ann.get('image_id')}")
            continue
        name = cat_names.get(ann.get("category_id"))
        if name is None or name not in name_index:
            problems.report(json_path, line, f"{where}: unknown class {ann.get('category_id')!r}")
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        clipped, problem = _check_box(
            (x, y, x + w, y + h), sample.width, sample.height, PIXEL_TOLERANCE
        )
        if clipped is None:
            problems.report(json_path, line, f"{where}: {problem}")
            continue
        sample.boxes.append(clipped)
        sample.classes.append(name_index[name])
    return DatasetIndex(names, list(samples.values()), json_path.parent, "coco", [json_path])


def _resolve_image(json_path: Path, file_name: str) -> Path | None:
    folder = json_path.parent
    for base in (folder, folder / "images", folder.parent, folder.parent / "images"):
        candidate = base / file_name
        if candidate.is_file():
            return candidate
    return None


# ------------------------------------------------------------------------------------------ VOC


def read_voc(
    path: str | Path, *, class_names: Sequence[str] | None = None, skip_bad: bool = False
) -> DatasetIndex:
    """Read Pascal VOC xml: images with ``.xml`` beside them, or ``Annotations/`` + ``JPEGImages/``.

    Class names are the sorted set of ``<name>`` values unless ``class_names`` is given (then any
    other name is an unknown class). Images without an xml have no objects.
    """
    root = Path(path)
    if (root / "Annotations").is_dir():
        xml_dir = root / "Annotations"
        image_dir = root / "JPEGImages" if (root / "JPEGImages").is_dir() else root
    else:
        xml_dir = image_dir = root
    xml_files = sorted(xml_dir.glob("*.xml"))
    if not root.is_dir() or (not xml_files and not any(_images_in(image_dir))):
        raise DatasetLayoutError(
            f"{root} is not a VOC folder: it needs images with .xml files beside them, "
            "or Annotations/ + JPEGImages/"
        )
    problems = _Problems(skip_bad)
    parsed = [(xml_file, _parse_voc_xml(xml_file, problems)) for xml_file in xml_files]
    if class_names is None:
        class_names = sorted({o[0] for _, (_, objs) in parsed for o in objs})
    names = tuple(class_names)
    name_index = {n: i for i, n in enumerate(names)}
    samples: dict[Path, Sample] = {}
    for xml_file, (file_name, objects) in parsed:
        image_path = _voc_image(image_dir, xml_file, file_name)
        if image_path is None:
            problems.report(xml_file, None, f"missing image {file_name or xml_file.stem + '.*'}")
            continue
        width, height = _image_size(image_path)
        sample = Sample(image_path, width, height)
        for name, line, box in objects:
            if name not in name_index:
                problems.report(xml_file, line, f"unknown class {name!r}")
                continue
            clipped, problem = _check_box(box, width, height, PIXEL_TOLERANCE)
            if clipped is None:
                problems.report(xml_file, line, problem)
                continue
            sample.boxes.append(clipped)
            sample.classes.append(name_index[name])
        samples[image_path] = sample
    for image_path in _images_in(image_dir):
        samples.setdefault(image_path, Sample(image_path, *_image_size(image_path)))
    ordered = sorted(samples.values(), key=lambda s: str(s.image_path))
    return DatasetIndex(names, ordered, root, "voc", xml_files)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _voc_image(image_dir: Path, xml_file: Path, file_name: str | None) -> Path | None:
    if file_name and (image_dir / file_name).is_file():
        return image_dir / file_name
    for suffix in IMAGE_SUFFIXES:
        for candidate in (image_dir / f"{xml_file.stem}{suffix}", xml_file.with_suffix(suffix)):
            if candidate.is_file():
                return candidate
    return None


VocObject = tuple[str, int | None, tuple[float, float, float, float]]


def _parse_voc_xml(xml_file: Path, problems: _Problems) -> tuple[str | None, list[VocObject]]:
    text = xml_file.read_text()
    try:
        tree = ET.fromstring(text)
    except ET.ParseError as exc:
        problems.report(xml_file, exc.position[0], f"not valid XML: {exc}")
        return None, []
    objects: list[VocObject] = []
    for i, obj in enumerate(tree.iter("object")):
        line = _line_of(text, r"<object\b", i)
        name = (obj.findtext("name") or "").strip()
        bndbox = obj.find("bndbox")
        try:
            box = tuple(float(bndbox.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))  # type: ignore[union-attr, arg-type]
        except (AttributeError, TypeError, ValueError):
            problems.report(xml_file, line, f"object {name!r} has no numeric bndbox")
            continue
        objects.append((name, line, box))  # type: ignore[arg-type]
    return tree.findtext("filename"), objects


# -------------------------------------------------------------------------------------- Dataset


class DetectionDataset(Dataset):
    """torchvision-style detection dataset over a :class:`DatasetIndex`.

    ``transforms(image, target) -> (image, target)`` gets a PIL image and a target with tensor
    boxes; without transforms the image is returned as a float tensor in 0-1.
    """

    def __init__(self, index: DatasetIndex, transforms: Callable[..., Any] | None = None) -> None:
        self.index = index
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.index.samples)

    def target(self, i: int) -> dict[str, Any]:
        """The target dict of image ``i`` (torchvision's contract)."""
        sample = self.index.samples[i]
        boxes = torch.tensor(sample.boxes, dtype=torch.float32).reshape(-1, 4)
        return {
            "boxes": boxes,
            "labels": torch.tensor(sample.classes, dtype=torch.int64) + 1,
            "image_id": i,
        }

    def __getitem__(self, i: int) -> tuple[Any, dict[str, Any]]:
        from torchvision.transforms.functional import to_tensor

        sample = self.index.samples[i]
        with Image.open(sample.image_path) as raw:
            image = raw.convert("RGB")
        target = self.target(i)
        if self.transforms is not None:
            return self.transforms(image, target)
        return to_tensor(image), target


def collate(batch: list[tuple[Any, Any]]) -> tuple[list[Any], list[Any]]:
    """Keep images and targets as lists (images may differ in size)."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
