"""The detection step of the pipeline: run a detector over files, one result per file.

A file the detector cannot decode gets an error instead of detections, so one damaged photo never
fails the rest of its chunk. The detector is any object with ``model_version``, ``class_names``,
``metadata`` and ``detect_paths(paths, *, batch_size)`` (see :class:`models.inference.Detector`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from db import model_versions as model_version_queries


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
    """The detector at ``model_path`` (None: the shipped model)."""
    from models.inference import Detector

    return Detector.load(model_path, device=device, num_threads=num_threads)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
