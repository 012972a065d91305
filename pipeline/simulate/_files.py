"""Files: JPEG EXIF, YOLO labels, data.yaml and the ground truth."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import networkx as nx
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from pipeline._exif import build_exif
from pipeline.simulate._camera import _CAMERA_HEIGHT_M, _HFOV_DEG, _HORIZON, _PRINCIPAL_X
from pipeline.simulate._results import (
    CAMERA_MAKE,
    CAMERA_MODEL,
    CLASSES,
    SIMULATED_NOTE,
    LitterBox,
    SampleSurvey,
)
from pipeline.simulate._scene import _Weather


def _rational(value: float, denominator: int) -> IFDRational:
    return IFDRational(round(value * denominator), denominator)


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    sec = (v - d - m / 60) * 3600
    return IFDRational(d, 1), IFDRational(m, 1), _rational(sec, 1_000_000)


def _offset_text(when: datetime) -> str:
    off = when.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _exif(
    *,
    description: str,
    when: datetime | None = None,
    lat: float | None = None,
    lon: float | None = None,
    altitude_m: float | None = None,
    heading_deg: float | None = None,
    speed_kmh: float | None = None,
) -> Image.Exif:
    """A survey camera's EXIF. :func:`pipeline._exif.build_exif` writes the camera tags (Make,
    Model, ImageDescription, DateTimeOriginal with SubsecTimeOriginal and OffsetTimeOriginal;
    ``when`` is timezone-aware); this adds Software, DateTime, DateTimeDigitized, OffsetTime and
    the GPS block.

    The GPS block stays here: it has more than ``build_exif`` writes (altitude, track, speed, GPS
    date and time, map datum), and its rationals are decimal (seconds in millionths, directions
    in hundredths of a degree) where ``build_exif`` writes the closest small fraction, which
    would change the positions and headings read back in their last digits.
    """
    exif = build_exif(
        make=CAMERA_MAKE,
        model=CAMERA_MODEL,
        description=description,
        captured_at=when,
        subsec=True,
    )
    exif[ExifTags.Base.Software] = "WasteMap pipeline.simulate (SIMULATED data)"
    if when is not None:
        stamp = when.strftime("%Y:%m:%d %H:%M:%S")
        exif[ExifTags.Base.DateTime] = stamp
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        sub[ExifTags.Base.DateTimeDigitized] = stamp
        sub[ExifTags.Base.OffsetTime] = _offset_text(when)
    if lat is not None and lon is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSVersionID] = b"\x02\x03\x00\x00"
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = _dms(lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = _dms(lon)
        gps[ExifTags.GPS.GPSMapDatum] = "WGS-84"
        if altitude_m is not None:
            gps[ExifTags.GPS.GPSAltitudeRef] = b"\x00" if altitude_m >= 0 else b"\x01"
            gps[ExifTags.GPS.GPSAltitude] = _rational(abs(altitude_m), 100)
        if heading_deg is not None:
            gps[ExifTags.GPS.GPSImgDirectionRef] = "T"
            gps[ExifTags.GPS.GPSImgDirection] = _rational(heading_deg % 360.0, 100)
            gps[ExifTags.GPS.GPSTrackRef] = "T"
            gps[ExifTags.GPS.GPSTrack] = _rational(heading_deg % 360.0, 100)
        if speed_kmh is not None:
            gps[ExifTags.GPS.GPSSpeedRef] = "K"
            gps[ExifTags.GPS.GPSSpeed] = _rational(speed_kmh, 100)
        if when is not None:
            utc = when.astimezone(ZoneInfo("UTC"))
            gps[ExifTags.GPS.GPSDateStamp] = utc.strftime("%Y:%m:%d")
            gps[ExifTags.GPS.GPSTimeStamp] = (
                IFDRational(utc.hour, 1),
                IFDRational(utc.minute, 1),
                _rational(utc.second + utc.microsecond / 1e6, 1000),
            )
    return exif


def _write_yolo_labels(path: Path, boxes: Sequence[LitterBox], size: tuple[int, int]) -> None:
    W, H = size  # noqa: N806 (image width, height)
    lines = []
    for b in boxes:
        x0, y0, x1, y1 = b.xyxy
        lines.append(
            f"{b.class_id} {(x0 + x1) / 2 / W:.6f} {(y0 + y1) / 2 / H:.6f} "
            f"{(x1 - x0) / W:.6f} {(y1 - y0) / H:.6f}"
        )
    path.write_text("".join(line + "\n" for line in lines))


def _write_data_yaml(path: Path, what: str) -> None:
    names = ", ".join(f"'{c}'" for c in CLASSES)
    path.write_text(
        f"# SIMULATED: {what} rendered by WasteMap (pipeline.simulate); not photographs.\n"
        "# Classes in the order of ../shared/datasets/trash-filter/data.yaml.\n"
        "path: .\ntrain: images\nval: images\n"
        f"nc: {len(CLASSES)}\nnames: [{names}]\n"
    )


def _prepare(out_dir: str | Path) -> tuple[Path, Path, Path]:
    root = Path(out_dir)
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    return root, images, labels


def _write_ground_truth(
    survey: SampleSurvey,
    graph: nx.MultiDiGraph,
    spacing_m: float,
    size: tuple[int, int],
    weather: _Weather,
) -> None:
    streets: list[str] = []
    for f in survey.frames:
        if f.street and (not streets or streets[-1] != f.street):
            streets.append(f.street)
    doc = {
        "simulated": True,
        "note": SIMULATED_NOTE,
        "generator": "wastemap pipeline.simulate.build_sample_survey",
        "seed": survey.seed,
        "spacing_m": spacing_m,
        "image_size": list(size),
        "classes": list(CLASSES),
        "camera": {
            "make": CAMERA_MAKE,
            "model": CAMERA_MODEL,
            "height_m": _CAMERA_HEIGHT_M,
            "hfov_deg": _HFOV_DEG,
            "horizon": _HORIZON,
            "principal_x": _PRINCIPAL_X,
        },
        "weather": "sunny" if weather.sunny else "overcast",
        "road_network": Path(str(graph.graph.get("source_path", "unknown"))).name,
        "route": {"driven_m": round(survey.route_length_m, 2), "streets": streets},
        "frames": [f.as_dict(survey.out_dir) for f in survey.frames],
    }
    survey.ground_truth_json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
