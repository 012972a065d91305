"""Queries on batches and their items."""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.schema import Batch, BatchItem, Survey, utcnow

#: Item states; ``pending`` is the only one that is not final.
ITEM_STATES = ("pending", "stored", "duplicate", "quarantined", "failed")


def create(
    *,
    db_session: Session,
    survey_id: int,
    source: str,
    paths: Sequence[str],
    chunk_size: int,
    kind: str = "folder",
    model_version: str | None = None,
    track_path: str | None = None,
    detect: bool = True,
) -> Batch:
    """A new batch with one pending item per path, numbered into chunks of ``chunk_size``."""
    batch = Batch(
        id=uuid.uuid4().hex,
        survey_id=survey_id,
        source=source,
        kind=kind,
        status="queued",
        model_version=model_version,
        track_path=track_path,
        detect=detect,
        total=len(paths),
    )
    db_session.add(batch)
    db_session.flush()
    if paths:
        db_session.execute(
            sa.insert(BatchItem),
            [
                {
                    "batch_id": batch.id,
                    "path": p,
                    "chunk": i // chunk_size,
                    "state": "pending",
                    "attempts": 0,
                    "updated_at": utcnow(),
                }
                for i, p in enumerate(paths)
            ],
        )
    return batch


def get(*, db_session: Session, batch_id: str) -> Batch | None:
    return db_session.get(Batch, batch_id)


def chunk_numbers(*, db_session: Session, batch_id: str, pending_only: bool = False) -> list[int]:
    stmt = sa.select(BatchItem.chunk).where(BatchItem.batch_id == batch_id).distinct()
    if pending_only:
        stmt = stmt.where(BatchItem.state == "pending")
    return sorted(db_session.scalars(stmt))


def chunk_sizes(*, db_session: Session, batch_id: str) -> dict[int, int]:
    stmt = (
        sa.select(BatchItem.chunk, sa.func.count())
        .where(BatchItem.batch_id == batch_id)
        .group_by(BatchItem.chunk)
    )
    return {int(c): int(n) for c, n in db_session.execute(stmt)}


def chunk_items(*, db_session: Session, batch_id: str, chunk: int) -> list[BatchItem]:
    stmt = (
        sa.select(BatchItem)
        .where(BatchItem.batch_id == batch_id, BatchItem.chunk == chunk)
        .order_by(BatchItem.id)
    )
    return list(db_session.scalars(stmt))


def set_item_states(*, db_session: Session, updates: Sequence[dict[str, Any]]) -> None:
    """Each update: ``id``, ``state`` and optionally ``reason``, ``image_id``."""
    now = utcnow()
    for update in updates:
        values = {k: v for k, v in update.items() if k != "id"}
        db_session.execute(
            sa.update(BatchItem)
            .where(BatchItem.id == update["id"])
            .values(updated_at=now, **values)
        )


def bump_attempts(*, db_session: Session, batch_id: str, chunk: int) -> int:
    """Count one more attempt at a chunk's pending items; returns the highest attempt count."""
    db_session.execute(
        sa.update(BatchItem)
        .where(
            BatchItem.batch_id == batch_id, BatchItem.chunk == chunk, BatchItem.state == "pending"
        )
        .values(attempts=BatchItem.attempts + 1, updated_at=utcnow())
    )
    return int(
        db_session.scalar(
            sa.select(sa.func.max(BatchItem.attempts)).where(
                BatchItem.batch_id == batch_id, BatchItem.chunk == chunk
            )
        )
        or 0
    )


def progress(*, db_session: Session, batch_id: str) -> dict[str, int]:
    """Item counts by state (every state present, zeros included) and ``total``."""
    counts = dict.fromkeys(ITEM_STATES, 0)
    stmt = (
        sa.select(BatchItem.state, sa.func.count())
        .where(BatchItem.batch_id == batch_id)
        .group_by(BatchItem.state)
    )
    for state, n in db_session.execute(stmt):
        counts[state] = int(n)
    counts["total"] = sum(counts[s] for s in ITEM_STATES)
    return counts


def finish_if_complete(*, db_session: Session, batch_id: str) -> bool:
    """Mark the batch done when no item is pending; True if it is (now or before) finished."""
    counts = progress(db_session=db_session, batch_id=batch_id)
    batch = get(db_session=db_session, batch_id=batch_id)
    if batch is None:
        return True
    if counts["pending"] == 0:
        if batch.status not in ("done", "failed"):
            batch.status = "done"
            batch.finished_at = utcnow()
        return True
    if batch.status == "queued":
        batch.status = "running"
    return False


