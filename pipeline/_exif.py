"""Reading what ingestion needs from an image file without decoding its pixels.

Pillow parses only the headers when an image is opened; EXIF (JPEG APP1, PNG eXIf, HEIF Exif
item) is read from those. Truncation is checked on the raw bytes: the JPEG entropy-coded data must
reach its end-of-image marker, PNG chunks must be complete with valid CRCs up to IEND, and HEIF
boxes must fit in the file.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

try:  # HEIC/HEIF support (phones save these by default)
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pillow_heif = None

_TAG_ORIENTATION = 0x0112
_TAG_MAKE = 0x010F
_TAG_MODEL = 0x0110
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_DATETIME_DIGITIZED = 0x9004
_TAG_OFFSET_ORIGINAL = 0x9011
_TAG_OFFSET_DIGITIZED = 0x9012
_TAG_SUBSEC_ORIGINAL = 0x9291

_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_GPS_TIME, _GPS_TRACK, _GPS_IMG_DIRECTION, _GPS_DATE = 7, 15, 17, 29

FORMATS = {"JPEG": "jpeg", "PNG": "png", "HEIF": "heif", "MPO": "jpeg"}


class NotAnImageError(ValueError):
    """The bytes are not an image in a supported format."""


class CorruptImageError(ValueError):
    """The image is truncated or its structure is damaged."""


class BadGeotagError(ValueError):
    """The EXIF GPS tags are present but cannot be turned into a position."""


@dataclass(frozen=True)
class ImageMetadata:
    """What the headers say about one image. ``width``/``height`` are as displayed (after the
    EXIF orientation); ``captured_at`` is timezone-aware or None; ``latitude``/``longitude`` are
    WGS84 degrees (negative = S/W) or None when the file has no GPS position."""

    image_format: str
    width: int
    height: int
    orientation: int
    camera_make: str | None
    camera_model: str | None
    captured_at: dt.datetime | None
    captured_at_source: str | None  # 'exif_offset' | 'gps_offset' | 'camera_timezone' | 'gps_utc'
    latitude: float | None
    longitude: float | None
    heading_deg: float | None


def read_metadata(data: bytes, *, camera_timezone: dt.tzinfo = dt.UTC) -> ImageMetadata:
    """Read format, size, orientation, camera, capture time and GPS from an image's bytes.

    Parameters
    ----------
    data
        The whole file.
    camera_timezone
        Timezone of camera clocks that record no UTC offset and no GPS time.

    Raises
    ------
    NotAnImageError, CorruptImageError, BadGeotagError, PIL.Image.DecompressionBombError
    """
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        if _looks_like_image(data):
            raise CorruptImageError("the file starts like an image but cannot be read") from exc
        raise NotAnImageError("not a JPEG, PNG or HEIC/HEIF image") from exc
    except Image.DecompressionBombError:
        raise
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptImageError(f"the image header is damaged ({exc})") from exc
    with image:
        image_format = FORMATS.get(image.format or "")
        if image_format is None:
            raise NotAnImageError(f"{image.format} images are not supported (JPEG, PNG, HEIC/HEIF)")
        _check_complete(data, image_format)
        exif = image.getexif()
        width, height = image.size
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
    orientation = _int_or(exif.get(_TAG_ORIENTATION), 1)
    if orientation not in range(1, 9):
        orientation = 1
    if orientation >= 5:  # rotated by 90 or 270 degrees
        width, height = height, width
    latitude, longitude = _gps_position(gps_ifd)
    captured_at, source = _capture_time(exif_ifd, gps_ifd, camera_timezone)
    heading = _heading(gps_ifd)
    return ImageMetadata(
        image_format=image_format,
        width=width,
        height=height,
        orientation=orientation,
        camera_make=_text(exif.get(_TAG_MAKE)),
        camera_model=_text(exif.get(_TAG_MODEL)),
        captured_at=captured_at,
        captured_at_source=source,
        latitude=latitude,
        longitude=longitude,
        heading_deg=heading,
    )


def _looks_like_image(data: bytes) -> bool:
    """Whether the file starts with a JPEG, PNG or HEIF signature."""
    return (
        data.startswith(b"\xff\xd8\xff")
        or data.startswith(b"\x89PNG\r\n\x1a\n")
        or (data[4:8] == b"ftyp" and data[8:12] in {b"heic", b"heix", b"mif1", b"msf1", b"heif"})
    )


# --- completeness checks on raw bytes ---------------------------------------------------------


def _check_complete(data: bytes, image_format: str) -> None:
    if image_format == "jpeg":
        _check_jpeg(data)
    elif image_format == "png":
        _check_png(data)
    else:
        _check_isobmff(data)


def _check_jpeg(data: bytes) -> None:
    """Walk the marker segments to the first scan, then require the end-of-image marker.

    Inside entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker, so the
    first FF D9 after the start of scan is the primary image's end, whatever a camera appends
    after it (thumbnails, motion-photo video, maker trailers)."""
    pos = 2
    size = len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            raise CorruptImageError(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan
            if data.find(b"\xff\xd9", pos) < 0:
                raise CorruptImageError("the JPEG is truncated (no end-of-image marker)")
            return
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    raise CorruptImageError("the JPEG is truncated before its image data")


def _check_png(data: bytes) -> None:
    pos = 8
    size = len(data)
    while pos + 12 <= size:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > size:
            raise CorruptImageError(
                f"the PNG is truncated inside its {kind.decode('latin-1')} chunk"
            )
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise CorruptImageError(
                f"the PNG's {kind.decode('latin-1')} chunk is corrupt (bad CRC)"
            )
        if kind == b"IEND":
            return
        pos = end
    raise CorruptImageError("the PNG is truncated (no IEND chunk)")


def _check_isobmff(data: bytes) -> None:
    """HEIF: every top-level box must fit inside the file."""
    pos = 0
    size = len(data)
    while pos + 8 <= size:
        (box_size,) = struct.unpack(">I", data[pos : pos + 4])
        if box_size == 1:
            if pos + 16 > size:
                break
            (box_size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif box_size == 0:  # box extends to the end of the file
            return
        if box_size < 8 or pos + box_size > size:
            raise CorruptImageError("the HEIF file is truncated (a box runs past the end)")
        pos += box_size
    if pos != size:
        raise CorruptImageError("the HEIF file is truncated")


# --- EXIF values ---------------------------------------------------------------------------------


def _number(value: Any) -> float:
    """One EXIF number: an IFDRational, an int/float, or a raw (numerator, denominator) pair."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        num, den = value
        if den == 0:
            raise BadGeotagError(f"a GPS rational has a zero denominator ({num}/{den})")
        return num / den
    if hasattr(value, "denominator") and getattr(value, "denominator", 1) == 0:
        raise BadGeotagError(f"a GPS rational has a zero denominator ({value.numerator}/0)")
    result = float(value)
    if not math.isfinite(result):
        raise BadGeotagError(f"a GPS value is not a finite number ({value!r})")
    return result


