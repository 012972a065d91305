"""GPS tracks: GPX and CSV reading and interpolation at a capture time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import TrackError
from pipeline.tracks import TrackFix, read_track

T0 = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.UTC)


def write_gpx(path: Path, points: list[tuple[dt.datetime, float, float]]) -> Path:
    body = "".join(
        f'<trkpt lat="{lat}" lon="{lon}"><time>{t.strftime("%Y-%m-%dT%H:%M:%SZ")}</time></trkpt>'
        for t, lat, lon in points
    )
    path.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="test" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        f"{body}</trkseg></trk></gpx>"
    )
    return path


def test_gpx_interpolates_linearly(tmp_path: Path) -> None:
    track = read_track(
        write_gpx(
            tmp_path / "t.gpx",
            [
                (T0, 60.0, 24.0),
                (T0 + dt.timedelta(seconds=10), 60.001, 24.002),
            ],
        )
    )
    fix = track.locate(T0 + dt.timedelta(seconds=2.5), max_gap_s=60)
    assert isinstance(fix, TrackFix)
    assert fix.latitude == pytest.approx(60.00025, abs=1e-12)
    assert fix.longitude == pytest.approx(24.0005, abs=1e-12)
    assert 0 < fix.heading_deg < 90  # heading north-east


def test_csv_with_offsets(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "timestamp,lat,lon\n"
        "2026-11-20T10:00:00+02:00,60.0,24.0\n"
        "2026-11-20T10:00:20+02:00,60.002,24.0\n"
    )
    track = read_track(path)
    fix = track.locate(T0 + dt.timedelta(seconds=5), max_gap_s=60)
    assert fix.latitude == pytest.approx(60.0005)
    assert fix.heading_deg == pytest.approx(0.0, abs=1e-9)


def test_gap_and_outside_are_refused(tmp_path: Path) -> None:
    track = read_track(
        write_gpx(
            tmp_path / "t.gpx",
            [
                (T0, 60.0, 24.0),
                (T0 + dt.timedelta(seconds=10), 60.001, 24.0),
                (T0 + dt.timedelta(seconds=400), 60.01, 24.0),
            ],
        )
    )
    gap = track.locate(T0 + dt.timedelta(seconds=100), max_gap_s=60)
    assert isinstance(gap, str) and "390 s gap" in gap
    before = track.locate(T0 - dt.timedelta(seconds=1), max_gap_s=60)
    assert isinstance(before, str) and "outside the track" in before
    assert isinstance(track.locate(T0 + dt.timedelta(seconds=100), max_gap_s=500), TrackFix)


def test_bad_track_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,latitude,longitude\n")
    with pytest.raises(TrackError, match="lacks the column"):
        read_track(bad)
    bad.write_text("timestamp,lat,lon\nyesterday,60,24\n2026-11-20T10:00:00,60,24\n")
    with pytest.raises(TrackError, match="line 2"):
        read_track(bad)
    with pytest.raises(TrackError, match="does not exist"):
        read_track(tmp_path / "missing.gpx")
    notgpx = tmp_path / "x.gpx"
    notgpx.write_text("not xml")
    with pytest.raises(TrackError, match="not valid GPX"):
        read_track(notgpx)


def test_ingest_names_a_track_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    folder = tmp_path / "tracks"
    folder.mkdir()
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "photos"), "--track", str(folder)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"track {folder} is a folder; give a .gpx or .csv track file" in said
