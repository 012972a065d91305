"""``ingest-video`` stores frames in chunks while decoding goes on, and keeps what it picked
before a decoding error or Ctrl-C (also a Ctrl-C while a chunk is being stored)."""

from __future__ import annotations

import datetime as dt
import errno
import itertools
import json
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import pipeline.cli_ingest as cli_ingest
import pipeline.video as video_module
from pipeline.cli import app
from pipeline.cli_ingest import _store_frames_in_chunks
from pipeline.tracks import read_track
from pipeline.video import PickedFrame, sample_frames
from tests.pipeline.test_video import T0, make_video, straight_track

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", url)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return url


def stored(url: str) -> list[tuple[str, dt.datetime, float, float]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT file_name, captured_at, latitude, longitude FROM images "
                    "ORDER BY captured_at"
                )
            ).all()
            # SQLite hands back the stored time as text (naive, UTC).
            return [(r[0], dt.datetime.fromisoformat(str(r[1])), r[2], r[3]) for r in rows]
    finally:
        engine.dispose()


def batch_sizes(url: str) -> list[int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT b.id, count(i.id) FROM batches b JOIN batch_items i "
                    "ON i.batch_id = b.id GROUP BY b.id ORDER BY min(i.path)"
                )
            ).all()
            return [int(r[1]) for r in rows]
    finally:
        engine.dispose()


def ingest_video(video: Path, gpx: Path, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        ["ingest-video", str(video), "--track", str(gpx), "--no-detect", "--json", *extra],
    )
    return result.exit_code, result.stdout, result.stderr


def failing_frames(after: int, error: BaseException) -> object:
    """``pipeline.video._frames`` that decodes ``after`` real frames, then raises ``error``."""
    real = video_module._frames

    def frames(*args: object) -> Iterator[tuple[dt.datetime, av.VideoFrame]]:
        yield from itertools.islice(real(*args), after)  # type: ignore[arg-type]
        raise error

    return frames


def test_file_video_stores_the_same_frames_as_sampling_it_whole(
    tmp_path: Path, db_url: str
) -> None:
    video = make_video(tmp_path / "drive.mp4")
    gpx = straight_track(tmp_path / "drive.gpx")
    whole = sample_frames(video, read_track(gpx), tmp_path / "whole", every_m=5.0)
    assert len(whole.frames) == 24

    code, out, err = ingest_video(video, gpx, "--frames-dir", str(tmp_path / "frames"))

    assert code == 0, err
    summary = json.loads(out)
    assert summary["ingested"] == 24 and summary["survey"] == "drive"
    assert summary["quarantined"] == {} and summary["duplicates"] == 0
    rows = stored(db_url)
    assert [r[0] for r in rows] == [f.path.name for f in whole.frames]
    for (_, captured_at, lat, lon), frame in zip(rows, whole.frames, strict=True):
        assert captured_at.replace(tzinfo=dt.UTC) == frame.captured_at.replace(microsecond=0)
        assert lat == pytest.approx(frame.latitude, abs=1e-6)
        assert lon == pytest.approx(frame.longitude, abs=1e-6)
    # The default --chunk-size (16): two chunks, each stored as its own batch.
    assert batch_sizes(db_url) == [16, 8]
    # Run again: nothing stored twice.
    code, out, _ = ingest_video(video, gpx, "--frames-dir", str(tmp_path / "frames"))
    assert code == 0 and json.loads(out)["duplicates"] == 24 and len(stored(db_url)) == 24


