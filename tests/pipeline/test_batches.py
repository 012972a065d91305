"""Batches without workers: chunk bookkeeping, bounded attempts, lost-chunk requeue, the inbox,
its moves and their repair after a crash (each test runs on PostGIS and on SQLite)."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from db import batches as batch_queries
from db.engine import transaction
from db.schema import Batch, BatchItem, Image, Quarantine
from pipeline import batches as pipeline_batches
from pipeline.batches import process_chunk, requeue_stale, run_in_process, submit
from pipeline.inbox import scan_inbox
from pipeline.ingest import IngestOptions
from tests.helpers import make_exif, write_image


def photos(folder: Path, n: int) -> list[Path]:
    return [
        write_image(
            folder / f"p{i}.jpg",
            color=(i * 20 % 255, 9, 9),
            exif=make_exif(lat=60.17 + i * 1e-4, lon=24.94),
        )
        for i in range(n)
    ]


def test_chunks_and_progress(db_engine: sa.Engine, tmp_path: Path) -> None:
    files = photos(tmp_path, 5)
    batch_id = submit(
        db_engine, files=files, survey="s", source=str(tmp_path), chunk_size=2, detect=False
    )
    with transaction(db_engine) as session:
        assert batch_queries.chunk_numbers(db_session=session, batch_id=batch_id) == [0, 1, 2]
        assert batch_queries.progress(db_session=session, batch_id=batch_id)["pending"] == 5
    first = process_chunk(db_engine, batch_id=batch_id, chunk=0, options=IngestOptions())
    assert first.stored == 2 and not first.batch_finished
    again = process_chunk(db_engine, batch_id=batch_id, chunk=0, options=IngestOptions())
    assert again.already_done and again.stored == 0  # a redelivered task is a no-op
    report = run_in_process(db_engine, batch_id, options=IngestOptions())
    assert report.ingested == 3  # only the chunks still pending ran
    with transaction(db_engine) as session:
        counts = batch_queries.progress(db_session=session, batch_id=batch_id)
        assert counts == {
            "pending": 0,
            "stored": 5,
            "duplicate": 0,
            "quarantined": 0,
            "failed": 0,
            "total": 5,
        }
        assert batch_queries.get(db_session=session, batch_id=batch_id).status == "done"


def test_a_chunk_that_keeps_crashing_ends_in_quarantine(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    files = photos(tmp_path, 2)
    batch_id = submit(db_engine, files=files, survey="s", source="x", chunk_size=2, detect=False)
    with transaction(db_engine) as session:  # three earlier runs were killed mid-chunk
        for _ in range(3):
            batch_queries.bump_attempts(db_session=session, batch_id=batch_id, chunk=0)
    outcome = process_chunk(
        db_engine, batch_id=batch_id, chunk=0, options=IngestOptions(), max_attempts=3
    )
    assert outcome.quarantined == {"processing_failed": 2}
    with transaction(db_engine) as session:
        states = session.scalars(sa.select(BatchItem.state)).all()
        reasons = session.scalars(sa.select(Quarantine.message)).all()
        assert states == ["failed", "failed"]
        assert all("started 4 times" in m for m in reasons)
        assert session.scalar(sa.select(sa.func.count(Image.id))) == 0
        assert batch_queries.get(db_session=session, batch_id=batch_id).status == "done"


def test_lost_chunks_are_sent_again(db_engine: sa.Engine, tmp_path: Path) -> None:
    files = photos(tmp_path, 4)
    batch_id = submit(db_engine, files=files, survey="s", source="x", chunk_size=2, detect=False)
    process_chunk(db_engine, batch_id=batch_id, chunk=0, options=IngestOptions())
    sent: list[tuple[str, int]] = []
    assert requeue_stale(db_engine, older_than_s=3600, send=lambda b, c: sent.append((b, c))) == []
    with transaction(db_engine) as session:  # chunk 1's task was lost ten minutes ago
        session.execute(
            sa.update(BatchItem).values(
                updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
            )
        )
    assert requeue_stale(db_engine, older_than_s=300, send=lambda b, c: sent.append((b, c))) == [
        (batch_id, 1)
    ]
    assert sent == [(batch_id, 1)]
    # Just re-sent: not stale again until the threshold passes once more.
    assert requeue_stale(db_engine, older_than_s=300, send=lambda b, c: None) == []


def test_inbox_scan_takes_only_stable_files(db_engine: sa.Engine, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    photos(inbox / "tram-3", 2)
    photos(inbox, 1)
    assert scan_inbox(db_engine, inbox, detect=False) == []  # first sight: sizes unknown yet
    growing = inbox / "tram-3" / "late.jpg"
    growing.write_bytes(b"\xff\xd8\xff" + b"\0" * 100)
    submitted = scan_inbox(db_engine, inbox, detect=False)  # late.jpg changed since: not taken
    assert len(submitted) == 2  # one batch per survey: tram-3 and the inbox's own
    with transaction(db_engine) as session:
        paths = session.scalars(sa.select(BatchItem.path)).all()
        assert sorted(Path(p).name for p in paths) == ["p0.jpg", "p0.jpg", "p1.jpg"]
    assert scan_inbox(db_engine, inbox, detect=False) != []  # now late.jpg is stable
    assert scan_inbox(db_engine, inbox, detect=False) == []  # and pending files are not re-taken
    for batch_id, _chunks in submitted:
        run_in_process(db_engine, batch_id, options=IngestOptions())
    assert sorted(p.name for p in (tmp_path / "processed" / "tram-3").iterdir()) == [
        "p0.jpg",
        "p1.jpg",
    ]
    assert (tmp_path / "processed" / "p0.jpg").exists()
    with transaction(db_engine) as session:
        stored = session.scalars(sa.select(Image.original_path)).all()
        assert all("/processed/" in p and Path(p).exists() for p in stored)


def _backdate(engine: sa.Engine, *, touched_min: float, created_min: float | None = None) -> None:
    """Pretend the pending items were last touched, and the batch made, that many minutes ago."""
    now = dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        session.execute(
            sa.update(BatchItem).values(updated_at=now - dt.timedelta(minutes=touched_min))
        )
        if created_min is not None:
            session.execute(
                sa.update(Batch).values(created_at=now - dt.timedelta(minutes=created_min))
            )


def test_a_queued_chunk_in_a_healthy_backlog_is_not_sent_every_interval(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    batch_id = submit(
        db_engine, files=photos(tmp_path, 2), survey="s", source="x", chunk_size=2, detect=False
    )
    sent: list[tuple[str, int]] = []

    def requeue(queued: int | None) -> list[tuple[str, int]]:
        return requeue_stale(
            db_engine,
            older_than_s=300,
            send=lambda b, c: sent.append((b, c)),
            queue_length=lambda: queued,
        )

    # Sent an hour ago, re-sent 20 minutes ago, still waiting behind others: leave it queued.
    _backdate(db_engine, touched_min=20, created_min=60)
    assert requeue(5) == [] and requeue(None) == []
    # Untouched for half its batch's age: sent again (backoff 5, 10, 20, 40 minutes, ...).
    _backdate(db_engine, touched_min=31, created_min=60)
    assert requeue(5) == [(batch_id, 0)]
    assert requeue(5) == []  # just sent: touched now
    # The broker's queue is empty (restarted without persistence): lost, sent at once.
    _backdate(db_engine, touched_min=6, created_min=60)
    assert requeue(0) == [(batch_id, 0)]
    assert sent == [(batch_id, 0), (batch_id, 0)]


def test_a_running_chunk_beats_and_is_not_sent_again(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = submit(
        db_engine, files=photos(tmp_path, 2), survey="s", source="x", chunk_size=2, detect=False
    )
    inside, release = threading.Event(), threading.Event()
    real_read_all = pipeline_batches._read_all

    def slow_read_all(jobs):  # the chunk is running: reading, examining, detecting
        inside.set()
        assert release.wait(30)
        return real_read_all(jobs)

    monkeypatch.setattr(pipeline_batches, "_read_all", slow_read_all)
    outcomes = []
    run = threading.Thread(
        target=lambda: outcomes.append(
            process_chunk(
                db_engine, batch_id=batch_id, chunk=0, options=IngestOptions(), heartbeat_s=0.05
            )
        )
    )
    run.start()
    try:
        assert inside.wait(30)
        _backdate(db_engine, touched_min=60, created_min=120)  # as if it ran for an hour
        time.sleep(0.5)  # a few heartbeats
        sent: list[tuple[str, int]] = []
        assert (
            requeue_stale(
                db_engine,
                older_than_s=300,
                send=lambda b, c: sent.append((b, c)),
                queue_length=lambda: 0,
            )
            == []
        )
        assert sent == []
    finally:
        release.set()
        run.join(30)
    assert outcomes[0].stored == 2


def test_a_copy_delivered_while_the_chunk_runs_counts_no_attempt(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite (embedded) runs its chunks one at a time in one process, unlocked")
    batch_id = submit(
        db_engine, files=photos(tmp_path, 2), survey="s", source="x", chunk_size=2, detect=False
    )
    elsewhere = db_engine.connect()  # another worker's run holds the chunk
    assert batch_queries.try_lock_chunk(connection=elsewhere, batch_id=batch_id, chunk=0)
    elsewhere.commit()
    copy = process_chunk(db_engine, batch_id=batch_id, chunk=0, options=IngestOptions())
    assert copy.already_running and copy.stored == 0
    with transaction(db_engine) as session:
        assert set(session.scalars(sa.select(BatchItem.attempts))) == {0}
        assert set(session.scalars(sa.select(BatchItem.state))) == {"pending"}
    # That worker is killed: its lock goes with its connection, and the chunk runs here.
    elsewhere.invalidate()
    elsewhere.close()
    outcome = process_chunk(db_engine, batch_id=batch_id, chunk=0, options=IngestOptions())
    assert not outcome.already_running and outcome.stored == 2
    with transaction(db_engine) as session:
        assert set(session.scalars(sa.select(BatchItem.attempts))) == {1}
    # The lock was released at the end: a late copy finds the chunk done, not running.
    late = process_chunk(db_engine, batch_id=batch_id, chunk=0, options=IngestOptions())
    assert late.already_done and not late.already_running


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corrupt(path: Path, fill: int = 1) -> Path:
    """A JPEG cut short after its first marker: refused (quarantine/), not stored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff" + bytes([fill]) * 200)
    return path


