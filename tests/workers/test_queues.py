"""Beat's tasks wait in a queue of their own, so the chunk queue's length, which tells beat whether
queued chunks were lost, counts chunk tasks only; every way of starting a worker, an older command
line included, consumes both queues. Real Redis, real PostgreSQL, real beat and worker processes."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from db.engine import transaction
from db.schema import Batch, BatchItem
from pipeline import queue
from pipeline.batches import requeue_stale, submit
from tests.helpers import make_exif, write_image
from tests.workers.services import CeleryProcess, RedisServer, wait_for
from workers import tasks
from workers.app import create_app

TAKEN = dt.datetime(2024, 6, 1, 12, 0, 0)


def waiting_tasks(broker: redis.Redis, name: str) -> list[str]:
    """The task names of the messages waiting in queue ``name``."""
    return [json.loads(m)["headers"]["task"] for m in broker.lrange(name, 0, -1)]


def lost_batch(engine: sa.Engine, tmp_path: Path, *, files: int = 2) -> str:
    """A batch of one chunk, sent 10 minutes ago and never run since (its task was lost), in a
    batch 30 minutes old: while chunk tasks wait in the queue, beat would hold it back."""
    paths = [
        write_image(
            tmp_path / "photos" / f"p{i}.jpg",
            color=(10 * i, 100, 200),
            exif=make_exif(lat=60.17 + i * 1e-4, lon=24.94, taken=TAKEN),
        )
        for i in range(files)
    ]
    batch_id = submit(engine, files=paths, survey="s", source="x", chunk_size=files, detect=False)
    now = dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        session.execute(sa.update(BatchItem).values(updated_at=now - dt.timedelta(minutes=10)))
        session.execute(sa.update(Batch).values(created_at=now - dt.timedelta(minutes=30)))
    return batch_id


def item_states(engine: sa.Engine, batch_id: str) -> list[str]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                sa.select(BatchItem.state).where(BatchItem.batch_id == batch_id).order_by("id")
            )
        )


def test_beat_messages_are_not_counted_as_chunks_and_lost_chunks_go_at_once(
    services_env: dict[str, str],
    pg_engine: sa.Engine,
    private_redis: RedisServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    """Beat runs (no worker): its scan and requeue messages wait in the broker. A chunk lost with
    the broker (sent 10 minutes ago in a 30-minute-old batch) is re-sent at once all the same."""
    broker = redis.Redis.from_url(private_redis.url)
    beat = CeleryProcess("beat", services_env, tmp_path, "beat").start()
    processes.append(beat)

    def beat_messages() -> list[str]:  # wherever they are
        return waiting_tasks(broker, queue.MAINTENANCE_QUEUE) + waiting_tasks(broker, queue.QUEUE)

    wait_for(
        lambda: (
            beat_messages().count(queue.REQUEUE_STALE) >= 2 and queue.SCAN_INBOX in beat_messages()
        ),
        timeout_s=90,
        what=f"beat's tasks in the broker; beat's log:\n{beat.log()}",
    )
    beat.stop()  # its messages stay where they are
    waiting = len(beat_messages())
    batch_id = lost_batch(pg_engine, tmp_path)
    celery = create_app()
    client = queue.client(private_redis.url)
    resent = requeue_stale(
        pg_engine,
        older_than_s=300,
        send=lambda b, c: queue.send_chunk(client, b, c),
        queue_length=lambda: tasks.queue_length(celery=celery),
    )
    assert resent == [(batch_id, 0)]  # at once, not after waiting half the batch's age
    assert tasks.queue_length(celery=celery) == 1  # that chunk; beat's messages are not chunks
    assert waiting_tasks(broker, queue.QUEUE) == [queue.PROCESS_CHUNK]
    assert len(waiting_tasks(broker, queue.MAINTENANCE_QUEUE)) == waiting


def test_beat_tasks_are_routed_to_the_maintenance_queue(
    services_env: dict[str, str], private_redis: RedisServer
) -> None:
    """By their names (as beat sends them), whoever sends them; chunks to the chunk queue."""
    broker = redis.Redis.from_url(private_redis.url)
    celery = create_app()
    celery.send_task(queue.SCAN_INBOX)
    celery.send_task(queue.REQUEUE_STALE)
    celery.send_task(queue.PROCESS_CHUNK, args=["b", 0])
    assert sorted(waiting_tasks(broker, queue.MAINTENANCE_QUEUE)) == sorted(
        [queue.SCAN_INBOX, queue.REQUEUE_STALE]
    )
    assert waiting_tasks(broker, queue.QUEUE) == [queue.PROCESS_CHUNK]
    assert tasks.queue_length(celery=celery) == 1


def _celery(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "celery"), "-A", "workers.app", "worker", *args]


WORKER_COMMANDS: dict[str, Callable[[], list[str]]] = {
    # what docker-compose.yml and the README run
    "wastemap worker": lambda: [
        str(Path(sys.executable).parent / "wastemap"),
        "worker",
        "--concurrency",
        "1",
    ],
    # what `wastemap worker` ran before beat's tasks had a queue of their own
    "old celery -Q wastemap": lambda: _celery(
        "--concurrency", "1", "--queues", "wastemap", "--prefetch-multiplier", "1", "-O", "fair"
    ),
    # Celery's own default: every queue the app defines
    "celery without --queues": lambda: _celery("--concurrency", "1"),
}


@pytest.mark.parametrize("command", list(WORKER_COMMANDS))
def test_every_worker_command_line_runs_beats_tasks_and_chunks(
    command: str,
    services_env: dict[str, str],
    pg_engine: sa.Engine,
    private_redis: RedisServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    """Beat's requeue task waits in its queue; the worker runs it, and the chunk it re-sends."""
    broker = redis.Redis.from_url(private_redis.url)
    batch_id = lost_batch(pg_engine, tmp_path)
    create_app().send_task(queue.REQUEUE_STALE)  # as beat sends it
    assert waiting_tasks(broker, queue.MAINTENANCE_QUEUE) == [queue.REQUEUE_STALE]

    worker = CeleryProcess("worker", services_env, tmp_path, "worker")
    worker.cmd = WORKER_COMMANDS[command]()
    processes.append(worker.start())
    wait_for(
        lambda: item_states(pg_engine, batch_id) == ["stored", "stored"],
        timeout_s=180,
        what=f"the lost chunk to be re-sent and stored; the worker's log:\n{worker.log()}",
    )
    assert broker.llen(queue.MAINTENANCE_QUEUE) == 0
    log = worker.log()
    assert f"{queue.MAINTENANCE_QUEUE} " in log  # the banner lists the queues it consumes
    old = command.startswith("old")
    assert ("consumes that one too" in log) == old, log  # an old command line is told


