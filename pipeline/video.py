"""Frames from dash-cam video (or a live RTSP/HTTP/camera stream), one every N metres travelled.

Each frame's time is the recording's start plus the frame's presentation time (for a live stream:
the clock when it was decoded); its position is the GPS track interpolated at that time. Picked
frames are written as JPEGs with that position, time and heading in their EXIF and yielded one by
one (:func:`iter_frames`), so ``wastemap ingest-video`` sends them through the same ingestion
pipeline as photos in chunks while decoding goes on.

A live stream is ahead of its track: the GPS logger writes a fix after the moment it describes,
so a frame decoded now has no fix yet. With ``follow_track`` (a callable that reads the track
file again) the frames wait, up to ``track_wait_s`` seconds, until the growing file holds a fix
at or after their time; frames that wait longer are counted as outside the track. While they
wait, frames closer than :data:`WAITING_FRAME_INTERVAL_S` to the previous waiting one are not
kept (at 50 km/h that is 3 m of road, finer than any ``--every-meters`` in use), which bounds
the memory a slow logger can take.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av

from pipeline._exif import build_exif
from pipeline.errors import WasteMapError
from pipeline.tracks import EARTH_RADIUS_M, Track, TrackFix

LIVE_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "/dev/video")
#: While live frames wait for their GPS fix, one is kept per this many seconds of video.
WAITING_FRAME_INTERVAL_S = 0.2


class VideoError(WasteMapError, ValueError):
    """A video or stream cannot be read, or its frames cannot be placed in time."""


@dataclass(frozen=True)
class PickedFrame:
    path: Path
    captured_at: dt.datetime
    latitude: float
    longitude: float
    heading_deg: float | None
    distance_m: float  # along the track since the first picked frame


@dataclass
class FrameSampling:
    """Counts of one sampling run; ``frames`` is filled only by :func:`sample_frames`."""

    frames: list[PickedFrame] = field(default_factory=list)
    decoded: int = 0
    outside_track: int = 0
    picked: int = 0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def is_live(source: str) -> bool:
    return str(source).startswith(LIVE_PREFIXES)


def recording_start(container: av.container.InputContainer, source: str) -> dt.datetime:
    """The ``creation_time`` the camera wrote into the container (UTC)."""
    candidates = [container.metadata.get("creation_time")]
    candidates += [s.metadata.get("creation_time") for s in container.streams.video]
    for value in candidates:
        if value:
            try:
                start = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return start if start.tzinfo else start.replace(tzinfo=dt.UTC)
    raise VideoError(
        f"{source}: the video has no creation_time, so its frames cannot be matched to the "
        "track; pass --start with the recording's start time (ISO 8601, with its offset)"
    )


def _frames(
    container: av.container.InputContainer, live: bool, start: dt.datetime
) -> Iterator[tuple[dt.datetime, av.VideoFrame]]:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    for frame in container.decode(stream):
        if live:
            yield dt.datetime.now(dt.UTC), frame
        elif frame.time is not None:
            yield start + dt.timedelta(seconds=float(frame.time)), frame


def sample_frames(
    source: str | Path,
    track: Track,
    out_dir: Path,
    *,
    every_m: float = 5.0,
    start: dt.datetime | None = None,
    max_frames: int | None = None,
    max_gap_s: float = 60.0,
    jpeg_quality: int = 92,
) -> FrameSampling:
    """Every frame :func:`iter_frames` picks, collected in a list (for a file video; a live
    stream without ``max_frames`` never ends, so read it with :func:`iter_frames` instead).

    A decoding error raises :class:`VideoError`; the frames written before it stay in ``out_dir``.
    """
    result = FrameSampling()
    for picked in iter_frames(
        source,
        track,
        out_dir,
        every_m=every_m,
        start=start,
        max_frames=max_frames,
        max_gap_s=max_gap_s,
        jpeg_quality=jpeg_quality,
        counts=result,
    ):
        result.frames.append(picked)
    return result


def iter_frames(
    source: str | Path,
    track: Track,
    out_dir: Path,
    *,
    every_m: float = 5.0,
    start: dt.datetime | None = None,
    max_frames: int | None = None,
    max_gap_s: float = 60.0,
    jpeg_quality: int = 92,
    counts: FrameSampling | None = None,
    follow_track: Callable[[], Track] | None = None,
    track_wait_s: float = 10.0,
) -> Generator[PickedFrame, None, None]:
    """Write one frame every ``every_m`` metres travelled along ``track`` into ``out_dir``,
    yielding each as soon as it is written (so a caller can store frames while decoding goes on).

    The video is opened, and its start time checked, before this returns, so a missing file,
    an unreadable container or a missing ``creation_time`` raise :class:`VideoError` here; a
    decoding error part-way raises :class:`VideoError` from the iterator after every frame
    picked before it has been yielded.

    Parameters
    ----------
    source
        A video file, or a live stream URL (rtsp://, http://, /dev/videoN).
    track
        The vehicle's GPS track covering the recording.
    every_m
        Distance between picked frames, in metres along the interpolated positions.
    start
        Recording start (timezone-aware); default: the container's creation_time.
    max_frames
        Stop after this many picked frames (live streams run until then, or until they end).
    counts
        Updated as frames are decoded and picked (``decoded``, ``outside_track``, ``picked``).
    follow_track
        For a live stream whose track file grows as it is recorded: reads the file again (it
        is called when the file changes). Without it the track is read once, and live frames
        later than its last fix are counted as outside the track.
    track_wait_s
        How long, in seconds of the stream's clock, a live frame waits for a fix at or after
        its time (with ``follow_track``).
    """
    if every_m <= 0:
        raise VideoError(f"--every-meters must be positive, got {every_m}")
    source = str(source)
    live = is_live(source)
    if not live and Path(source).is_dir():
        raise VideoError(f"{source} is a folder; give a video file (photos: `wastemap ingest`)")
    if not live and not Path(source).is_file():
        raise VideoError(f"video {source} does not exist")
    if not live:
        _check_decodes(source)
    try:
        container = av.open(source, timeout=10.0 if live else None)
    except av.error.FFmpegError as exc:
        raise VideoError(f"{source}: cannot open it as a video ({exc})") from exc
    try:
        if not container.streams.video:
            raise VideoError(f"{source} has no video stream")
        if start is None and not live:
            start = recording_start(container, source)
        if start is not None and start.tzinfo is None:
            raise VideoError("--start needs a UTC offset, e.g. 2026-11-20T08:00:00+02:00")
    except BaseException:
        container.close()
        raise
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = _pick(
        container,
        source,
        track,
        out_dir,
        live=live,
        start=start or dt.datetime.now(dt.UTC),
        every_m=every_m,
        max_frames=max_frames,
        max_gap_s=max_gap_s,
        jpeg_quality=jpeg_quality,
        counts=counts if counts is not None else FrameSampling(),
        follow=_FollowedTrack(track, follow_track) if live and follow_track else None,
        track_wait_s=track_wait_s,
    )
    # closing a generator that never started skips its body (and the ``with container``):
    # close the video (a file handle or a stream connection) when the generator goes away
    weakref.finalize(frames, container.close)
    return frames


def _check_decodes(path: str) -> None:
    """Raise :class:`VideoError` unless the file ``path`` holds a video whose first frame
    decodes (FFmpeg opens some other files, a broken image say, as a video it cannot decode).
    A probe of its own: decoding on the reading container would open its codec before
    :func:`_pick` sets the codec's threading."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                why = "it has no video stream"
            elif next(container.decode(container.streams.video[0]), None) is None:
                why = "it holds no frames"
            else:
                return
    except PermissionError as exc:
        raise VideoError(f"cannot read {path} ({exc.strerror}): check its permissions") from exc
    except av.error.FFmpegError as exc:
        why = exc.strerror or str(exc)
    raise VideoError(
        f"{path} is not a video that can be decoded ({why}): give an MP4, MOV, MKV or AVI file, "
        "or a stream URL such as rtsp://camera/1"
    )


def _pick(
    container: av.container.InputContainer,
    source: str,
    track: Track,
    out_dir: Path,
    *,
    live: bool,
    start: dt.datetime,
    every_m: float,
    max_frames: int | None,
    max_gap_s: float,
    jpeg_quality: int,
    counts: FrameSampling,
    follow: _FollowedTrack | None = None,
    track_wait_s: float = 10.0,
) -> Generator[PickedFrame, None, None]:
    travelled = 0.0
    last: TrackFix | None = None
    stem = Path(source).stem if not live else "live"
    with container:
        try:
            frames = _counted(_frames(container, live, start), counts)
            if follow is not None:
                frames = _when_placed(frames, follow, wait_s=track_wait_s)
            for when, frame in frames:
                if follow is not None:
                    track = follow.track
                fix = track.locate(when, max_gap_s=max_gap_s)
                if not isinstance(fix, TrackFix):
                    counts.outside_track += 1
                    continue
                step = (
                    0.0
                    if last is None
                    else haversine_m(last.latitude, last.longitude, fix.latitude, fix.longitude)
                )
                if last is not None and step < every_m:
                    continue
                travelled += step
                last = fix
                picked = _write(
                    frame, fix, when, travelled, out_dir, stem, counts.picked, jpeg_quality
                )
                counts.picked += 1
                yield picked
                if max_frames is not None and counts.picked >= max_frames:
                    return
        except av.error.FFmpegError as exc:
            raise VideoError(
                f"{source}: decoding failed after {counts.decoded} frames, "
                f"{counts.picked} of them picked ({exc})"
            ) from exc


def _counted(
    frames: Iterator[tuple[dt.datetime, av.VideoFrame]], counts: FrameSampling
) -> Iterator[tuple[dt.datetime, av.VideoFrame]]:
    for item in frames:
        counts.decoded += 1
        yield item


class _FollowedTrack:
    """A track file that grows while a live stream is read (a GPS logger appending fixes):
    read again whenever its size or modification time changes. A read that fails (a line half
    written) keeps the last good track; the next change reads it again."""

    def __init__(self, track: Track, reread: Callable[[], Track]) -> None:
        self.track, self._reread = track, reread
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        if self.track.path is None:
            return None
        try:
            st = os.stat(self.track.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def refresh(self) -> None:
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return
        try:
            self.track = self._reread()
        except (WasteMapError, OSError, ValueError):
            return
        self._stamp = stamp


def _when_placed(
    frames: Iterator[tuple[dt.datetime, av.VideoFrame]],
    follow: _FollowedTrack,
    *,
    wait_s: float,
) -> Iterator[tuple[dt.datetime, av.VideoFrame]]:
    """Live frames in order, each once the followed track reaches its time, or once it has
    waited ``wait_s`` (then it is located as it is, and counted outside the track)."""
    waiting: deque[tuple[dt.datetime, av.VideoFrame]] = deque()
    for when, frame in frames:
        if not waiting or (when - waiting[-1][0]).total_seconds() >= WAITING_FRAME_INTERVAL_S:
            waiting.append((when, frame))
        follow.refresh()
        end = follow.track.end
        while waiting and (waiting[0][0] <= end or (when - waiting[0][0]).total_seconds() > wait_s):
            yield waiting.popleft()
    follow.refresh()  # the stream ended: what the logger wrote last may still place some
    yield from waiting


def _write(
    frame: av.VideoFrame,
    fix: TrackFix,
    when: dt.datetime,
    travelled: float,
    out_dir: Path,
    stem: str,
    index: int,
    quality: int,
) -> PickedFrame:
    path = out_dir / f"{stem}_{index:06d}_{when:%Y%m%dT%H%M%S%f}.jpg"
    exif = build_exif(
        latitude=fix.latitude,
        longitude=fix.longitude,
        captured_at=when,
        heading_deg=fix.heading_deg,
        make="WasteMap",
        model="video frame",
        description=f"frame of {stem} at {travelled:.1f} m",
    )
    frame.to_image().save(path, "JPEG", quality=quality, exif=exif)
    return PickedFrame(path, when, fix.latitude, fix.longitude, fix.heading_deg, travelled)