def inbox_chunk(engine: sa.Engine, inbox: Path) -> tuple[str, int]:
    """Scan the inbox twice (files are taken once seen unchanged): its one batch and chunk."""
    assert scan_inbox(engine, inbox, detect=False) == []
    [(batch_id, [chunk])] = scan_inbox(engine, inbox, detect=False)
    return batch_id, chunk


def recorded(engine: sa.Engine) -> tuple[dict[str, str], dict[str, tuple[str, int]]]:
    """Images (sha256: original_path) and quarantine rows (sha256: (path, seen_count))."""
    with transaction(engine) as session:
        images = {i.sha256: i.original_path for i in session.scalars(sa.select(Image))}
        rows = {q.sha256: (q.path, q.seen_count) for q in session.scalars(sa.select(Quarantine))}
    return images, rows


def item_states(engine: sa.Engine) -> dict[str, str]:
    with transaction(engine) as session:
        return {Path(i.path).name: i.state for i in session.scalars(sa.select(BatchItem))}


def journals(inbox: Path) -> list[Path]:
    return list(inbox.glob(".wastemap-chunk-*"))


REAL_LINK = os.link


def fail_moving(*names: str) -> Callable[..., None]:
    """``os.link`` (how inbox files move) that cannot move files of these names (permissions,
    a full disk)."""

    def link(source: str | Path, target: str | Path, **kwargs: object) -> None:
        if Path(source).name in names:
            raise PermissionError(errno.EACCES, "Permission denied", str(source))
        REAL_LINK(source, target)

    return link