def test_a_worker_told_to_leave_beats_tasks_to_others_is_left_so(
    services_env: dict[str, str],
    pg_engine: sa.Engine,
    private_redis: RedisServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    """``--exclude-queues wastemap.maintenance`` (a chunk-only worker beside one that runs beat's
    tasks) is an operator's choice: it runs chunks and leaves beat's task waiting."""
    broker = redis.Redis.from_url(private_redis.url)
    batch_id = lost_batch(pg_engine, tmp_path)
    celery = create_app()
    celery.send_task(queue.REQUEUE_STALE)
    celery.send_task(queue.PROCESS_CHUNK, args=[batch_id, 0])
    worker = CeleryProcess("worker", services_env, tmp_path, "worker")
    worker.cmd = _celery("--concurrency", "1", "--exclude-queues", queue.MAINTENANCE_QUEUE)
    processes.append(worker.start())
    wait_for(
        lambda: item_states(pg_engine, batch_id) == ["stored", "stored"],
        timeout_s=180,
        what=f"the chunk to be stored; the worker's log:\n{worker.log()}",
    )
    assert waiting_tasks(broker, queue.MAINTENANCE_QUEUE) == [queue.REQUEUE_STALE]
    log = worker.log()
    assert "consumes that one too" not in log, log
    assert f"{queue.MAINTENANCE_QUEUE} " not in log  # not among the queues of its banner
