"""Ingestion's decisions: discover image files, read their metadata, geotag, validate.

Every file ends in exactly one of three places: stored as an image, counted as a duplicate of a
stored image (same sha256), or in the quarantine with a reason code and a message naming the file
and the fix. This module decides; :mod:`pipeline.batches` stores, one transaction per chunk.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import h3
from PIL import Image as PILImage

from analytics.camera import DASH_CAMERA, CameraModel
from db.schema import H3_RESOLUTIONS
from pipeline._exif import (
    BadGeotagError,
    CorruptImageError,
    ImageMetadata,
    NotAnImageError,
    read_metadata,
)
from pipeline.errors import SourceNotFoundError
from pipeline.settings import Settings
from pipeline.tracks import Track, TrackFix

#: File name extensions ingestion reads (case-insensitive).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".heic", ".heif"})

#: Quarantine reason codes and what each means.
REASONS: dict[str, str] = {
    "unreadable": "the file could not be read (permissions, I/O error)",
    "not_an_image": "the file is not a JPEG, PNG or HEIC/HEIF image",
    "corrupt": "the image is truncated or damaged",
    "too_large": "the image has more pixels than WASTEMAP_MAX_IMAGE_PIXELS allows",
    "no_position": "no GPS position in the file and none from a track",
    "bad_position": "the position is out of range or exactly (0, 0)",
    "future_timestamp": "the capture time is in the future",
    "processing_failed": "its chunk kept failing (workers crashed or errors persisted)",
    "unsupported_type": "the inbox takes photos only (a video or a GPS track: see the message)",
}


@dataclass(frozen=True)
class IngestOptions:
    """The limits ingestion applies (see :class:`pipeline.settings.Settings`), and the dash
    camera that places each detection on the ground as it is stored."""

    max_image_pixels: int = 100_000_000
    max_track_gap_s: float = 60.0
    future_tolerance_s: float = 300.0
    camera_timezone: dt.tzinfo = dt.UTC
    camera: CameraModel = DASH_CAMERA

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestOptions:
        return cls(
            max_image_pixels=settings.max_image_pixels,
            max_track_gap_s=settings.max_track_gap_s,
            future_tolerance_s=settings.future_tolerance_s,
            camera_timezone=ZoneInfo(settings.camera_timezone),
            camera=settings.camera_model(),
        )


@dataclass(frozen=True)
class Accepted:
    """A file that passed every check, ready to store."""

    path: Path
    sha256: str
    metadata: ImageMetadata
    latitude: float
    longitude: float
    heading_deg: float | None
    position_source: str


@dataclass(frozen=True)
class Rejected:
    """A file refused with a reason code (one of :data:`REASONS`) and a message."""

    path: Path
    sha256: str | None
    reason: str
    message: str


@dataclass
class IngestReport:
    """What one ingestion run did."""

    survey: str
    ingested: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    detections: int = 0
    skipped: list[str] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)
    problems: list[Rejected] = field(default_factory=list)
    batch_id: str | None = None

    @property
    def total(self) -> int:
        return self.ingested + self.duplicates + sum(self.quarantined.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "survey": self.survey,
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "quarantined": dict(sorted(self.quarantined.items())),
            "detections": self.detections,
            "skipped_not_images": len(self.skipped),
            "batch": self.batch_id,
        }


def discover(root: Path) -> tuple[list[Path], list[Path]]:
    """Image files under ``root`` (recursively, sorted) and the other files found there.

    ``root`` may also be a single file. Hidden files and folders (``.name``) are ignored.
    """
    root = Path(root)
    if not root.exists():
        raise SourceNotFoundError(f"{root} does not exist: give a folder or an image file")
    if root.is_file():
        return [root], []
    images: list[Path] = []
    others: list[Path] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            (images if path.suffix.lower() in IMAGE_EXTENSIONS else others).append(path)
    return images, others


def examine(
    path: Path,
    *,
    data: bytes,
    sha256: str,
    options: IngestOptions,
    track: Track | None = None,
    now: dt.datetime | None = None,
) -> Accepted | Rejected:
    """Decide what to do with one file's bytes. Pure: touches no database."""
    name = str(path)
    try:
        metadata = read_metadata(data, camera_timezone=options.camera_timezone)
    except NotAnImageError as exc:
        return Rejected(path, sha256, "not_an_image", f"{name}: {exc}; remove it from the folder")
    except PILImage.DecompressionBombError as exc:
        return Rejected(path, sha256, "too_large", f"{name}: {exc}")
    except CorruptImageError as exc:
        return Rejected(
            path, sha256, "corrupt", f"{name}: {exc}; copy the file again from its source"
        )
    except BadGeotagError as exc:
        return Rejected(
            path,
            sha256,
            "bad_position",
            f"{name}: unreadable EXIF GPS ({exc}); fix the tags "
            "or remove them and ingest with --track",
        )

    pixels = metadata.width * metadata.height
    if pixels > options.max_image_pixels:
        return Rejected(
            path,
            sha256,
            "too_large",
            f"{name}: {metadata.width}x{metadata.height} = {pixels:,} pixels is over the limit "
            f"of {options.max_image_pixels:,} (WASTEMAP_MAX_IMAGE_PIXELS); downscale it or raise "
            "the limit if the file is trusted",
        )

    now = now or dt.datetime.now(dt.UTC)
    if metadata.captured_at is not None and metadata.captured_at > now + dt.timedelta(
        seconds=options.future_tolerance_s
    ):
        return Rejected(
            path,
            sha256,
            "future_timestamp",
            f"{name}: capture time {metadata.captured_at.isoformat()} is in the future; "
            "set the camera clock (and WASTEMAP_CAMERA_TIMEZONE) and ingest again",
        )

    located = _position(path, metadata, sha256=sha256, options=options, track=track)
    if isinstance(located, Rejected):
        return located
    latitude, longitude, heading, source = located
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return Rejected(
            path,
            sha256,
            "bad_position",
            f"{name}: position {latitude}, {longitude} is out of range "
            "(latitude -90..90, longitude -180..180); fix the GPS tags",
        )
    if latitude == 0.0 and longitude == 0.0:
        return Rejected(
            path,
            sha256,
            "bad_position",
            f"{name}: position is exactly (0, 0), a GPS receiver's placeholder without a fix; "
            "ingest with --track or fix the GPS tags",
        )
    return Accepted(path, sha256, metadata, latitude, longitude, heading, source)


