"""Sending work to Celery workers by task name (the pipeline never imports ``workers``).

The task and queue names are defined here, once; ``workers/tasks.py`` registers its tasks under
them. Chunk tasks go to :data:`QUEUE`, beat's periodic tasks (inbox scans, re-sending lost chunks)
to :data:`MAINTENANCE_QUEUE`, so that the chunk queue's length counts chunks only (beat re-sends
lost chunks at once when it is empty: :func:`pipeline.batches.requeue_stale`). Every worker
consumes both, :data:`WORKER_QUEUES`.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery
from kombu.exceptions import OperationalError
from kombu.utils.url import maybe_sanitize_url

from pipeline.errors import BrokerUnavailableError

PROCESS_CHUNK = "wastemap.process_chunk"
SCAN_INBOX = "wastemap.scan_inbox"
REQUEUE_STALE = "wastemap.requeue_stale_chunks"
QUEUE = "wastemap"
MAINTENANCE_QUEUE = "wastemap.maintenance"
#: The queues every worker consumes, in ``celery worker --queues`` form.
WORKER_QUEUES = f"{QUEUE},{MAINTENANCE_QUEUE}"


def client(broker_url: str) -> Celery:
    """A Celery app that only sends tasks to the broker."""
    app = Celery("wastemap-client", broker=broker_url)
    app.conf.update(task_default_queue=QUEUE, broker_connection_retry_on_startup=True)
    return app


def connected_client(broker_url: str) -> Celery:
    """:func:`client`, once the broker has answered (within a few seconds); raises
    :class:`~pipeline.errors.BrokerUnavailableError` naming it otherwise, so that nothing is
    recorded for the workers while nobody can be told of it."""
    app = client(broker_url)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=1, timeout=5)
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailableError(
            f"cannot reach the broker at {maybe_sanitize_url(broker_url)} ({exc}): start it "
            "(e.g. `redis-server`) or fix WASTEMAP_BROKER_URL"
        ) from exc
    return app


def send_chunk(app: Celery, batch_id: str, chunk: int) -> None:
    app.send_task(PROCESS_CHUNK, args=[batch_id, chunk], queue=QUEUE)


def send_chunks(
    app: Celery,
    batch_id: str,
    chunks: list[int],
    *,
    send: Callable[[Celery, str, int], None] = send_chunk,
) -> None:
    """Send ``chunks`` of a recorded batch; if the broker goes away part-way, raise
    :class:`~pipeline.errors.BrokerUnavailableError` saying how to send the rest (they stay
    pending: ``wastemap batches resume``, or beat re-sends them after WASTEMAP_REQUEUE_AFTER_S)."""
    for sent, chunk in enumerate(chunks):
        try:
            send(app, batch_id, chunk)
        except (OperationalError, OSError) as exc:
            raise BrokerUnavailableError(
                f"batch {batch_id} is recorded, but the broker stopped answering after "
                f"{sent} of its {len(chunks)} chunks were sent ({exc}); nothing is lost: once "
                f"the broker is back, `wastemap batches resume {batch_id}` sends the rest (beat "
                "also re-sends them after WASTEMAP_REQUEUE_AFTER_S)",
                batch_id=batch_id,
            ) from exc
