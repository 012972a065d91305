"""The public results of the simulator, and the names it writes into every file it makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

#: Litter classes in id order, as in ``../shared/datasets/trash-filter/data.yaml``.
CLASSES: tuple[str, ...] = ("cardboard", "foam", "glass", "metal", "other", "paper", "plastic")
CAMERA_MAKE = "WasteMap"
CAMERA_MODEL = "Simulated survey camera"
SIMULATED_NOTE = (
    "SIMULATED: rendered by WasteMap's sample survey generator; not a photograph. Positions "
    "follow real streets of central Helsinki (OpenStreetMap); the scene and the litter are "
    "synthetic."
)
DEFAULT_START = datetime(2024, 5, 14, 9, 30, tzinfo=ZoneInfo("Europe/Helsinki"))


@dataclass(frozen=True)
class LitterBox:
    """One litter object in an image: class and box ``(x0, y0, x1, y1)`` in pixels.

    Street frames also know where the object lies: ``distance_m`` from the camera, its
    ``offset_m`` (metres to the right of and ahead of the frame's GPS position, the street's
    centre line, along the heading) and its true ``lat``/``lon`` (degrees).
    """

    class_name: str
    xyxy: tuple[float, float, float, float]
    distance_m: float | None = None
    offset_m: tuple[float, float] | None = None
    lat: float | None = None
    lon: float | None = None

    @property
    def class_id(self) -> int:
        return CLASSES.index(self.class_name)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "class": self.class_name,
            "class_id": self.class_id,
            "xyxy": [round(v, 2) for v in self.xyxy],
        }
        if self.distance_m is not None:
            out["distance_m"] = round(self.distance_m, 2)
        if self.lat is not None and self.lon is not None:
            out["lat"], out["lon"] = round(self.lat, 8), round(self.lon, 8)
        return out


@dataclass(frozen=True)
class SurveyFrame:
    """One simulated frame: where and when it was taken, and the litter in it."""

    file: Path
    lat: float
    lon: float
    captured_at: datetime
    heading_deg: float
    distance_m: float
    street: str | None
    boxes: tuple[LitterBox, ...]

    def as_dict(self, root: Path) -> dict[str, Any]:
        return {
            "file": self.file.relative_to(root).as_posix(),
            "lat": round(self.lat, 8),
            "lon": round(self.lon, 8),
            "captured_at": self.captured_at.isoformat(timespec="milliseconds"),
            "heading": round(self.heading_deg, 2),
            "distance_m": round(self.distance_m, 2),
            "street": self.street,
            "boxes": [b.as_dict() for b in self.boxes],
        }


@dataclass(frozen=True)
class SampleSurvey:
    """A simulated survey on disk: its folders, files and ground truth."""

    out_dir: Path
    images_dir: Path
    labels_dir: Path
    data_yaml: Path
    ground_truth_json: Path
    frames: tuple[SurveyFrame, ...]
    route_length_m: float
    seed: int
    simulated: bool = True

    @property
    def boxes(self) -> int:
        return sum(len(f.boxes) for f in self.frames)


@dataclass(frozen=True)
class CloseupSet:
    """Simulated close-up litter images as a YOLO dataset."""

    out_dir: Path
    images_dir: Path
    labels_dir: Path
    data_yaml: Path
    images: tuple[Path, ...]
    boxes: tuple[tuple[LitterBox, ...], ...] = field(default=())
    simulated: bool = True