def _position(
    path: Path,
    metadata: ImageMetadata,
    *,
    sha256: str,
    options: IngestOptions,
    track: Track | None,
) -> tuple[float, float, float | None, str] | Rejected:
    """(latitude, longitude, heading, source) from EXIF GPS, else from the track."""
    name = str(path)
    if metadata.latitude is not None and metadata.longitude is not None:
        return metadata.latitude, metadata.longitude, metadata.heading_deg, "exif"
    if track is None:
        return Rejected(
            path,
            sha256,
            "no_position",
            f"{name}: no GPS position in EXIF; ingest it with --track FILE.gpx|FILE.csv",
        )
    if metadata.captured_at is None:
        return Rejected(
            path,
            sha256,
            "no_position",
            f"{name}: no GPS position and no capture time to look up in the track",
        )
    fix = track.locate(metadata.captured_at, max_gap_s=options.max_track_gap_s)
    if not isinstance(fix, TrackFix):
        return Rejected(path, sha256, "no_position", f"{name}: no GPS position and {fix}")
    heading = metadata.heading_deg if metadata.heading_deg is not None else fix.heading_deg
    return fix.latitude, fix.longitude, heading, "track"


def image_row(accepted: Accepted, *, survey_id: int) -> dict[str, Any]:
    """The ``images`` row for an accepted file."""
    meta = accepted.metadata
    row: dict[str, Any] = {
        "sha256": accepted.sha256,
        "original_path": str(accepted.path.resolve()),
        "file_name": accepted.path.name,
        "survey_id": survey_id,
        "captured_at": meta.captured_at,
        "latitude": accepted.latitude,
        "longitude": accepted.longitude,
        "position_source": accepted.position_source,
        "width": meta.width,
        "height": meta.height,
        "image_format": meta.image_format,
        "orientation": meta.orientation,
        "camera_make": meta.camera_make,
        "camera_model": meta.camera_model,
        "heading_deg": accepted.heading_deg,
        "status": "ingested",
    }
    for res in H3_RESOLUTIONS:
        row[f"h3_r{res}"] = h3.latlng_to_cell(accepted.latitude, accepted.longitude, res)
    return row
