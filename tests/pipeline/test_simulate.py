"""The SIMULATED sample survey: real Helsinki streets, EXIF that reads back, honest ground truth."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import ExifTags, Image
from typer.testing import CliRunner

from analytics.ground import DASH_CAMERA, object_positions
from analytics.network import load_road_network, snap_points
from pipeline.simulate import CLASSES, build_sample_survey, render_litter_closeups

EARTH_RADIUS_M = 6_371_008.8
SIZE = (640, 360)


def haversine_m(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


@pytest.fixture(scope="session")
def helsinki(tmp_path_factory: pytest.TempPathFactory) -> nx.MultiDiGraph:
    return load_road_network(cache_dir=tmp_path_factory.mktemp("road-network-cache"))


@pytest.fixture(scope="module")
def survey(helsinki, tmp_path_factory):
    return build_sample_survey(
        tmp_path_factory.mktemp("survey"),
        frames=12,
        spacing_m=10.0,
        seed=3,
        size=SIZE,
        graph=helsinki,
    )


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _dms(value) -> float:
    d, m, s = (float(v) for v in value)
    return d + m / 60 + s / 3600


def test_files_and_frame_count(survey) -> None:
    assert len(survey.frames) == 12
    assert sorted(p.name for p in survey.images_dir.iterdir()) == [
        f"frame_{i:04d}.jpg" for i in range(12)
    ]
    assert len(list(survey.labels_dir.glob("*.txt"))) == 12
    gt = json.loads(survey.ground_truth_json.read_text())
    assert gt["simulated"] is True and "SIMULATED" in gt["note"]
    assert len(gt["frames"]) == 12
    assert gt["classes"] == list(CLASSES)
    for f in survey.frames:
        with Image.open(f.file) as im:
            assert im.size == SIZE and im.format == "JPEG"


def test_data_yaml_has_the_trash_filter_class_order(survey, shared_dir: Path) -> None:
    ours = yaml.safe_load(survey.data_yaml.read_text())
    theirs = yaml.safe_load((shared_dir / "datasets/trash-filter/data.yaml").read_text())
    assert ours["names"] == theirs["names"] == list(CLASSES)
    assert ours["nc"] == 7
    assert "SIMULATED" in survey.data_yaml.read_text()


def test_exif_reads_back_with_pillow(survey) -> None:
    gt = json.loads(survey.ground_truth_json.read_text())
    for frame in gt["frames"]:
        with Image.open(survey.out_dir / frame["file"]) as im:
            exif = im.getexif()
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        lat = _dms(gps[ExifTags.GPS.GPSLatitude]) * (
            1 if gps[ExifTags.GPS.GPSLatitudeRef] == "N" else -1
        )
        lon = _dms(gps[ExifTags.GPS.GPSLongitude]) * (
            1 if gps[ExifTags.GPS.GPSLongitudeRef] == "E" else -1
        )
        assert abs(lat - frame["lat"]) < 1e-6 and abs(lon - frame["lon"]) < 1e-6
        assert float(gps[ExifTags.GPS.GPSImgDirection]) == pytest.approx(frame["heading"], abs=0.01)
        assert gps[ExifTags.GPS.GPSImgDirectionRef] == "T"
        assert float(gps[ExifTags.GPS.GPSAltitude]) > 0
        assert exif[ExifTags.Base.Make] == "WasteMap"
        assert exif[ExifTags.Base.Model] == "Simulated survey camera"
        assert exif[ExifTags.Base.ImageDescription].startswith("SIMULATED")
        stamp = datetime.strptime(sub[ExifTags.Base.DateTimeOriginal], "%Y:%m:%d %H:%M:%S")
        offset = sub[ExifTags.Base.OffsetTimeOriginal]
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        millis = int(sub[ExifTags.Base.SubsecTimeOriginal])
        written = stamp.replace(tzinfo=tz) + timedelta(milliseconds=millis)
        assert written == datetime.fromisoformat(frame["captured_at"])


def test_frames_follow_the_streets_spacing_apart(survey, helsinki) -> None:
    lon = np.array([f.lon for f in survey.frames])
    lat = np.array([f.lat for f in survey.frames])
    step = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    # Measured along the route; a corner cuts the straight-line distance a little.
    assert (step <= 10.0 * 1.01).all() and (step >= 10.0 * 0.7).all()
    assert np.median(step) == pytest.approx(10.0, rel=0.01)
    assert (snap_points(helsinki, lon, lat).distance_m < 0.5).all()
    assert all(f.street for f in survey.frames)


def test_headings_point_along_the_drive(survey) -> None:
    frames = survey.frames
    geod_bearings = []
    for a, b in itertools.pairwise(frames):
        dx = np.radians(b.lon - a.lon) * np.cos(np.radians(a.lat))
        dy = np.radians(b.lat - a.lat)
        geod_bearings.append(np.degrees(np.arctan2(dx, dy)) % 360)
    diffs = [
        abs((h - f.heading_deg + 180) % 360 - 180)
        for h, f in zip(geod_bearings, frames, strict=False)
    ]
    assert np.median(diffs) < 5


def test_capture_times_advance_at_a_survey_speed(survey) -> None:
    times = [f.captured_at for f in survey.frames]
    assert all(t.tzinfo is not None for t in times)
    assert times[0] == datetime.fromisoformat("2024-05-14T09:30:00+03:00")
    for a, b in itertools.pairwise(times):
        speed_kmh = 10.0 / (b - a).total_seconds() * 3.6
        assert 10 < speed_kmh <= 30.5


def test_boxes_are_inside_the_image_and_match_the_labels(survey) -> None:
    w, h = SIZE
    total = 0
    for f in survey.frames:
        rows = [
            line.split()
            for line in (survey.labels_dir / (f.file.stem + ".txt")).read_text().splitlines()
        ]
        assert len(rows) == len(f.boxes)
        for box, row in zip(f.boxes, rows, strict=True):
            x0, y0, x1, y1 = box.xyxy
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            assert box.class_name in CLASSES and int(row[0]) == CLASSES.index(box.class_name)
            cx, _cy, bw, bh = (float(v) for v in row[1:])
            assert cx == pytest.approx((x0 + x1) / 2 / w, abs=1e-5)
            assert bh == pytest.approx((y1 - y0) / h, abs=1e-5)
            assert bw > 0
            # Litter lies on the ground: below the horizon.
            assert y1 > 0.36 * h
            total += 1
    assert total == survey.boxes > 0


def test_litter_placed_on_the_ground_lies_where_the_ground_truth_says(survey) -> None:
    """The ray through the bottom of each true box, met with the road, lands far nearer the
    litter than the camera that saw it (it lies 4.5 to 12.5 m ahead)."""
    gt = json.loads(survey.ground_truth_json.read_text())
    # The survey is rendered with the dash camera that WasteMap assumes by default.
    fields = ("height_m", "hfov_deg", "horizon", "principal_x")
    assert [gt["camera"][k] for k in fields] == [getattr(DASH_CAMERA, k) for k in fields]
    width, height = gt["image_size"]
    boxes = pd.DataFrame(
        [
            {
                "latitude": f["lat"],
                "longitude": f["lon"],
                "heading_deg": f["heading"],
                "width": width,
                "height": height,
                **dict(zip(("x1", "y1", "x2", "y2"), b["xyxy"], strict=True)),
                "true_lat": b["lat"],
                "true_lon": b["lon"],
                "true_distance_m": b["distance_m"],
            }
            for f in gt["frames"]
            for b in f["boxes"]
        ]
    )
    assert len(boxes) >= 10
    placed = object_positions(boxes, camera=DASH_CAMERA)
    assert placed["position_reason"].isna().all()

    def error_m(lat: str, lon: str) -> np.ndarray:
        return haversine_m(placed[lon], placed[lat], placed["true_lon"], placed["true_lat"])

    camera_error = error_m("camera_latitude", "camera_longitude")
    ground_error = error_m("latitude", "longitude")
    assert np.median(camera_error) > 5.0
    assert np.median(ground_error) < 0.5 * np.median(camera_error)
    # What is left is mostly the GPS fix: it lies on the street's centre line, while the
    # vehicle drives along the right kerb; the distance from the camera is near exact.
    assert np.median(np.abs(placed["ground_distance_m"] - placed["true_distance_m"])) < 0.3


def test_the_same_seed_gives_the_same_files(helsinki, tmp_path: Path) -> None:
    a = build_sample_survey(tmp_path / "a", frames=3, seed=11, size=SIZE, graph=helsinki)
    b = build_sample_survey(tmp_path / "b", frames=3, seed=11, size=SIZE, graph=helsinki)
    c = build_sample_survey(tmp_path / "c", frames=3, seed=12, size=SIZE, graph=helsinki)
    assert _tree_digest(a.out_dir) == _tree_digest(b.out_dir)
    assert _tree_digest(a.out_dir) != _tree_digest(c.out_dir)


def test_bad_arguments_are_refused(helsinki, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_sample_survey(tmp_path, frames=2, start=datetime(2024, 5, 14, 9, 0), graph=helsinki)
    with pytest.raises(ValueError, match="frames"):
        build_sample_survey(tmp_path, frames=0, graph=helsinki)
    with pytest.raises(ValueError, match="spacing_m"):
        build_sample_survey(tmp_path, frames=2, spacing_m=0, graph=helsinki)


def test_closeups_are_a_yolo_dataset_like_trash_filter(tmp_path: Path) -> None:
    first = render_litter_closeups(tmp_path / "a", n=4, seed=5)
    again = render_litter_closeups(tmp_path / "b", n=4, seed=5)
    assert _tree_digest(first.out_dir) == _tree_digest(again.out_dir)
    assert len(first.images) == 4
    for path, boxes in zip(first.images, first.boxes, strict=True):
        with Image.open(path) as im:
            assert im.size == (416, 416)
            assert im.getexif()[ExifTags.Base.ImageDescription].startswith("SIMULATED")
        assert 1 <= len(boxes) <= 3
        rows = (first.labels_dir / (path.stem + ".txt")).read_text().splitlines()
        assert len(rows) == len(boxes)
        for row in rows:
            cls, *xywh = row.split()
            assert 0 <= int(cls) < 7
            assert all(0 <= float(v) <= 1 for v in xywh)
    assert yaml.safe_load(first.data_yaml.read_text())["names"] == list(CLASSES)


def test_cli_survey_simulate_says_simulated(tmp_path: Path, monkeypatch) -> None:
    import typer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # not the user's cache

    from pipeline import cli_survey

    app = typer.Typer()
    cli_survey.register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command, so Typer keeps "survey" as a group
        pass

    out = tmp_path / "sim"
    result = CliRunner().invoke(
        app,
        [
            "survey",
            "simulate",
            str(out),
            "--frames",
            "2",
            "--size",
            "320x180",
            "--closeups",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["simulated"] is True and summary["frames"] == 2 and summary["closeups"] == 1
    assert "SIMULATED" in result.output
    assert len(list((out / "images").glob("*.jpg"))) == 2
    assert len(list((out / "closeups" / "images").glob("*.jpg"))) == 1
    bad = CliRunner().invoke(app, ["survey", "simulate", str(out), "--start", "2024-05-14T09:00"])
    assert bad.exit_code == 2 and "UTC offset" in bad.output