def test_frames_are_stored_while_decoding_goes_on(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = make_video(tmp_path / "drive.mp4")
    gpx = straight_track(tmp_path / "drive.gpx")
    frames_dir = tmp_path / "frames"
    calls: list[tuple[int, int]] = []
    real_ingest_files = cli_ingest.ingest_files

    def spy(files: list[Path], **kwargs: object) -> object:
        # How many frames were in the chunk, and how many were written when it was stored.
        calls.append((len(files), len(list(frames_dir.glob("*.jpg")))))
        return real_ingest_files(files, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli_ingest, "ingest_files", spy)

    code, out, err = ingest_video(video, gpx, "--frames-dir", str(frames_dir), "--chunk-size", "5")

    assert code == 0, err
    assert json.loads(out)["ingested"] == 24
    assert calls == [(5, 5), (5, 10), (5, 15), (5, 20), (4, 24)]
    assert batch_sizes(db_url) == [5, 5, 5, 5, 4]
    assert len(stored(db_url)) == 24


def test_decoding_error_part_way_stores_the_frames_before_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = make_video(tmp_path / "drive.mp4")
    gpx = straight_track(tmp_path / "drive.gpx")
    error = av.error.InvalidDataError(errno.EINVAL, "Invalid data found when processing input")
    # 50 frames at 10 fps = 5 s at 10 m/s = 0..49 m: frames at 0, 5, ..., 45 m.
    monkeypatch.setattr(video_module, "_frames", failing_frames(50, error))

    code, out, err = ingest_video(
        video, gpx, "--frames-dir", str(tmp_path / "frames"), "--chunk-size", "4"
    )

    assert code == 2
    assert json.loads(out)["ingested"] == 10
    assert len(stored(db_url)) == 10
    message = " ".join(err.split())
    assert f"error: {video}: decoding failed after 50 frames, 10 of them picked" in message
    assert "Invalid data found" in message
    assert "the 10 frames picked before it were stored" in message


def test_ctrl_c_stores_the_frames_picked_before_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = make_video(tmp_path / "drive.mp4")
    gpx = straight_track(tmp_path / "drive.gpx")
    monkeypatch.setattr(video_module, "_frames", failing_frames(30, KeyboardInterrupt()))

    code, out, err = ingest_video(video, gpx, "--frames-dir", str(tmp_path / "frames"))

    assert code == 130
    assert json.loads(out)["ingested"] == 6
    assert len(stored(db_url)) == 6
    message = " ".join(err.split())
    assert f"{video}: reading stopped by Ctrl-C" in message
    assert "the 6 frames picked before it were stored" in message


def test_truncated_file_stores_the_frames_it_still_holds(tmp_path: Path, db_url: str) -> None:
    """FFmpeg reads a cut-off file up to the cut without an error: what is there is stored."""
    path = tmp_path / "cut.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        container.metadata["creation_time"] = T0.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, 10)
        for i in range(120):
            frame = av.VideoFrame.from_ndarray(
                np.full((240, 320, 3), (i * 7) % 255, dtype=np.uint8), format="rgb24"
            )
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    gpx = straight_track(tmp_path / "drive.gpx")

    code, out, err = ingest_video(path, gpx, "--frames-dir", str(tmp_path / "frames"))

    assert code == 0, err
    ingested = json.loads(out)["ingested"]
    assert 0 < ingested < 24
    assert len(stored(db_url)) == ingested


def test_an_endless_stream_is_stored_chunk_by_chunk(tmp_path: Path) -> None:
    """A live stream never ends: each chunk is stored as soon as it is full."""
    stores: list[list[Path]] = []
    decoded = 0

    def endless() -> Iterator[PickedFrame]:
        nonlocal decoded
        for i in itertools.count():
            decoded += 1
            if len(stores) == 3:  # the user stops it after three stored chunks
                raise KeyboardInterrupt
            yield PickedFrame(tmp_path / f"live_{i:06d}.jpg", T0, 60.17, 24.94, None, 5.0 * i)

    stop, code = _store_frames_in_chunks(
        endless(), stores.append, chunk_size=4, source="rtsp://cam/1"
    )

    assert code == 130 and stop == "rtsp://cam/1: reading stopped by Ctrl-C"
    assert [len(chunk) for chunk in stores] == [4, 4, 4]
    assert stores[2][-1].name == "live_000011.jpg" and decoded == 13


def test_queue_sends_each_chunk_as_it_is_picked(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, sent = queue_video(tmp_path, monkeypatch)

    assert result.exit_code == 0, result.output
    # 4 s at 10 m/s, a frame every 5 m: 8 frames, in batches of 3, 3 and 2, one id each.
    assert result.stdout.split() == [batch for batch, _ in sent]
    assert len(sent) == 3 and {chunk for _, chunk in sent} == {0}
    assert batch_sizes(db_url) == [3, 3, 2]
    assert stored(db_url) == []  # the workers store them


def test_queue_stops_when_the_broker_goes_away_and_says_how_to_queue_the_rest(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.errors import BrokerUnavailableError

    asked: list[str] = []

    def client(url: str) -> object:
        asked.append(url)
        if len(asked) > 2:  # the check before reading, the first chunk; then it is gone
            raise BrokerUnavailableError(f"cannot reach the broker at {url} (refused): start it")
        return object()

    result, sent = queue_video(tmp_path, monkeypatch, client=client)

    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "cannot reach the broker at redis://127.0.0.1:1/0" in said
    assert "the 3 frames picked before it were queued" in said
    frames = tmp_path / "drive_frames"
    assert f"Its 3 frames stay in {frames}" in said
    assert f"wastemap ingest {frames} --survey drive --queue" in said
    assert batch_sizes(db_url) == [3] and len(sent) == 1  # the first chunk, and only it


@pytest.fixture(params=["postgis", "sqlite"])
def any_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The CLI's database, empty and at the latest migration, on each backend in turn."""
    if request.param == "postgis":
        url = request.getfixturevalue("postgis_at_head")
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            tables = conn.scalars(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('alembic_version', 'spatial_ref_sys')"
                )
            ).all()
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", url)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return url


class NothingFound:
    """A detector that finds nothing; ``during[n]`` runs inside its n-th call (1-based), that
    is while the n-th chunk is being stored."""

    model_version = "test-nothing-1"
    class_names: Sequence[str] = ("__background__", "bottle")

    def __init__(self, during: dict[int, Callable[[], None]] | None = None) -> None:
        self.metadata: dict[str, Any] = {}
        self.during = during or {}
        self.calls = 0

    def detect_paths(self, paths: Sequence[Path], *, batch_size: int = 4) -> list[list[Any]]:
        self.calls += 1
        if self.calls in self.during:
            self.during[self.calls]()
        return [[] for _ in paths]


def ctrl_c() -> None:
    """Press Ctrl-C: Python runs the SIGINT handler before this returns."""
    os.kill(os.getpid(), signal.SIGINT)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def ingest_video_detecting(
    video: Path, gpx: Path, frames: Path, detector: NothingFound, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """``wastemap ingest-video`` with the detector on (the storing step runs ``detector``)."""
    monkeypatch.setattr(cli_ingest, "_detector", lambda cfg, model: detector)
    result = runner.invoke(
        app,
        [
            "ingest-video",
            str(video),
            "--track",
            str(gpx),
            "--frames-dir",
            str(frames),
            "--chunk-size",
            "4",
            "--json",
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def database_state(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    queries = {
        "images": "SELECT count(*) FROM images",
        "distinct_images": "SELECT count(DISTINCT sha256) FROM images",
        "batches": "SELECT count(*) FROM batches",
        "unfinished_batches": "SELECT count(*) FROM batches WHERE status <> 'done'",
        "pending_items": "SELECT count(*) FROM batch_items WHERE state = 'pending'",
        "detection_runs": "SELECT count(*) FROM detection_runs",
    }
    try:
        with engine.connect() as conn:
            return {k: int(conn.execute(sa.text(q)).scalar_one()) for k, q in queries.items()}
    finally:
        engine.dispose()


def test_ctrl_c_while_a_chunk_is_stored_lets_the_chunk_finish(
    tmp_path: Path,
    any_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    video = make_video(tmp_path / "drive.mp4")
    gpx = straight_track(tmp_path / "drive.gpx")
    frames = tmp_path / "frames"
    # Ctrl-C while the second chunk (frames 5-8 of 24) is being detected.
    detector = NothingFound({2: ctrl_c})

    code, out, err = ingest_video_detecting(video, gpx, frames, detector, monkeypatch)

    assert code == 130, err
    assert json.loads(out)["ingested"] == 8
    message = " ".join(err.split())
    # the signal handler writes its note straight to the process's stderr
    note = " ".join(capfd.readouterr().err.split())
    assert "Ctrl-C: finishing the chunk of 4 frames being stored, then stopping" in note
    assert f"{video}: reading stopped by Ctrl-C; the 8 frames picked before it were stored" in (
        message
    )
    assert detector.calls == 2  # reading stopped after the chunk
    state = database_state(any_db_url)
    assert state["images"] == state["distinct_images"] == state["detection_runs"] == 8
    assert state["batches"] == 2 and state["unfinished_batches"] == state["pending_items"] == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works again


@pytest.mark.parametrize(
    "interrupt",
    [raise_keyboard_interrupt, lambda: (ctrl_c(), ctrl_c())],
    ids=["interrupted", "ctrl-c-twice"],
)
def test_a_chunk_abandoned_by_ctrl_c_is_stored_once_by_the_next_run(
    tmp_path: Path,
    any_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    interrupt: Callable[[], None],
) -> None:
    video = make_video(tmp_path / "drive.mp4")
    gpx = straight_track(tmp_path / "drive.gpx")
    frames = tmp_path / "frames"
    # Interrupted while the third chunk (frames 9-12 of 24) is being detected.
    code, out, err = ingest_video_detecting(
        video, gpx, frames, NothingFound({3: interrupt}), monkeypatch
    )

    assert code == 130, err
    assert json.loads(out)["ingested"] == 8
    message = " ".join(err.split())
    assert (
        f"{video}: Ctrl-C while storing a chunk of 4 frames: that chunk was not stored (its "
        "batch was withdrawn; nothing of it is in the database); the 8 frames picked before it "
        f"were stored. Its frames stay in {frames}: run the same command again, or "
        f"`wastemap ingest {frames} --survey drive`, to store them (the frames already stored "
        "are counted as duplicates, never stored twice)"
    ) in message
    assert len(list(frames.glob("*.jpg"))) == 12  # the abandoned chunk's frames are kept
    state = database_state(any_db_url)
    assert state["images"] == state["distinct_images"] == 8
    # No batch is left pending: the abandoned chunk's batch was withdrawn.
    assert state["batches"] == 2 and state["unfinished_batches"] == state["pending_items"] == 0

    code, out, err = ingest_video_detecting(video, gpx, frames, NothingFound(), monkeypatch)

    assert code == 0, err
    summary = json.loads(out)
    assert (summary["ingested"], summary["duplicates"]) == (16, 8)
    state = database_state(any_db_url)
    assert state["images"] == state["distinct_images"] == state["detection_runs"] == 24
    assert state["unfinished_batches"] == state["pending_items"] == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_right_after_a_chunk_batch_was_recorded_withdraws_it(
    tmp_path: Path, any_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is committed before its id reaches the report: an interrupt in between still
    finds and withdraws it, and the resume command keeps --no-detect."""
    from pipeline import batches as batches_module

    real_submit = batches_module.submit
    calls = {"n": 0}

    def submit_then_interrupted(*args: Any, **kwargs: Any) -> str:
        batch_id = real_submit(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return batch_id

    monkeypatch.setattr(batches_module, "submit", submit_then_interrupted)
    video = make_video(tmp_path / "drive.mp4")
    gpx = straight_track(tmp_path / "drive.gpx")
    frames = tmp_path / "frames dir"
    result = runner.invoke(
        app,
        [
            *["ingest-video", str(video), "--track", str(gpx), "--frames-dir", str(frames)],
            *["--chunk-size", "4", "--no-detect", "--json"],
        ],
    )
    assert result.exit_code == 130, result.stderr
    message = " ".join(result.stderr.split())
    assert "its batch was withdrawn" in message
    assert f"`wastemap ingest '{frames}' --survey drive --no-detect`" in message
    state = database_state(any_db_url)
    assert state["images"] == 4
    assert state["batches"] == 1 and state["unfinished_batches"] == state["pending_items"] == 0


def queue_video(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *options: str,
    during_send: dict[int, Any] | None = None,
    client: Callable[[str], object] = lambda url: object(),
) -> tuple[Any, list[tuple[str, int]]]:
    """``ingest-video --queue --chunk-size 3`` of an 8-frame drive, the chunks recorded instead
    of sent (``client`` stands for the broker's); ``during_send[n]`` runs while the n-th batch
    is sent (1-based)."""
    during_send = during_send or {}
    video = make_video(tmp_path / "drive.mp4", seconds=4)
    gpx = straight_track(tmp_path / "drive.gpx")
    sent: list[tuple[str, int]] = []

    def send(client: object, batch: str, chunk: int) -> None:
        sent.append((batch, chunk))
        if len(sent) in during_send:
            during_send[len(sent)]()

    monkeypatch.setenv("WASTEMAP_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(cli_ingest, "queue_client", client)
    monkeypatch.setattr(cli_ingest, "send_chunk", send)
    args = ["ingest-video", str(video), "--track", str(gpx), "--queue", "--chunk-size", "3"]
    return runner.invoke(app, [*args, *options]), sent


def test_ctrl_c_while_a_chunk_is_queued_lets_it_be_sent_then_stops(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Ctrl-C twice while the second batch is sent: the sending is never broken off.
    result, sent = queue_video(tmp_path, monkeypatch, during_send={2: lambda: (ctrl_c(), ctrl_c())})

    assert result.exit_code == 130, result.output
    assert result.stdout.split() == [batch for batch, _ in sent] and len(sent) == 2
    assert batch_sizes(db_url) == [3, 3]  # both recorded, both sent; reading stopped
    message = " ".join(result.stderr.split())
    assert "reading stopped by Ctrl-C; the 6 frames picked before it were queued" in message
    assert "Ctrl-C: queueing the chunk of 3 frames, then stopping" in capfd.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_following_a_queued_chunk_stops_and_leaves_it_queued(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    followed: list[str] = []

    def follow(engine: object, batch_id: str, *, as_json: bool) -> None:
        followed.append(batch_id)  # the workers are slow: the user gives up waiting
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_ingest, "follow_batch", follow)
    result, sent = queue_video(tmp_path, monkeypatch, "--wait", during_send={})

    assert result.exit_code == 130, result.output
    assert followed == [sent[0][0]] and len(sent) == 1
    message = " ".join(result.stderr.split())
    assert f"while following batch {sent[0][0]} (it stays queued" in message
    assert f"wastemap batches status {sent[0][0]} --wait" in message
    assert "the 3 frames picked before it were queued" in message
    assert batch_sizes(db_url) == [3]
