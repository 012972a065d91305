"""A task that gives up on a chunk marks it failed under the chunk's lock, as a run stores it: a
chunk is never marked failed while another copy of its task is storing it. Real PostgreSQL (its
advisory locks), real Redis and a real worker process."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from db import batches as batch_queries
from db.engine import transaction
from db.schema import Batch, BatchItem, Detection, Quarantine
from pipeline import queue
from pipeline.batches import mark_chunk_failed, process_chunk, submit
from pipeline.ingest import IngestOptions
from tests.helpers import make_exif, write_image
from tests.workers.services import CeleryProcess, RedisServer, wait_for

TAKEN = dt.datetime(2024, 6, 1, 12, 0, 0)


class GateDetector:
    """Finds one bottle per photo, once the test opens the gate (the run holds the chunk's lock
    meanwhile)."""

    model_version = "test-gate-1"
    class_names: Sequence[str] = ("__background__", "bottle")

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}
        self.detecting = threading.Event()
        self.gate = threading.Event()

    def detect_paths(self, paths: Sequence[Path], *, batch_size: int = 4) -> list[list[Any]]:
        self.detecting.set()
        if not self.gate.wait(120):
            raise TimeoutError("the test never opened the gate")
        bottle = SimpleNamespace(box=(1, 2, 30, 40), label="bottle", category="plastic", score=0.9)
        return [[bottle] for _ in paths]


def photos(folder: Path, count: int) -> list[Path]:
    return [
        write_image(
            folder / f"p{i}.jpg",
            color=(10 * i, 90, 200),
            exif=make_exif(lat=60.17 + i * 1e-4, lon=24.94, taken=TAKEN),
        )
        for i in range(count)
    ]


def state(engine: sa.Engine, batch_id: str) -> dict[str, Any]:
    with transaction(engine) as session:
        return {
            "items": list(
                session.scalars(
                    sa.select(BatchItem.state).where(BatchItem.batch_id == batch_id).order_by("id")
                )
            ),
            "quarantine": sorted(session.scalars(sa.select(Quarantine.reason))),
            "detections": session.scalar(sa.select(sa.func.count()).select_from(Detection)),
            "batch": session.scalar(sa.select(Batch.status).where(Batch.id == batch_id)),
        }


def test_giving_up_leaves_the_chunk_to_the_copy_that_is_storing_it(
    pg_engine: sa.Engine, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    files = photos(inbox, 2)
    batch_id = submit(
        pg_engine, files=files, survey="s", source=str(inbox), kind="inbox", chunk_size=2
    )
    detector = GateDetector()
    with ThreadPoolExecutor(1) as pool:  # a late duplicate copy of the chunk's task, running
        run = pool.submit(
            process_chunk,
            pg_engine,
            batch_id=batch_id,
            chunk=0,
            options=IngestOptions(),
            detector=detector,
        )
        try:
            assert detector.detecting.wait(60), run.exception(0)
            # the first copy gives up after its retries while the other one works
            marked = mark_chunk_failed(
                pg_engine, batch_id=batch_id, chunk=0, message="OperationalError: database gone"
            )
            assert marked is False
            assert state(pg_engine, batch_id) == {
                "items": ["pending", "pending"],
                "quarantine": [],
                "detections": 0,
                "batch": "queued",
            }
            assert all(f.exists() for f in files)  # not moved to quarantine/
        finally:
            detector.gate.set()
        outcome = run.result(120)
    assert (outcome.stored, outcome.detections) == (2, 2)
    stored = {"items": ["stored", "stored"], "quarantine": [], "detections": 2, "batch": "done"}
    assert state(pg_engine, batch_id) == stored
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["p0.jpg", "p1.jpg"]
    assert not (tmp_path / "quarantine").exists()
    # once the run is over the lock is free: nothing is left to fail, nothing stored is lost
    assert mark_chunk_failed(pg_engine, batch_id=batch_id, chunk=0, message="late") is True
    assert state(pg_engine, batch_id) == stored


def test_mark_chunk_failed_respects_a_lock_held_in_another_connection(
    pg_engine: sa.Engine, tmp_path: Path
) -> None:
    """Another worker's session holds it: nothing is marked (and the call does not block)."""
    batch_id = submit(pg_engine, files=photos(tmp_path, 2), survey="s", source="x", chunk_size=2)
    with pg_engine.connect() as other:
        assert batch_queries.try_lock_chunk(connection=other, batch_id=batch_id, chunk=0)
        other.commit()
        assert mark_chunk_failed(pg_engine, batch_id=batch_id, chunk=0, message="boom") is False
        assert state(pg_engine, batch_id)["items"] == ["pending", "pending"]
        batch_queries.unlock_chunk(connection=other, batch_id=batch_id, chunk=0)
        other.commit()
    assert mark_chunk_failed(pg_engine, batch_id=batch_id, chunk=0, message="boom") is True
    after = state(pg_engine, batch_id)
    assert after["items"] == ["failed", "failed"]
    assert after["quarantine"] == ["processing_failed", "processing_failed"]
    assert after["batch"] == "done"


def test_a_worker_that_gives_up_respects_the_lock_of_a_running_copy(
    services_env: dict[str, str],
    pg_engine: sa.Engine,
    private_redis: RedisServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    """The real task: its detector cannot load, no retries are allowed, so it gives up at once;
    while another session holds the chunk's lock it leaves the chunk pending, after it fails it."""
    env = {
        **services_env,
        "WASTEMAP_TASK_MAX_RETRIES": "0",
        "WASTEMAP_MODEL_PATH": str(tmp_path / "missing.pt"),
    }
    batch_id = submit(pg_engine, files=photos(tmp_path, 2), survey="s", source="x", chunk_size=2)
    worker = CeleryProcess("worker", env, tmp_path, "worker").start()
    processes.append(worker)
    client = queue.client(private_redis.url)

    def finished(tasks: int) -> bool:
        return worker.log().count(f"Task {queue.PROCESS_CHUNK}[") >= 2 * tasks  # received, ended

    with pg_engine.connect() as other:  # the copy that is storing the chunk
        assert batch_queries.try_lock_chunk(connection=other, batch_id=batch_id, chunk=0)
        other.commit()
        queue.send_chunk(client, batch_id, 0)
        wait_for(lambda: finished(1), timeout_s=180, what=f"the task to end:\n{worker.log()}")
        assert "'failed': False, 'already_running': True" in worker.log()
        assert state(pg_engine, batch_id) == {
            "items": ["pending", "pending"],
            "quarantine": [],
            "detections": 0,
            "batch": "queued",
        }
        batch_queries.unlock_chunk(connection=other, batch_id=batch_id, chunk=0)
        other.commit()

    queue.send_chunk(client, batch_id, 0)  # nobody else runs it now: it ends as failed
    wait_for(
        lambda: state(pg_engine, batch_id)["items"] == ["failed", "failed"],
        timeout_s=120,
        what=f"the chunk to fail:\n{worker.log()}",
    )
    after = state(pg_engine, batch_id)
    assert after["quarantine"] == ["processing_failed", "processing_failed"]
    assert after["batch"] == "done"