def _degrees(value: Any) -> float:
    """Degrees from every form cameras write: (d, m, s), (d, m.mmm), (d.ddd,), d.ddd."""
    if isinstance(value, bytes | str):
        raise BadGeotagError(f"a GPS coordinate is text, not numbers ({value!r})")
    if not isinstance(value, tuple | list):
        return _number(value)
    parts = [_number(v) for v in value]
    if not parts or len(parts) > 3:
        raise BadGeotagError(f"a GPS coordinate has {len(parts)} parts, expected 1 to 3")
    weights = (1.0, 60.0, 3600.0)
    return sum(p / w for p, w in zip(parts, weights, strict=False))


def _ref(value: Any) -> str:
    text = _text(value) or ""
    return text.strip().upper()[:1]


def _gps_position(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    if _GPS_LAT not in gps or _GPS_LON not in gps:
        return None, None
    latitude = _degrees(gps[_GPS_LAT])
    longitude = _degrees(gps[_GPS_LON])
    lat_ref, lon_ref = _ref(gps.get(_GPS_LAT_REF)), _ref(gps.get(_GPS_LON_REF))
    if lat_ref not in ("", "N", "S") or lon_ref not in ("", "E", "W"):
        raise BadGeotagError(f"GPS refs must be N/S and E/W, found {lat_ref!r} and {lon_ref!r}")
    if lat_ref == "S":
        latitude = -abs(latitude)
    if lon_ref == "W":
        longitude = -abs(longitude)
    return latitude, longitude


def _heading(gps: dict[int, Any]) -> float | None:
    for tag in (_GPS_IMG_DIRECTION, _GPS_TRACK):
        if tag in gps:
            try:
                value = _number(gps[tag])
            except (BadGeotagError, TypeError, ValueError):
                continue
            if 0.0 <= value <= 360.0:
                return value % 360.0
    return None


def _parse_exif_datetime(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    text = text.strip().rstrip("\x00")
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(text[:19], fmt)
        except ValueError:
            continue
    return None


def _parse_offset(text: str | None) -> dt.tzinfo | None:
    if not text:
        return None
    text = text.strip().rstrip("\x00")
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    sign = 1 if text[0] == "+" else -1
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _gps_utc(gps: dict[int, Any]) -> dt.datetime | None:
    date = _text(gps.get(_GPS_DATE))
    stamp = gps.get(_GPS_TIME)
    if not date or not isinstance(stamp, tuple | list) or len(stamp) != 3:
        return None
    try:
        day = dt.datetime.strptime(date.strip().rstrip("\x00"), "%Y:%m:%d")
        h, m, s = (_number(v) for v in stamp)
    except (ValueError, BadGeotagError, TypeError):
        return None
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        return None
    return day.replace(tzinfo=dt.UTC) + dt.timedelta(hours=h, minutes=m, seconds=s)


def _capture_time(
    exif_ifd: dict[int, Any], gps: dict[int, Any], camera_timezone: dt.tzinfo
) -> tuple[dt.datetime | None, str | None]:
    """DateTimeOriginal (else DateTimeDigitized) with its offset; without an offset, the offset
    implied by the GPS clock (rounded to 15 minutes) or the configured camera timezone; with no
    camera time at all, the GPS time (UTC)."""
    gps_utc = _gps_utc(gps)
    for time_tag, offset_tag in (
        (_TAG_DATETIME_ORIGINAL, _TAG_OFFSET_ORIGINAL),
        (_TAG_DATETIME_DIGITIZED, _TAG_OFFSET_DIGITIZED),
    ):
        local = _parse_exif_datetime(_text(exif_ifd.get(time_tag)))
        if local is None:
            continue
        subsec = (
            _text(exif_ifd.get(_TAG_SUBSEC_ORIGINAL))
            if time_tag == _TAG_DATETIME_ORIGINAL
            else None
        )
        if subsec and subsec.strip().isdigit():
            digits = subsec.strip()
            local = local + dt.timedelta(seconds=int(digits) / 10 ** len(digits))
        offset = _parse_offset(_text(exif_ifd.get(offset_tag)))
        if offset is not None:
            return local.replace(tzinfo=offset), "exif_offset"
        if gps_utc is not None:
            delta = local - gps_utc.replace(tzinfo=None)
            quarter_hours = round(delta.total_seconds() / 900.0)
            if (
                abs(quarter_hours) <= 14 * 4
                and abs(delta.total_seconds() - quarter_hours * 900) < 300
            ):
                tz = dt.timezone(dt.timedelta(minutes=15 * quarter_hours))
                return local.replace(tzinfo=tz), "gps_offset"
        return local.replace(tzinfo=camera_timezone), "camera_timezone"
    if gps_utc is not None:
        return gps_utc, "gps_utc"
    return None, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).replace("\x00", "").strip()
    return text or None


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --- writing (simulated surveys, video frames, tests, benchmarks) ------------------------------


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    value = abs(value)
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = Fraction((minutes_float - minutes) * 60).limit_denominator(1_000_000)
    return Fraction(degrees), Fraction(minutes), seconds


def build_exif(
    *,
    latitude: float | None = None,
    longitude: float | None = None,
    captured_at: dt.datetime | None = None,
    heading_deg: float | None = None,
    make: str | None = None,
    model: str | None = None,
    description: str | None = None,
    orientation: int | None = None,
    subsec: bool = False,
) -> Image.Exif:
    """EXIF tags as cameras write them: GPS as (degrees, minutes, seconds) rationals with N/S/E/W
    refs (seconds to 1e-6, i.e. positions to about 3 cm), DateTimeOriginal with its
    OffsetTimeOriginal when ``captured_at`` is timezone-aware, GPSImgDirection (true north).
    With ``subsec``, also SubsecTimeOriginal: the milliseconds of ``captured_at``."""
    exif = Image.Exif()
    if make:
        exif[_TAG_MAKE] = make
    if model:
        exif[_TAG_MODEL] = model
    if description:
        exif[0x010E] = description  # ImageDescription
    if orientation:
        exif[_TAG_ORIENTATION] = orientation
    if captured_at is not None:
        exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
        exif_ifd[_TAG_DATETIME_ORIGINAL] = captured_at.strftime("%Y:%m:%d %H:%M:%S")
        if subsec:
            exif_ifd[_TAG_SUBSEC_ORIGINAL] = f"{captured_at.microsecond // 1000:03d}"
        offset = captured_at.utcoffset()
        if offset is not None:
            minutes = int(offset.total_seconds() // 60)
            sign = "+" if minutes >= 0 else "-"
            exif_ifd[_TAG_OFFSET_ORIGINAL] = (
                f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
            )
    if latitude is not None and longitude is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[_GPS_LAT_REF] = "N" if latitude >= 0 else "S"
        gps[_GPS_LAT] = _dms(latitude)
        gps[_GPS_LON_REF] = "E" if longitude >= 0 else "W"
        gps[_GPS_LON] = _dms(longitude)
        if heading_deg is not None:
            gps[16] = "T"  # GPSImgDirectionRef: true north
            gps[_GPS_IMG_DIRECTION] = Fraction(heading_deg % 360.0).limit_denominator(100)
    return exif


def splice_exif(jpeg: bytes, exif: Image.Exif) -> bytes:
    """``jpeg`` with ``exif`` as its APP1 segment, without re-encoding the pixels (any EXIF it
    had is replaced)."""
    if not jpeg.startswith(b"\xff\xd8"):
        raise NotAnImageError("not a JPEG: cannot splice EXIF into it")
    payload = b"Exif\x00\x00" + exif.tobytes()
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    rest = jpeg[2:]
    while rest[:2] == b"\xff\xe1":  # drop existing APP1 (EXIF/XMP) segments
        length = int.from_bytes(rest[2:4], "big")
        rest = rest[2 + length :]
    return b"\xff\xd8" + segment + rest
