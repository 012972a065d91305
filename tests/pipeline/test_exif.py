"""Reading EXIF metadata: real camera files from ../shared and every GPS form cameras write."""

from __future__ import annotations

import datetime as dt
import io
import re
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from pipeline._exif import BadGeotagError, CorruptImageError, NotAnImageError, read_metadata
from tests.helpers import make_exif

GPS = ExifTags.GPS


def readme_truth(folder: Path) -> dict[str, tuple[float, float, str, str]]:
    """(lat, lon, taken, camera) per file, from the dataset README's table."""
    rows = {}
    for line in (folder / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.match(r".+\.(jpg|heif)$", cells[0]):
            rows[cells[0]] = (float(cells[1]), float(cells[2]), cells[3], cells[4])
    return rows


def test_real_photos_positions_match_readme(shared_dir: Path) -> None:
    folder = shared_dir / "datasets" / "geotagged-photos"
    truth = readme_truth(folder)
    assert len(truth) == 13
    for name, (lat, lon, taken, camera) in truth.items():
        meta = read_metadata((folder / name).read_bytes())
        assert meta.latitude == pytest.approx(lat, abs=1e-6), name
        assert meta.longitude == pytest.approx(lon, abs=1e-6), name
        if camera != "—":
            assert meta.camera_model == camera, name
        if taken != "—":
            local = meta.captured_at.replace(tzinfo=None) if meta.captured_at else None
            assert local == dt.datetime.strptime(taken, "%Y:%m:%d %H:%M:%S").replace(
                microsecond=local.microsecond if local else 0
            ), name


def test_heic_and_kodak_encodings(shared_dir: Path) -> None:
    folder = shared_dir / "datasets" / "geotagged-photos"
    heif = read_metadata((folder / "HMD_Nokia_8.3_5G.heif").read_bytes())
    assert heif.image_format == "heif"
    assert (heif.width, heif.height) == (3456, 4608)
    assert heif.longitude < 0  # W ref
    # No DateTimeOriginal: the GPS clock (UTC) gives the time.
    assert heif.captured_at == dt.datetime(2022, 2, 3, 14, 44, 9, tzinfo=dt.UTC)
    assert heif.captured_at_source == "gps_utc"
    kodak = read_metadata((folder / "Kodak_CX7530.jpg").read_bytes())
    assert kodak.latitude == pytest.approx(-0.3713, abs=1e-6)  # minutes as a fraction, S ref


def test_offsets_exif_and_gps_derived(shared_dir: Path) -> None:
    folder = shared_dir / "datasets" / "geotagged-photos"
    nokia = read_metadata((folder / "HMD_Nokia_8.3_5G.jpg").read_bytes())
    assert nokia.captured_at.utcoffset() == dt.timedelta(hours=3)
    assert nokia.captured_at_source == "exif_offset"
    iphone = read_metadata((folder / "iphone_hdr_NO.jpg").read_bytes())
    # DateTimeOriginal 20:12:23 local, GPS 18:12:22 UTC: Madrid summer time.
    assert iphone.captured_at.utcoffset() == dt.timedelta(hours=2)
    assert iphone.captured_at_source == "gps_offset"
    nikon = read_metadata((folder / "DSCN0010.jpg").read_bytes())
    # The Nikon's GPS clock is a day off its camera clock: no offset is inferred from it.
    assert nikon.captured_at_source == "camera_timezone"
    helsinki = read_metadata(
        (folder / "DSCN0010.jpg").read_bytes(),
        camera_timezone=dt.timezone(dt.timedelta(hours=2)),
    )
    assert helsinki.captured_at.utcoffset() == dt.timedelta(hours=2)


def _jpeg(exif: Image.Exif, size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("lat_value", "lon_value", "expected"),
    [
        # degrees, minutes, seconds
        (
            (Fraction(60), Fraction(10), Fraction(30)),
            (Fraction(24), Fraction(56), Fraction(15)),
            (60.175, 24.9375),
        ),
        # degrees and decimal minutes, zero seconds (the Kodak form)
        (
            (Fraction(60), Fraction(21, 2), Fraction(0)),
            (Fraction(24), Fraction(225, 4), Fraction(0)),
            (60.175, 24.9375),
        ),
        # decimal degrees alone
        ((Fraction(60175, 1000),), (Fraction(249375, 10000),), (60.175, 24.9375)),
        # degrees and decimal minutes as two values
        ((Fraction(60), Fraction(21, 2)), (Fraction(24), Fraction(225, 4)), (60.175, 24.9375)),
    ],
)
def test_gps_rational_forms(lat_value, lon_value, expected) -> None:
    exif = make_exif(
        gps_override={
            GPS.GPSLatitudeRef: "N",
            GPS.GPSLatitude: lat_value,
            GPS.GPSLongitudeRef: "E",
            GPS.GPSLongitude: lon_value,
        }
    )
    meta = read_metadata(_jpeg(exif))
    assert meta.latitude == pytest.approx(expected[0], abs=1e-9)
    assert meta.longitude == pytest.approx(expected[1], abs=1e-9)


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "signs"),
    [("S", "W", (-1, -1)), ("N", "W", (1, -1)), ("s", "e", (-1, 1))],
)
def test_gps_refs(lat_ref: str, lon_ref: str, signs: tuple[int, int]) -> None:
    exif = make_exif(
        gps_override={
            GPS.GPSLatitudeRef: lat_ref,
            GPS.GPSLatitude: (Fraction(33), Fraction(52), Fraction(0)),
            GPS.GPSLongitudeRef: lon_ref,
            GPS.GPSLongitude: (Fraction(151), Fraction(12), Fraction(0)),
        }
    )
    meta = read_metadata(_jpeg(exif))
    assert meta.latitude == pytest.approx(signs[0] * (33 + 52 / 60))
    assert meta.longitude == pytest.approx(signs[1] * (151 + 12 / 60))


