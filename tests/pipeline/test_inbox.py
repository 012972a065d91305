"""The inbox end to end without workers: scans, chunks run the way a worker runs them, and where
every file ends (each test runs on PostGIS and on SQLite)."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import pipeline.inbox as inbox_module
from db import batches as batch_queries
from db.engine import transaction
from db.schema import Batch, BatchItem, Image, Quarantine, Survey
from pipeline.batches import mark_chunk_failed, process_chunk, run_in_process
from pipeline.inbox import scan_inbox
from pipeline.ingest import IngestOptions
from tests.helpers import make_exif, write_image


def photo(path: Path, i: int) -> Path:
    return write_image(
        path, color=(i * 20 % 255, 9, 9), exif=make_exif(lat=60.17 + i * 1e-4, lon=24.94)
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class PoisonDetector:
    """Finds nothing, but crashes (as a runaway decoder would) on any chunk holding poison.jpg."""

    model_version = "test-poison-1"
    class_names: Sequence[str] = ("__background__", "bottle")

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}

    def detect_paths(self, paths: Sequence[Path], *, batch_size: int = 4) -> list[list[Any]]:
        if any(p.name == "poison.jpg" for p in paths):
            raise RuntimeError("decoder crashed")
        return [[] for _ in paths]


def run_like_a_worker(engine: sa.Engine, batch_id: str, chunk: int, retries: int = 2) -> None:
    """What ``workers.tasks.process_chunk`` does: retry a failing chunk, then give up on it."""
    error: Exception | None = None
    for _ in range(retries + 1):
        try:
            process_chunk(
                engine,
                batch_id=batch_id,
                chunk=chunk,
                options=IngestOptions(),
                detector=PoisonDetector(),
                max_attempts=retries + 1,
            )
            return
        except RuntimeError as exc:
            error = exc
    mark_chunk_failed(
        engine, batch_id=batch_id, chunk=chunk, message=f"{type(error).__name__}: {error}"
    )


def counts(engine: sa.Engine) -> tuple[int, ...]:
    """Batches, batch items, images and quarantine rows."""
    with transaction(engine) as session:
        return tuple(
            session.scalar(sa.select(sa.func.count()).select_from(t))
            for t in (Batch, BatchItem, Image, Quarantine)
        )


def test_a_file_that_fails_its_chunk_ends_in_quarantine_not_in_a_loop(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    good = [photo(inbox / "tram-3" / f"p{i}.jpg", i) for i in range(2)]
    poison = photo(inbox / "tram-3" / "poison.jpg", 7)
    poison_bytes = poison.read_bytes()
    assert scan_inbox(db_engine, inbox, chunk_size=1) == []  # first sight
    [(batch_id, chunks)] = scan_inbox(db_engine, inbox, chunk_size=1)
    assert len(chunks) == 3
    for chunk in chunks:
        run_like_a_worker(db_engine, batch_id, chunk)

    moved = tmp_path / "quarantine" / "tram-3" / "poison.jpg"
    assert moved.exists() and not poison.exists()
    assert moved.read_bytes() == poison_bytes
    with transaction(db_engine) as session:
        row = session.scalars(sa.select(Quarantine)).one()
        assert (row.reason, row.path) == ("processing_failed", str(moved))
        assert (
            str(poison.absolute()) in row.message and "RuntimeError: decoder crashed" in row.message
        )
        assert row.survey_id == session.scalar(sa.select(Survey.id).where(Survey.name == "tram-3"))
        progress = batch_queries.progress(db_session=session, batch_id=batch_id)
        assert (progress["stored"], progress["failed"], progress["pending"]) == (2, 1, 0)
        assert batch_queries.get(db_session=session, batch_id=batch_id).status == "done"
        stored = {i.sha256: i.original_path for i in session.scalars(sa.select(Image))}
    processed = [tmp_path / "processed" / "tram-3" / p.name for p in good]
    assert stored == {sha256(p): str(p) for p in processed}
    before = counts(db_engine)
    assert before == (1, 3, 2, 1)
    for _ in range(3):  # beat keeps scanning: nothing is taken again, stored or lost
        assert scan_inbox(db_engine, inbox, chunk_size=1) == []
    assert counts(db_engine) == before
    assert moved.exists() and all(Path(p).exists() for p in stored.values())


def test_a_chunk_started_too_often_moves_its_inbox_files_to_quarantine(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    files = [photo(inbox / f"p{i}.jpg", i) for i in range(2)]
    scan_inbox(db_engine, inbox, detect=False)
    [(batch_id, [chunk])] = scan_inbox(db_engine, inbox, detect=False)
    with transaction(db_engine) as session:  # three earlier runs were killed mid-chunk
        for _ in range(3):
            batch_queries.bump_attempts(db_session=session, batch_id=batch_id, chunk=chunk)
    outcome = process_chunk(
        db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions(), max_attempts=3
    )
    assert outcome.quarantined == {"processing_failed": 2}
    assert not any(f.exists() for f in files)
    with transaction(db_engine) as session:
        paths = sorted(session.scalars(sa.select(Quarantine.path)))
    assert paths == [str(tmp_path / "quarantine" / f.name) for f in files]
    assert all(Path(p).exists() for p in paths)
    assert scan_inbox(db_engine, inbox, detect=False) == []


def test_a_name_seen_before_is_stored_with_the_path_it_really_has(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"

    def drop_and_run(i: int) -> None:
        photo(inbox / "p0.jpg", i)  # the vehicle's camera reuses file names
        (inbox / "bad.jpg").write_bytes(b"\xff\xd8\xff" + bytes([i]) * 200)  # corrupt
        scan_inbox(db_engine, inbox, detect=False)
        for batch_id, _chunks in scan_inbox(db_engine, inbox, detect=False):
            run_in_process(db_engine, batch_id, options=IngestOptions())
        assert not list(inbox.glob("*.jpg"))

    drop_and_run(1)
    drop_and_run(2)
    with transaction(db_engine) as session:
        images = session.scalars(sa.select(Image)).all()
        refused = session.scalars(sa.select(Quarantine)).all()
    assert len(images) == 2 and len({i.original_path for i in images}) == 2
    for image in images:  # each row points at its own photo, not at the older one
        assert sha256(Path(image.original_path)) == image.sha256
    assert len(refused) == 2 and len({q.path for q in refused}) == 2
    for row in refused:  # refused files too: the row names the file that was refused
        assert Path(row.path).parent == tmp_path / "quarantine"
        assert sha256(Path(row.path)) == row.sha256
    first, second = sorted(p.name for p in (tmp_path / "processed").iterdir())
    assert second == "p0.jpg" and first.startswith("p0.2") and first.endswith(".jpg")


def test_videos_and_tracks_go_to_quarantine_with_the_command_that_takes_them(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    folder = inbox / "tram-3"
    photo(folder / "p0.jpg", 0)
    video = folder / "drive.MP4"
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(b"\0\0\0\x18ftypmp42" + b"\1" * 1000)
    video_bytes = video.read_bytes() + b"\2" * 1000
    track = folder / "drive.gpx"
    track.write_text('<?xml version="1.0"?><gpx version="1.1"></gpx>')
    notes = inbox / "notes.txt"
    notes.write_text("driver's notes")
    assert scan_inbox(db_engine, inbox, detect=False) == []  # first sight
    with video.open("ab") as handle:  # still being copied: stays until it stops growing
        handle.write(b"\2" * 1000)
    [(batch_id, _chunks)] = scan_inbox(db_engine, inbox, detect=False)
    quarantine = tmp_path / "quarantine"
    assert video.exists() and not track.exists() and not notes.exists()
    assert (quarantine / "tram-3" / "drive.gpx").exists() and (quarantine / "notes.txt").exists()
    assert scan_inbox(db_engine, inbox, detect=False) == []  # the video has stopped growing
    assert not video.exists() and (quarantine / "tram-3" / "drive.MP4").read_bytes() == video_bytes
    run_in_process(db_engine, batch_id, options=IngestOptions())
    assert not any(p.is_file() for p in inbox.rglob("*") if not p.name.startswith("."))

    with transaction(db_engine) as session:
        rows = {Path(q.path).name: q for q in session.scalars(sa.select(Quarantine))}
        tram = session.scalar(sa.select(Survey.id).where(Survey.name == "tram-3"))
        assert session.scalar(sa.select(sa.func.count(Image.id))) == 1
    assert sorted(rows) == ["drive.MP4", "drive.gpx", "notes.txt"]
    assert {q.reason for q in rows.values()} == {"unsupported_type"}
    for name, row in rows.items():
        assert Path(row.path).exists() and name in row.message
    assert rows["drive.gpx"].survey_id == rows["drive.MP4"].survey_id == tram
    assert rows["notes.txt"].survey_id is None  # no "inbox" survey was ever made
    moved_video = quarantine / "tram-3" / "drive.MP4"
    moved_track = quarantine / "tram-3" / "drive.gpx"  # moved one scan before the video
    assert f"wastemap ingest-video {moved_video} --track {moved_track} --survey tram-3" in (
        rows["drive.MP4"].message
    )
    assert f"--track {moved_track}" in rows["drive.gpx"].message
    assert "Convert it to JPEG or PNG" in rows["notes.txt"].message
    before = counts(db_engine)
    for _ in range(2):
        assert scan_inbox(db_engine, inbox, detect=False) == []
    assert counts(db_engine) == before


def test_a_video_and_its_track_arriving_together_get_one_command(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "run.mp4").write_bytes(b"\0" * 64)
    (inbox / "run.gpx").write_text("<gpx/>")
    scan_inbox(db_engine, inbox, default_survey="bus-4")
    assert scan_inbox(db_engine, inbox, default_survey="bus-4") == []
    quarantine = tmp_path / "quarantine"
    with transaction(db_engine) as session:
        message = session.scalar(sa.select(Quarantine.message).where(Quarantine.path.like("%mp4")))
    assert (
        f"wastemap ingest-video {quarantine / 'run.mp4'} --track {quarantine / 'run.gpx'} "
        "--survey bus-4"
    ) in message


def test_a_stalled_upload_under_a_temporary_name_is_left_alone(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("p1.jpg.part", "p2.jpg.filepart", "p3.jpg.crdownload", "~p4.jpg"):
        (inbox / name).write_bytes(b"\xff\xd8\xff" + b"\0" * 100)  # half a JPEG, not growing
    for _ in range(3):
        assert scan_inbox(db_engine, inbox, detect=False) == []
    assert len([p for p in inbox.iterdir() if not p.name.startswith(".")]) == 4
    assert not (tmp_path / "quarantine").exists()
    with transaction(db_engine) as session:
        assert session.scalar(sa.select(sa.func.count(Quarantine.id))) == 0


def quarantine_rows(engine: sa.Engine) -> dict[str, tuple[str, int, str]]:
    """Quarantine rows by file name: (path, seen_count, message)."""
    with transaction(engine) as session:
        return {
            Path(q.path).name: (q.path, q.seen_count, q.message)
            for q in session.scalars(sa.select(Quarantine))
        }


def test_a_file_that_cannot_be_moved_is_not_recorded_and_is_taken_once_later(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    notes = inbox / "notes.txt"
    notes.write_text("driver's notes")
    assert scan_inbox(db_engine, inbox, detect=False) == []  # first sight

    def cannot_move(source: str | Path, target: str | Path, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(target))

    with monkeypatch.context() as patch:
        patch.setattr(os, "link", cannot_move)  # how inbox files move
        assert scan_inbox(db_engine, inbox, detect=False) == []

    # Still in the inbox, and no row names a file in quarantine/ that is not there.
    assert notes.exists() and not (tmp_path / "quarantine" / "notes.txt").exists()
    assert quarantine_rows(db_engine) == {}

    scan_inbox(db_engine, inbox, detect=False)  # the move works now

    moved = tmp_path / "quarantine" / "notes.txt"
    assert not notes.exists() and moved.read_text() == "driver's notes"
    [(path, seen, message)] = quarantine_rows(db_engine).values()
    assert (path, seen) == (str(moved), 1)  # recorded once, where the file is
    assert f"moved to {moved}" in message
    before = counts(db_engine)
    assert scan_inbox(db_engine, inbox, detect=False) == []
    assert counts(db_engine) == before


def test_a_name_taken_while_moving_is_recorded_with_the_name_the_file_got(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "run.mp4").write_bytes(b"\0" * 64)
    (inbox / "run.gpx").write_text("<gpx/>")
    scan_inbox(db_engine, inbox, default_survey="bus-4")  # first sight
    chosen = inbox_module.inbox_destination
    taken: list[Path] = []

    def raced(path: Path, root: Path | str, folder: str) -> Path:
        """The free name chosen, then taken by another scanner before the move."""
        target = chosen(path, root, folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("another scanner's file")
        taken.append(target)
        return target

    monkeypatch.setattr(inbox_module, "inbox_destination", raced)
    scan_inbox(db_engine, inbox, default_survey="bus-4")

    quarantine = tmp_path / "quarantine"
    assert sorted(taken) == [quarantine / "run.gpx", quarantine / "run.mp4"]
    assert all(t.read_text() == "another scanner's file" for t in taken)  # not overwritten
    rows = quarantine_rows(db_engine)
    assert len(rows) == 2 and not {t.name for t in taken} & set(rows)
    by_suffix = {Path(path).suffix: (Path(path), message) for path, _, message in rows.values()}
    video, video_message = by_suffix[".mp4"]
    track, track_message = by_suffix[".gpx"]
    # Each row names the file that was moved, where it really is.
    assert video.read_bytes() == b"\0" * 64 and track.read_text() == "<gpx/>"
    assert video.parent == track.parent == quarantine
    assert f"moved to {video}" in video_message and f"moved to {track}" in track_message
    assert f"wastemap ingest-video {video} --track {track} --survey bus-4" in video_message


def test_files_whose_quarantine_rows_cannot_be_written_go_back_to_the_inbox(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    notes = inbox / "notes.txt"
    notes.write_text("driver's notes")
    scan_inbox(db_engine, inbox, detect=False)  # first sight

    def database_down(**_kwargs: object) -> None:
        raise sa.exc.OperationalError("INSERT INTO quarantine", {}, Exception("server closed"))

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module.quarantine_queries, "record", database_down)
        with pytest.raises(sa.exc.OperationalError):
            scan_inbox(db_engine, inbox, detect=False)

    assert notes.exists() and not (tmp_path / "quarantine" / "notes.txt").exists()
    assert quarantine_rows(db_engine) == {}
    scan_inbox(db_engine, inbox, detect=False)
    moved = tmp_path / "quarantine" / "notes.txt"
    [(path, seen, _message)] = quarantine_rows(db_engine).values()
    assert not notes.exists() and (path, seen) == (str(moved), 1)


def test_a_file_that_cannot_go_back_over_a_newer_one_stays_in_quarantine_and_is_logged(
    db_engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the quarantine rows failed, the uploader put a new notes.txt in the inbox: it is
    never overwritten by the old one going back; the old one stays moved, and the log says so."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    notes = inbox / "notes.txt"
    notes.write_text("driver's notes")
    scan_inbox(db_engine, inbox, detect=False)  # first sight

    def new_upload_then_database_down(**_kwargs: object) -> None:
        notes.write_text("today's notes")
        raise sa.exc.OperationalError("INSERT INTO quarantine", {}, Exception("server closed"))

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module.quarantine_queries, "record", new_upload_then_database_down)
        with pytest.raises(sa.exc.OperationalError):
            scan_inbox(db_engine, inbox, detect=False)

    assert notes.read_text() == "today's notes"
    moved = tmp_path / "quarantine" / "notes.txt"
    assert moved.read_text() == "driver's notes"
    assert f"{notes} exists again" in caplog.text and "put it back in the inbox by hand" in (
        caplog.text
    )
