"""Files the tests make: JPEG/PNG images with the EXIF tags they need (Pillow only)."""

from __future__ import annotations

import datetime as dt
import io
from fractions import Fraction
from pathlib import Path

from PIL import ExifTags, Image

GPS_IFD = ExifTags.IFD.GPSInfo
EXIF_IFD = ExifTags.IFD.Exif


def dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    """Degrees as (degrees, minutes, seconds) rationals, the form most cameras write."""
    value = abs(value)
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = Fraction((minutes_float - minutes) * 60).limit_denominator(1_000_000)
    return Fraction(degrees), Fraction(minutes), seconds


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
    exif = Image.Exif()
    if make:
        exif[ExifTags.Base.Make] = make
    if model:
        exif[ExifTags.Base.Model] = model
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if taken is not None:
        exif.get_ifd(EXIF_IFD)[ExifTags.Base.DateTimeOriginal] = taken.strftime("%Y:%m:%d %H:%M:%S")
        if offset:
            exif.get_ifd(EXIF_IFD)[ExifTags.Base.OffsetTimeOriginal] = offset
    if lat is not None and lon is not None:
        gps = exif.get_ifd(GPS_IFD)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = dms(lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = dms(lon)
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
