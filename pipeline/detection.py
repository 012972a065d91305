"""The detection step of the pipeline: run a detector over files, one result per file, and place
what it found on the ground.

A file the detector cannot decode gets an error instead of detections, so one damaged photo never
fails the rest of its chunk. The detector is any object with ``model_version``, ``class_names``,
``metadata`` and ``detect_paths(paths, *, batch_size)`` (see :class:`models.inference.Detector`).

A detection is stored where its object lies, not where the camera stood: :func:`place_detections`
moves it along the ray through the bottom of its box to the road ahead of the dash camera
(``analytics/ground.py``), so that the map's heatmaps and hotspots agree with the litter sites.
:func:`place_stored_detections` does it again for every stored detection after the camera
settings change (``wastemap sites update --rebuild``), and for rows stored before detections were
placed (each site update: ``pipeline.sites.update_sites``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from analytics.camera import CameraModel
from db import detections as detection_queries
from db import model_versions as model_version_queries

if TYPE_CHECKING:
    import pandas as pd

#: ``position`` of a detection placed on the ground (else one of ``analytics.ground.REASONS``).
GROUND = "ground"
#: Detections placed and updated per round trip by :func:`place_stored_detections`.
PLACE_CHUNK = 5000


class DetectorLike(Protocol):
    model_version: str
    class_names: Sequence[str]
    metadata: dict[str, Any]

    def detect_paths(self, paths: Sequence[Path], *, batch_size: int = ...) -> list[list[Any]]: ...


@dataclass(frozen=True)
class DetectionFailure:
    """The detector could not read a file (it decodes what the metadata check did not)."""

    message: str


def detect_files(
    detector: DetectorLike, paths: Sequence[Path], *, batch_size: int
) -> list[list[dict[str, Any]] | DetectionFailure]:
    """Detections (as ``detections`` table fields) per file, or the failure for that file."""
    if not paths:
        return []
    try:
        results: list[list[Any] | DetectionFailure] = list(
            detector.detect_paths(list(paths), batch_size=batch_size)
        )
    except (OSError, ValueError, SyntaxError):
        results = []
        for path in paths:  # find the file that failed; keep the others
            try:
                results.append(detector.detect_paths([path], batch_size=1)[0])
            except (OSError, ValueError, SyntaxError) as exc:
                results.append(DetectionFailure(f"{path}: the detector cannot decode it ({exc})"))
    return [r if isinstance(r, DetectionFailure) else [_fields(d) for d in r] for r in results]


def _fields(detection: Any) -> dict[str, Any]:
    x1, y1, x2, y2 = (float(v) for v in detection.box)
    return {
        "label": detection.label,
        "category": detection.category,
        "score": min(max(float(detection.score), 0.0), 1.0),
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
    }


def place_detections(
    images: Sequence[Any],
    detections: Sequence[Sequence[Mapping[str, Any]]],
    *,
    camera: CameraModel,
) -> list[list[dict[str, Any]]]:
    """``detections`` (per image, as ``detections`` table fields) with the object's position.

    Parameters
    ----------
    images : sequence
        The frames the detections were found on, one per list of ``detections``: anything
        with ``latitude``, ``longitude`` (degrees, the camera), ``heading_deg`` (None when
        unknown), ``width`` and ``height`` (pixels), such as stored ``db.schema.Image`` rows.
    detections : sequence of sequences of mappings
        Each image's boxes (``x1``, ``y1``, ``x2``, ``y2`` pixels of the upright image).
    camera : CameraModel
        The dash camera (``Settings.camera_model()``).

    Returns
    -------
    list of lists of dict
        Copies of ``detections`` with ``latitude``, ``longitude``, ``position`` (``ground``, or
        the reason the camera's position was kept: ``analytics.ground.REASONS``) and
        ``ground_distance_m`` (metres from the camera; None unless ``ground``), ready for
        :func:`db.detections.record_run`. Every box of the chunk is placed in one vectorised
        call.
    """
    import pandas as pd  # the geodesy and data frames only where detections are stored

    rows = [
        {
            "latitude": image.latitude,
            "longitude": image.longitude,
            "heading_deg": image.heading_deg,
            "width": image.width,
            "height": image.height,
            **{k: d[k] for k in ("x1", "y1", "x2", "y2")},
        }
        for image, found in zip(images, detections, strict=True)
        for d in found
    ]
    placed = _placed(pd.DataFrame(rows), camera).to_dict("records") if rows else []
    out: list[list[dict[str, Any]]] = []
    start = 0
    for found in detections:
        out.append([{**d, **placed[start + i]} for i, d in enumerate(found)])
        start += len(found)
    return out


def _placed(frame: pd.DataFrame, camera: CameraModel) -> pd.DataFrame:
    """:data:`db.detections.POSITION_FIELDS` of the detections of ``frame`` (the columns
    ``analytics.ground.object_positions`` takes), in its order."""
    import pandas as pd

    from analytics.ground import object_positions

    moved = object_positions(frame, camera=camera)
    reason = moved["position_reason"]
    distance = moved["ground_distance_m"].astype(object)
    return pd.DataFrame(
        {
            "latitude": moved["latitude"].astype(float),
            "longitude": moved["longitude"].astype(float),
            "position": reason.where(reason.notna(), GROUND).astype(object),
            "ground_distance_m": distance.where(moved["ground_distance_m"].notna(), None),
        },
        index=frame.index,
    )


def place_stored_detections(
    db_session: Session,
    *,
    camera: CameraModel,
    chunk_size: int = PLACE_CHUNK,
    only_unplaced: bool = False,
    limit: int | None = None,
) -> int:
    """Place every stored detection again with ``camera`` (after the camera settings changed),
    or with ``only_unplaced`` those never placed (rows stored before detections were placed,
    ``position = 'camera'``), in the caller's transaction; returns how many were placed. With
    ``limit``, at most about that many (whole pages of ``chunk_size``): the rest are left for
    the next call.

    Reads ``chunk_size`` detections at a time in id order with their frames, places them in one
    vectorised call and writes them back with one executemany ``UPDATE``, so memory stays
    bounded however many there are.
    """
    placed = 0
    after = 0
    while True:
        frame = detection_queries.placement_input(
            db_session=db_session, after_id=after, limit=chunk_size, only_unplaced=only_unplaced
        )
        if frame.empty:
            return placed
        positions = _placed(frame, camera).assign(id=frame["detection_id"].astype(int))
        placed += detection_queries.set_positions(
            db_session=db_session, rows=positions.to_dict("records")
        )
        after = int(frame["detection_id"].iloc[-1])
        if limit is not None and placed >= limit:
            return placed


def model_version_id(*, db_session: Session, detector: DetectorLike) -> int:
    """The ``model_versions`` row of ``detector`` (created on first use)."""
    metadata = dict(getattr(detector, "metadata", {}) or {})
    return model_version_queries.get_or_create(
        db_session=db_session,
        version=detector.model_version,
        checkpoint_sha256=metadata.get("checkpoint_sha256"),
        class_names=list(detector.class_names),
        details={k: v for k, v in metadata.items() if _jsonable(v)},
    ).id


def _jsonable(value: Any) -> bool:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def load_detector(
    model_path: Path | None, *, device: str = "cpu", num_threads: int | None = None
) -> DetectorLike:
    """The detector at ``model_path`` (None: the shipped model), on ``device`` (the
    ``WASTEMAP_DEVICE`` setting: checked first, so a wrong one is named, not a torch error)."""
    from models.detector import check_device
    from models.inference import Detector

    check_device(device, name="WASTEMAP_DEVICE")
    return Detector.load(model_path, device=device, num_threads=num_threads)


def check_detector(model_path: Path | None, *, device: str) -> None:
    """Raise the error a worker would otherwise meet on every chunk it takes (each chunk then
    failing into the quarantine): a device this machine lacks (``WASTEMAP_DEVICE``) or no model
    file (``WASTEMAP_MODEL_PATH``, else the shipped one). Cheap: the model is not loaded."""
    from models.detector import check_device
    from models.errors import ModelNotFoundError
    from models.inference import WEIGHTS_DIR, shipped_model_path

    check_device(device, name="WASTEMAP_DEVICE")
    if model_path is not None and not Path(model_path).is_file():
        raise ModelNotFoundError(
            model_path, "Fix WASTEMAP_MODEL_PATH, or unset it for the shipped model."
        )
    if model_path is None and shipped_model_path() is None:
        raise ModelNotFoundError(
            WEIGHTS_DIR / "*.pt", "No shipped model is installed: set WASTEMAP_MODEL_PATH."
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