def test_zero_denominator_is_a_bad_geotag() -> None:
    exif = make_exif(
        gps_override={
            GPS.GPSLatitudeRef: "N",
            GPS.GPSLatitude: (Fraction(60), Fraction(10), Fraction(30)),
            GPS.GPSLongitudeRef: "E",
            GPS.GPSLongitude: (IFDRational(24, 1), IFDRational(56, 0), IFDRational(15, 1)),
        }
    )
    data = _jpeg(exif)
    with pytest.raises(BadGeotagError):
        read_metadata(data)


def test_orientation_swaps_displayed_size() -> None:
    meta = read_metadata(_jpeg(make_exif(orientation=6), size=(40, 30)))
    assert (meta.width, meta.height, meta.orientation) == (30, 40, 6)


def test_time_with_offset() -> None:
    exif = make_exif(taken=dt.datetime(2026, 5, 1, 12, 0, 0), offset="-04:00")
    meta = read_metadata(_jpeg(exif))
    assert meta.captured_at == dt.datetime(2026, 5, 1, 16, 0, tzinfo=dt.UTC)


def test_truncated_and_not_images() -> None:
    data = _jpeg(make_exif(), size=(200, 200))
    with pytest.raises(CorruptImageError, match="truncated"):
        read_metadata(data[: len(data) // 2])
    buf = io.BytesIO()
    Image.new("RGB", (50, 50), (5, 5, 5)).save(buf, "PNG")
    png = buf.getvalue()
    with pytest.raises(CorruptImageError):
        read_metadata(png[:-20])
    for position in (20, 40, 50):  # IHDR data, the IDAT type, IDAT data
        corrupt = bytearray(png)
        corrupt[position] ^= 0xFF
        with pytest.raises(CorruptImageError):
            read_metadata(bytes(corrupt))
    with pytest.raises(NotAnImageError):
        read_metadata(b"hello, this is a text file\n" * 10)


def test_truncated_heif(shared_dir: Path) -> None:
    data = (shared_dir / "datasets" / "geotagged-photos" / "HMD_Nokia_8.3_5G.heif").read_bytes()
    with pytest.raises(CorruptImageError):
        read_metadata(data[: len(data) - 1000])


def test_jpeg_with_trailer_is_complete() -> None:
    """Phones append data after the image (motion photos): that is not truncation."""
    data = _jpeg(make_exif()) + b"\x00\x00\x00\x18ftypmp42" + bytes(5000)
    assert read_metadata(data).width == 40
