"""Dash-cam video: frames picked every N metres, geotagged from the track."""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from PIL import Image
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


@pytest.mark.parametrize(
    "content",
    [b"hello, this is not a video\n", b"\x89PNG\r\n\x1a\nnot really an image\n"],
    ids=["text", "broken-image"],  # FFmpeg opens the second as a video, then cannot decode it
)
@pytest.mark.parametrize("start", [[], ["--start", "2026-11-20T08:00:00+00:00"]])
def test_ingest_video_refuses_a_file_that_is_no_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, start: list[str]
) -> None:
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    video = tmp_path / "notvideo.mp4"
    video.write_bytes(content)
    gpx = straight_track(tmp_path / "drive.gpx")
    result = runner.invoke(app, ["ingest-video", str(video), "--track", str(gpx), *start])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split()).replace(f"{tmp_path}/", "")
    assert "notvideo.mp4 is not a video that can be decoded" in said
    assert "rtsp://" in said and "creation_time" not in said
    assert not (tmp_path / "notvideo_frames").exists()


def test_ingest_video_given_a_folder_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    (tmp_path / "drive").mkdir()
    gpx = straight_track(tmp_path / "drive.gpx")
    result = CliRunner().invoke(app, ["ingest-video", str(tmp_path / "drive"), "--track", str(gpx)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"{tmp_path / 'drive'} is a folder; give a video file" in said


class _LiveConnection:
    """Stands in for an RTSP connection (no camera can stream here); its frames come from the
    test's own generator."""

    def __init__(self) -> None:
        self.streams = SimpleNamespace(video=[object()])  # one video stream, as PyAV has

    def __enter__(self) -> _LiveConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None


class _Frame:
    def to_image(self) -> Image.Image:  # like av.VideoFrame.to_image
        return Image.new("RGB", (64, 48), "gray")


def _fix_line(second: int) -> str:
    when = T0 + dt.timedelta(seconds=second)
    return f"{when.isoformat()},{60.17 + second * 1e-4:.6f},24.94\n"  # ~11 m/s north


def _live_stream(track_file: Path, *, logger_stops_after: int | None = None):
    """Frames every 0.5 s from T0+1 s to T0+10.5 s; the GPS logger appends the fix of second
    k-1 when the stream reaches second k (a fix is written after the moment it describes)."""

    def frames(container, live, start):
        for j in range(20):
            when = T0 + dt.timedelta(seconds=1 + j / 2)
            second = 1 + j // 2
            if (
                j % 2 == 0
                and second >= 3
                and (logger_stops_after is None or second - 1 <= logger_stops_after)
            ):
                with track_file.open("a") as f:
                    f.write(_fix_line(second - 1))
            yield when, _Frame()
        if logger_stops_after is None:  # the last fixes arrive as the stream ends
            with track_file.open("a") as f:
                f.writelines(_fix_line(s) for s in range(10, 12))

    return frames


@pytest.mark.parametrize("follow", [True, False])
def test_live_frames_wait_for_the_growing_track(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, follow: bool
) -> None:
    import pipeline.video as video_module

    track_file = tmp_path / "live.csv"
    track_file.write_text("timestamp,lat,lon\n" + _fix_line(0) + _fix_line(1))
    monkeypatch.setattr(video_module.av, "open", lambda source, timeout=None: _LiveConnection())
    monkeypatch.setattr(video_module, "_frames", _live_stream(track_file))
    counts = video_module.FrameSampling()
    picked = list(
        video_module.iter_frames(
            "rtsp://cam/1",
            read_track(track_file),
            tmp_path / "frames",
            every_m=5.0,
            counts=counts,
            follow_track=(lambda: read_track(track_file)) if follow else None,
        )
    )
    if follow:  # every frame found its fix once the logger wrote it: one every 5.5 m
        assert (counts.decoded, counts.outside_track, counts.picked) == (20, 0, 20)
        times = [p.captured_at for p in picked]
        assert times == sorted(times) and times[-1] == T0 + dt.timedelta(seconds=10.5)
        assert picked[-1].latitude == pytest.approx(60.17 + 10.5e-4)
    else:  # read once: only the frame at the last fix known at the start is placed
        assert (counts.decoded, counts.outside_track, counts.picked) == (20, 19, 1)


def test_live_frames_that_wait_too_long_are_outside_the_track(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.video as video_module

    track_file = tmp_path / "live.csv"
    track_file.write_text("timestamp,lat,lon\n" + _fix_line(0) + _fix_line(1))
    monkeypatch.setattr(video_module.av, "open", lambda source, timeout=None: _LiveConnection())
    monkeypatch.setattr(video_module, "_frames", _live_stream(track_file, logger_stops_after=4))
    counts = video_module.FrameSampling()
    picked = list(
        video_module.iter_frames(
            "rtsp://cam/1",
            read_track(track_file),
            tmp_path / "frames",
            every_m=5.0,
            counts=counts,
            follow_track=lambda: read_track(track_file),
            track_wait_s=2.0,
        )
    )
    # the logger's last fix is at 4 s: the frames from 1 s to 4 s are placed, the rest are not
    assert [p.captured_at for p in picked][-1] == T0 + dt.timedelta(seconds=4)
    assert (counts.picked, counts.outside_track) == (7, 13)
