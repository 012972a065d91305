"""Batches without workers: chunk bookkeeping, bounded attempts, lost-chunk requeue, the inbox
(each test runs on PostGIS and on SQLite)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from db import batches as batch_queries
from db.engine import transaction
from db.schema import BatchItem, Image, Quarantine
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
