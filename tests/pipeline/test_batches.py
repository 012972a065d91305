"""Batches without workers: chunk bookkeeping, bounded attempts, lost-chunk requeue, the inbox
(each test runs on PostGIS and on SQLite)."""

from __future__ import annotations

import datetime as dt
import threading
import time
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