class Killed(BaseException):
    """The worker dies where this is raised (SIGKILL, out of memory): nothing after it runs and
    its open transaction is rolled back."""


def die(*_args: object, **_kwargs: object) -> None:
    raise Killed


def test_an_inbox_file_that_cannot_be_moved_is_not_recorded_and_the_next_run_takes_it_once(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    processed, quarantine = tmp_path / "processed", tmp_path / "quarantine"
    files = photos(inbox, 3)
    bad = corrupt(inbox / "bad.jpg")
    content = {p.name: sha256(p) for p in [*files, bad]}
    batch_id, chunk = inbox_chunk(db_engine, inbox)
    with monkeypatch.context() as patch:
        patch.setattr(os, "link", fail_moving("p1.jpg", "bad.jpg"))
        first = process_chunk(db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions())

    # Still in the inbox, and no row names a place in processed/ or quarantine/ for them.
    assert files[1].exists() and bad.exists()
    assert sorted(p.name for p in processed.iterdir()) == ["p0.jpg", "p2.jpg"]
    assert not (quarantine / "bad.jpg").exists()
    images, rows = recorded(db_engine)
    assert images == {content[n]: str(processed / n) for n in ("p0.jpg", "p2.jpg")}
    assert rows == {}
    assert (first.stored, first.quarantined, first.left_pending) == (2, {}, 2)
    assert item_states(db_engine) == {
        "p0.jpg": "stored",
        "p1.jpg": "pending",
        "p2.jpg": "stored",
        "bad.jpg": "pending",
    }
    for _ in range(2):  # pending: no scan takes them again
        assert scan_inbox(db_engine, inbox, detect=False) == []

    again = process_chunk(db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions())

    assert (again.stored, again.duplicates, again.left_pending) == (1, 0, 0)
    assert sum(again.quarantined.values()) == 1
    assert not files[1].exists() and not bad.exists()
    images, rows = recorded(db_engine)
    assert images == {content[p.name]: str(processed / p.name) for p in files}
    assert rows == {content["bad.jpg"]: (str(quarantine / "bad.jpg"), 1)}
    assert all(sha256(Path(path)) == sha for sha, path in images.items())
    assert sha256(quarantine / "bad.jpg") == content["bad.jpg"]
    assert set(item_states(db_engine).values()) == {"stored", "quarantined"}
    with transaction(db_engine) as session:
        assert batch_queries.get(db_session=session, batch_id=batch_id).status == "done"
    assert journals(inbox) == []
    for _ in range(2):
        assert scan_inbox(db_engine, inbox, detect=False) == []
    assert recorded(db_engine) == (images, rows)


def test_a_name_taken_while_moving_is_recorded_as_the_name_the_file_got(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    processed, quarantine = tmp_path / "processed", tmp_path / "quarantine"
    [photo] = photos(inbox, 1)
    bad = corrupt(inbox / "bad.jpg")
    content = {p.name: sha256(p) for p in (photo, bad)}
    batch_id, chunk = inbox_chunk(db_engine, inbox)
    chosen = pipeline_batches.inbox_destination
    taken: list[Path] = []

    def raced(path: Path, root: Path | str, folder: str) -> Path:
        """The free name chosen, then taken by another worker before the file moves."""
        target = chosen(path, root, folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("another worker's file")
        taken.append(target)
        return target

    monkeypatch.setattr(pipeline_batches, "inbox_destination", raced)
    outcome = process_chunk(db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions())

    assert outcome.stored == 1 and sum(outcome.quarantined.values()) == 1
    assert sorted(taken) == [processed / "p0.jpg", quarantine / "bad.jpg"]
    assert all(t.read_text() == "another worker's file" for t in taken)  # not overwritten
    assert not photo.exists() and not bad.exists()
    images, rows = recorded(db_engine)
    [image_path] = [Path(p) for p in images.values()]
    [(row_path, seen)] = rows.values()
    # Each row names the file's real, timestamped place (p0.20261120T...jpg), not the one taken.
    assert image_path.parent == processed and image_path not in taken
    assert image_path.name.startswith("p0.2") and image_path.suffix == ".jpg"
    assert sha256(image_path) == content["p0.jpg"] and content["p0.jpg"] in images
    assert Path(row_path).parent == quarantine and Path(row_path) not in taken and seen == 1
    assert sha256(Path(row_path)) == content["bad.jpg"] and content["bad.jpg"] in rows


def test_a_run_that_dies_between_moving_and_committing_is_repaired_by_the_next_run(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    processed, quarantine = tmp_path / "processed", tmp_path / "quarantine"
    files = photos(inbox, 2)
    bad = corrupt(inbox / "bad.jpg")
    content = {p.name: sha256(p) for p in [*files, bad]}
    batch_id, chunk = inbox_chunk(db_engine, inbox)
    with monkeypatch.context() as patch:  # dies as the chunk's transaction ends: rolled back
        patch.setattr(pipeline_batches.batch_queries, "finish_if_complete", die)
        with pytest.raises(Killed):
            process_chunk(db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions())

    # Moved, not recorded: the items are still pending, so no scan takes anything again.
    assert not any(p.exists() for p in [*files, bad])
    assert recorded(db_engine) == ({}, {})
    assert set(item_states(db_engine).values()) == {"pending"}
    assert journals(inbox) != []
    # Meanwhile the camera reuses a name: a new photo p0.jpg arrives in the inbox.
    newer = write_image(inbox / "p0.jpg", color=(9, 200, 9), exif=make_exif(lat=60.2, lon=24.9))
    assert scan_inbox(db_engine, inbox, detect=False) == []  # pending, and new

    # The task is delivered again (acks_late) or beat re-sends it: it finds the moved files.
    again = process_chunk(db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions())

    assert (again.stored, again.duplicates, again.left_pending) == (2, 0, 0)
    assert sum(again.quarantined.values()) == 1
    images, rows = recorded(db_engine)
    assert images == {content[p.name]: str(processed / p.name) for p in files}
    assert rows == {content["bad.jpg"]: (str(quarantine / "bad.jpg"), 1)}
    assert sorted(p.name for p in processed.iterdir()) == ["p0.jpg", "p1.jpg"]  # moved once
    assert [p.name for p in quarantine.iterdir()] == ["bad.jpg"]
    assert journals(inbox) == []
    assert sha256(newer) != content["p0.jpg"]  # the new photo was left for the next scan
    [(new_batch, _chunks)] = scan_inbox(db_engine, inbox, detect=False)
    run_in_process(db_engine, new_batch, options=IngestOptions())
    images, _rows = recorded(db_engine)
    assert len(images) == 3 and not newer.exists()
    assert all(sha256(Path(path)) == sha for sha, path in images.items())
    for _ in range(2):
        assert scan_inbox(db_engine, inbox, detect=False) == []
    assert len(recorded(db_engine)[0]) == 3


def test_a_journal_left_by_a_run_that_died_after_its_commit_goes_with_the_next_delivery(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, processed = tmp_path / "inbox", tmp_path / "processed"
    [photo] = photos(inbox, 1)
    batch_id, chunk = inbox_chunk(db_engine, inbox)
    with monkeypatch.context() as patch:
        patch.setattr(pipeline_batches, "_discard_journal", die)
        with pytest.raises(Killed):
            process_chunk(db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions())
    assert recorded(db_engine) == ({sha256(processed / "p0.jpg"): str(processed / "p0.jpg")}, {})
    assert not photo.exists() and len(journals(inbox)) == 1
    assert scan_inbox(db_engine, inbox, detect=False) == []  # a hidden file: never taken
    again = process_chunk(db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions())
    assert again.already_done and journals(inbox) == []


def test_a_failed_chunk_records_its_inbox_files_only_once_they_are_in_quarantine(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, quarantine = tmp_path / "inbox", tmp_path / "quarantine"
    files = photos(inbox, 2)
    batch_id, chunk = inbox_chunk(db_engine, inbox)
    with transaction(db_engine) as session:  # three earlier runs were killed mid-chunk
        for _ in range(3):
            batch_queries.bump_attempts(db_session=session, batch_id=batch_id, chunk=chunk)

    def run() -> pipeline_batches.ChunkOutcome:
        return process_chunk(
            db_engine, batch_id=batch_id, chunk=chunk, options=IngestOptions(), max_attempts=3
        )

    with monkeypatch.context() as patch:
        patch.setattr(os, "link", fail_moving("p1.jpg"))
        first = run()
    assert files[1].exists() and [p.name for p in quarantine.iterdir()] == ["p0.jpg"]
    with transaction(db_engine) as session:
        paths = session.scalars(sa.select(Quarantine.path)).all()
    assert paths == [str(quarantine / "p0.jpg")]  # none for p1.jpg, still in the inbox
    assert item_states(db_engine) == {"p0.jpg": "failed", "p1.jpg": "pending"}
    assert (first.quarantined, first.left_pending) == ({"processing_failed": 1}, 1)
    assert scan_inbox(db_engine, inbox, detect=False) == []

    with monkeypatch.context() as patch:  # the next run moves p1.jpg, then dies
        patch.setattr(pipeline_batches.batch_queries, "finish_if_complete", die)
        with pytest.raises(Killed):
            run()
    assert not files[1].exists() and (quarantine / "p1.jpg").exists()
    assert item_states(db_engine)["p1.jpg"] == "pending"

    last = run()  # finds it in quarantine/ and records it there, once
    assert (last.quarantined, last.left_pending) == ({"processing_failed": 1}, 0)
    assert sorted(p.name for p in quarantine.iterdir()) == ["p0.jpg", "p1.jpg"]
    with transaction(db_engine) as session:
        rows = {q.path: q.seen_count for q in session.scalars(sa.select(Quarantine))}
        assert batch_queries.get(db_session=session, batch_id=batch_id).status == "done"
    assert rows == {str(quarantine / f.name): 1 for f in files}
    assert set(item_states(db_engine).values()) == {"failed"}
    assert journals(inbox) == []
    assert scan_inbox(db_engine, inbox, detect=False) == []


class UndecodableDetector:
    """Finds nothing, and cannot decode files named bad*.jpg (their metadata read fine)."""

    model_version = "test-undecodable-1"
    class_names = ("__background__", "bottle")

    def __init__(self) -> None:
        self.metadata: dict[str, object] = {}
        self.seen: list[str] = []

    def detect_paths(self, paths: list[Path], *, batch_size: int = 4) -> list[list[object]]:
        self.seen += [p.name for p in paths]
        if any(p.name.startswith("bad") for p in paths):
            raise ValueError("broken entropy-coded data")
        return [[] for _ in paths]


def test_a_copy_of_a_file_the_detector_cannot_decode_is_refused_with_it(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    good, bad = photos(tmp_path, 2)
    bad = bad.rename(tmp_path / "bad.jpg")
    copy = tmp_path / "bad-copy.jpg"
    shutil.copyfile(bad, copy)
    batch_id = submit(
        db_engine, files=[good, bad, copy], survey="s", source=str(tmp_path), chunk_size=3
    )
    detector = UndecodableDetector()
    outcome = process_chunk(
        db_engine, batch_id=batch_id, chunk=0, options=IngestOptions(), detector=detector
    )
    assert outcome.stored == 1 and outcome.quarantined == {"corrupt": 2}
    assert "bad-copy.jpg" not in detector.seen  # the copy is not decoded a second time
    assert item_states(db_engine) == {
        "p0.jpg": "stored",
        "bad.jpg": "quarantined",
        "bad-copy.jpg": "quarantined",
    }
    images, rows = recorded(db_engine)
    assert set(images) == {sha256(good)}
    assert rows == {sha256(bad): (str(copy), 2)}  # one row per content, seen twice
    with transaction(db_engine) as session:
        messages = session.scalars(sa.select(Quarantine.message)).all()
        assert messages and all("cannot decode" in m for m in messages)
        assert batch_queries.get(db_session=session, batch_id=batch_id).status == "done"


def test_a_name_taken_in_the_instant_before_the_move_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker's file lands on the chosen name between every check and the move."""
    source = write_image(tmp_path / "inbox" / "p0.jpg", color=(1, 2, 3))
    content = sha256(source)
    target = tmp_path / "processed" / "p0.jpg"
    target.parent.mkdir()

    def raced(src: str | Path, dst: str | Path, **kwargs: object) -> None:
        if Path(dst) == target and not target.exists():
            target.write_text("another worker's file")
        REAL_LINK(src, dst)

    monkeypatch.setattr(os, "link", raced)
    moved = pipeline_batches.move_inbox_file(source, target)

    assert target.read_text() == "another worker's file"
    assert moved is not None and moved != target and moved.parent == target.parent
    assert moved.name.startswith("p0.2") and sha256(moved) == content
    assert not source.exists()


@pytest.mark.parametrize("no_link", [errno.EXDEV, errno.EPERM], ids=["other-disk", "no-links"])
def test_inbox_files_move_where_hard_links_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_link: int
) -> None:
    """Across filesystems (EXDEV), or onto one without hard links: copied whole, then named."""
    source = write_image(tmp_path / "inbox" / "p0.jpg", color=(1, 2, 3))
    content = sha256(source)
    target = tmp_path / "processed" / "p0.jpg"
    other = target.with_name("p1.jpg")
    other.parent.mkdir()
    other.write_text("another worker's file")
    linked: list[str] = []

    def link(src: str | Path, dst: str | Path, **kwargs: object) -> None:
        linked.append(Path(src).name)
        if no_link == errno.EPERM or len(linked) == 1:  # EXDEV: only out of the inbox
            raise OSError(no_link, os.strerror(no_link), str(src))
        REAL_LINK(src, dst)

    monkeypatch.setattr(os, "link", link)
    assert pipeline_batches.move_inbox_file(source, target) == target
    assert sha256(target) == content and not source.exists()
    assert linked[0] == "p0.jpg" and linked[1].endswith(".part")
    assert sorted(p.name for p in target.parent.iterdir()) == ["p0.jpg", "p1.jpg"]  # no .part
    # and never over a file that is there
    again = write_image(tmp_path / "inbox" / "p1.jpg", color=(4, 5, 6))
    moved = pipeline_batches.move_inbox_file(again, other)
    assert other.read_text() == "another worker's file"
    assert moved is not None and moved.name.startswith("p1.2") and not again.exists()


def test_a_move_cut_off_between_its_two_names_is_finished_by_the_next(tmp_path: Path) -> None:
    """A worker killed after linking the file into processed/ and before unlinking it from the
    inbox: the next move finds both names on one file and only removes the inbox's."""
    source = write_image(tmp_path / "inbox" / "p0.jpg", color=(1, 2, 3))
    target = tmp_path / "processed" / "p0.jpg"
    target.parent.mkdir()
    os.link(source, target)

    assert pipeline_batches.move_inbox_file(source, target) == target
    assert not source.exists() and [p.name for p in target.parent.iterdir()] == ["p0.jpg"]