def list_recent(*, db_session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Recent batches with their survey name and item counts by state."""
    counts = (
        sa.select(
            BatchItem.batch_id,
            *[
                sa.func.sum(sa.case((BatchItem.state == s, 1), else_=0)).label(s)
                for s in ITEM_STATES
            ],
        )
        .group_by(BatchItem.batch_id)
        .subquery()
    )
    stmt = (
        sa.select(
            Batch.id,
            Survey.name.label("survey"),
            Batch.source,
            Batch.kind,
            Batch.status,
            Batch.total,
            Batch.created_at,
            Batch.finished_at,
            *[sa.func.coalesce(counts.c[s], 0).label(s) for s in ITEM_STATES],
        )
        .join(Survey, Survey.id == Batch.survey_id)
        .outerjoin(counts, counts.c.batch_id == Batch.id)
        .order_by(Batch.created_at.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in db_session.execute(stmt)]


class StaleChunk(NamedTuple):
    """A chunk with pending items that nobody has touched for a while."""

    batch_id: str
    chunk: int
    touched_at: dt.datetime  #: last send, claim or heartbeat of its pending items
    batch_created_at: dt.datetime  #: when the batch (and its chunks) was first sent


def stale_chunks(*, db_session: Session, older_than: Any) -> list[StaleChunk]:
    """Chunks with pending items that nobody has touched since ``older_than``: not running (a
    running chunk touches its items every heartbeat), so waiting in the queue or lost (a broker
    restart without persistence, a killed worker)."""
    touched = sa.func.max(BatchItem.updated_at)
    stmt = (
        sa.select(BatchItem.batch_id, BatchItem.chunk, touched, Batch.created_at)
        .join(Batch, Batch.id == BatchItem.batch_id)
        .where(BatchItem.state == "pending")
        .group_by(BatchItem.batch_id, BatchItem.chunk, Batch.created_at)
        .having(touched < older_than)
        .order_by(BatchItem.batch_id, BatchItem.chunk)
    )
    return [StaleChunk(b, int(c), t, created) for b, c, t, created in db_session.execute(stmt)]


def touch_chunk(*, db_session: Session, batch_id: str, chunk: int) -> None:
    """Mark a chunk's pending items as just (re)queued or still running (a heartbeat), so they
    are not seen as stale."""
    db_session.execute(
        sa.update(BatchItem)
        .where(
            BatchItem.batch_id == batch_id, BatchItem.chunk == chunk, BatchItem.state == "pending"
        )
        .values(updated_at=utcnow())
    )


def _lock_keys(batch_id: str, chunk: int) -> tuple[int, int]:
    """The two int4 keys of a chunk's advisory lock: a signed CRC-32 of the batch id, the chunk.
    Two batches whose ids share a CRC-32 only make one chunk wait for the other's run to end."""
    key = zlib.crc32(batch_id.encode())
    return (key - 2**32 if key >= 2**31 else key), int(chunk)


def try_lock_chunk(*, connection: sa.Connection, batch_id: str, chunk: int) -> bool:
    """Take the lock that says "this chunk is running here", or False when a run elsewhere holds
    it. On PostgreSQL a session advisory lock: held until :func:`unlock_chunk` or until
    ``connection`` closes, so a killed worker's lock goes with its connection. Always True on
    SQLite (the embedded mode runs its chunks one at a time in one process)."""
    if connection.dialect.name != "postgresql":
        return True
    key, number = _lock_keys(batch_id, chunk)
    return bool(
        connection.scalar(
            sa.select(
                sa.func.pg_try_advisory_lock(
                    sa.cast(sa.literal(key), sa.Integer), sa.cast(sa.literal(number), sa.Integer)
                )
            )
        )
    )


def unlock_chunk(*, connection: sa.Connection, batch_id: str, chunk: int) -> None:
    """Release the lock taken by :func:`try_lock_chunk` on the same ``connection``."""
    if connection.dialect.name != "postgresql":
        return
    key, number = _lock_keys(batch_id, chunk)
    connection.execute(
        sa.select(
            sa.func.pg_advisory_unlock(
                sa.cast(sa.literal(key), sa.Integer), sa.cast(sa.literal(number), sa.Integer)
            )
        )
    )


def pending_paths(*, db_session: Session, paths: Sequence[str]) -> set[str]:
    """Which of ``paths`` are pending in some batch (an inbox scan must not take them again)."""
    found: set[str] = set()
    wanted = list(paths)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            db_session.scalars(
                sa.select(BatchItem.path).where(
                    BatchItem.path.in_(chunk), BatchItem.state == "pending"
                )
            )
        )
    return found
