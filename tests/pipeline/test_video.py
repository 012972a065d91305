"""Dash-cam video: frames picked every N metres, geotagged from the track."""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline._exif import read_metadata
from pipeline.cli import app
from pipeline.tracks import TrackFix, read_track
from pipeline.video import VideoError, haversine_m, sample_frames
from tests.pipeline.test_tracks import write_gpx

T0 = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.UTC)
SPEED_M_S = 10.0
M_PER_DEG_LAT = 111_195.0


def make_video(
    path: Path,
    *,
    seconds: float = 12.0,
    fps: int = 10,
    start: dt.datetime = T0,
    with_time: bool = True,
) -> Path:
    with av.open(str(path), "w") as container:
        if with_time:
            container.metadata["creation_time"] = start.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(int(seconds * fps)):
            img = np.full((240, 320, 3), (i * 7) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def straight_track(path: Path, seconds: int = 20) -> Path:
    """North along a meridian in Helsinki at 10 m/s, a fix every second."""
    return write_gpx(
        path,
        [
            (T0 + dt.timedelta(seconds=s), 60.17 + s * SPEED_M_S / M_PER_DEG_LAT, 24.94)
            for s in range(-2, seconds)
        ],
    )


def test_frames_every_five_metres(tmp_path: Path) -> None:
    video = make_video(tmp_path / "drive.mp4")
    track = read_track(straight_track(tmp_path / "drive.gpx"))
    result = sample_frames(video, track, tmp_path / "frames", every_m=5.0)
    assert result.decoded == 120 and result.outside_track == 0
    # 12 s at 10 m/s = 120 m (0..119 m): a frame at 0, 5, ..., 115 m.
    assert len(result.frames) == 24
    spacing = [
        haversine_m(a.latitude, a.longitude, b.latitude, b.longitude)
        for a, b in zip(result.frames, result.frames[1:], strict=False)
    ]
    assert all(5.0 - 1e-6 <= d < 6.0 for d in spacing), spacing
    for frame in result.frames:
        meta = read_metadata(frame.path.read_bytes())
        expected = track.locate(frame.captured_at, max_gap_s=60)
        assert isinstance(expected, TrackFix)
        assert meta.latitude == pytest.approx(expected.latitude, abs=1e-6)
        assert meta.longitude == pytest.approx(expected.longitude, abs=1e-6)
        assert meta.captured_at == frame.captured_at.replace(microsecond=0)
        assert meta.heading_deg == pytest.approx(0.0, abs=0.01)


def test_video_needs_a_start_time(tmp_path: Path) -> None:
    video = make_video(tmp_path / "notime.mp4", with_time=False, seconds=1)
    track = read_track(straight_track(tmp_path / "t.gpx"))
    with pytest.raises(VideoError, match="--start"):
        sample_frames(video, track, tmp_path / "f")
    # With an explicit start 5 s later the frames sit further along the track.
    late = sample_frames(
        video, track, tmp_path / "f", every_m=1.0, start=T0 + dt.timedelta(seconds=5)
    )
    assert late.frames[0].latitude == pytest.approx(60.17 + 50 / M_PER_DEG_LAT, abs=1e-7)


def test_ingest_video_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    video = make_video(tmp_path / "drive.mp4", seconds=4)
    gpx = straight_track(tmp_path / "drive.gpx")
    result = runner.invoke(
        app,
        [
            "ingest-video",
            str(video),
            "--track",
            str(gpx),
            "--every-meters",
            "10",
            "--no-detect",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ingested"] == 4 and summary["survey"] == "drive"
    bad = runner.invoke(app, ["ingest-video", str(tmp_path / "nope.mp4"), "--track", str(gpx)])
    assert bad.exit_code == 2 and "does not exist" in bad.output
