"""Files the tests make: JPEG/PNG images with the EXIF tags they need (Pillow only)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from PIL import ExifTags, Image

from pipeline._exif import build_exif

GPS_IFD = ExifTags.IFD.GPSInfo


def make_exif(
    *,
    lat: float | None = None,
    lon: float | None = None,
    taken: dt.datetime | None = None,
    offset: str | None = None,
    make: str | None = "TestCam",
    model: str | None = "T-1",
    orientation: int | None = None,
    gps_override: dict[int, object] | None = None,
) -> Image.Exif:
    """Camera-style EXIF (via the project's own writer); ``taken`` is the camera's local time,
    ``offset`` its OffsetTimeOriginal (e.g. "+02:00"), ``gps_override`` raw GPS tags to set."""
    if taken is not None and offset:
        sign = 1 if offset[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        taken = taken.replace(tzinfo=tz)
    exif = build_exif(
        latitude=lat,
        longitude=lon,
        captured_at=taken,
        make=make,
        model=model,
        orientation=orientation,
    )
    if gps_override:
        exif.get_ifd(GPS_IFD).update(gps_override)
    return exif


def write_image(
    path: Path,
    *,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (120, 130, 140),
    fmt: str = "JPEG",
    exif: Image.Exif | None = None,
) -> Path:
    """Write a small image with ``exif``; distinct colours give distinct sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, color)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(path, fmt, **kwargs)
    return path


def jpeg_bytes(**kwargs: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(buf, "JPEG", **kwargs)
    return buf.getvalue()
