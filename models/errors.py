"""Errors a user of the detector can cause, each naming the input and the fix.

Every class subclasses a builtin exception so callers can catch either the precise error or the
builtin one (``except FileNotFoundError`` also catches :class:`ModelNotFoundError`).
"""

from __future__ import annotations

from pathlib import Path


class ModelNotFoundError(FileNotFoundError):
    """The detector checkpoint does not exist."""

    def __init__(self, path: str | Path, hint: str = "") -> None:
        self.path = Path(path)
        msg = f"detector checkpoint not found: {self.path}"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)


class CheckpointError(ValueError):
    """A file exists but is not a WasteMap detector checkpoint (or is damaged)."""


class UnknownLabelError(ValueError):
    """A class name is not in the taxonomy table (``models.taxonomy.LABEL_TO_CATEGORY``)."""

    def __init__(self, label: str) -> None:
        self.label = label
        super().__init__(
            f"unknown class label {label!r}: it is not in models.taxonomy's mapping table. "
            f"Map it to a category with --class-map {label}=CATEGORY (categories: plastic, paper, "
            "metal, glass, organic, e-waste, hazardous, other) or add it to the table."
        )


class UnknownCategoryError(ValueError):
    """A category name is not one of the eight platform categories."""


class AnnotationError(ValueError):
    """A bad annotation: box outside the image, zero area, unknown class or missing image.

    ``path`` is the annotation file and ``line`` the 1-based line (YOLO txt) or the object's
    position (VOC ``<object>`` index, COCO ``annotations[i]`` index), when known.
    """

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}" + (f":{line}" if line is not None else "")
        super().__init__(
            f"{where}: {problem} (fix or remove this annotation, or pass --skip-bad to skip it "
            "with a warning)"
        )


class DatasetLayoutError(FileNotFoundError):
    """The dataset folder does not have the layout its format needs."""


class DeviceError(ValueError):
    """A torch device that is not cpu or cuda, or cuda on a machine where CUDA is not available."""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be downloaded or read (e.g. offline)."""


class BackboneWeightsError(ValueError):
    """A backbone weights file does not match the backbone's layout."""
