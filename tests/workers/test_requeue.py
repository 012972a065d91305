"""Beat's requeue against a real Redis (no workers): a healthy backlog stays as it is, chunks lost
with a broker restart are sent again at once; the requeue and heartbeat settings agree."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pydantic
import pytest
import sqlalchemy as sa

from db.engine import transaction
from db.schema import Batch, BatchItem
from pipeline import queue
from pipeline.batches import requeue_stale, submit
from pipeline.settings import get_settings
from tests.helpers import make_exif, write_image
from tests.workers.services import RedisServer
from workers import tasks
from workers.app import create_app


def test_requeue_waits_for_a_backlog_and_recovers_a_broker_restart(
    db_engine: sa.Engine,
    private_redis: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private_redis.restart(down_s=0.2)  # an empty broker, whatever earlier tests left
    monkeypatch.setenv("WASTEMAP_BROKER_URL", private_redis.url)
    celery = create_app()  # configured from the environment above when first used
    client = queue.client(private_redis.url)
    assert tasks.queue_length(celery=celery) == 0  # no queue declared yet: nothing waits

    files = [
        write_image(tmp_path / f"p{i}.jpg", exif=make_exif(lat=60.17, lon=24.94)) for i in range(4)
    ]
    batch_id = submit(db_engine, files=files, survey="s", source="x", chunk_size=2, detect=False)
    for chunk in (0, 1):  # what `wastemap ingest --queue` does
        queue.send_chunk(client, batch_id, chunk)
    assert tasks.queue_length(celery=celery) == 2

    def requeue() -> list[tuple[str, int]]:
        return requeue_stale(
            db_engine,
            older_than_s=300,
            send=lambda b, c: queue.send_chunk(client, b, c),
            queue_length=lambda: tasks.queue_length(celery=celery),
        )

    now = dt.datetime.now(dt.UTC)
    with transaction(db_engine) as session:  # queued 10 minutes ago, behind a long backlog
        session.execute(sa.update(BatchItem).values(updated_at=now - dt.timedelta(minutes=10)))
        session.execute(sa.update(Batch).values(created_at=now - dt.timedelta(minutes=30)))
    assert requeue() == []
    assert tasks.queue_length(celery=celery) == 2  # no copies piled up

    private_redis.restart(down_s=0.2)  # without persistence: both tasks are lost
    assert tasks.queue_length(celery=celery) == 0
    assert requeue() == [(batch_id, 0), (batch_id, 1)]
    assert tasks.queue_length(celery=celery) == 2
    assert requeue() == []  # just sent


def test_queue_length_is_none_when_the_broker_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.workers.services import free_port

    monkeypatch.setenv("WASTEMAP_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    celery = create_app()
    celery.conf.broker_connection_timeout = 1
    celery.conf.broker_connection_max_retries = 0
    assert tasks.queue_length(celery=celery) is None


def test_requeue_after_must_exceed_two_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = get_settings()
    assert defaults.requeue_after_s > defaults.task_soft_time_limit_s
    assert defaults.requeue_after_s >= 2 * defaults.heartbeat_s
    monkeypatch.setenv("WASTEMAP_REQUEUE_AFTER_S", "20")
    monkeypatch.setenv("WASTEMAP_HEARTBEAT_S", "15")
    with pytest.raises(pydantic.ValidationError) as error:
        get_settings()
    message = str(error.value)
    assert "WASTEMAP_REQUEUE_AFTER_S (20 s)" in message
    assert "WASTEMAP_HEARTBEAT_S (15 s)" in message
    monkeypatch.setenv("WASTEMAP_REQUEUE_AFTER_S", "30")
    assert get_settings().requeue_after_s == 30
