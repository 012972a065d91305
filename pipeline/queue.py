"""Sending work to Celery workers by task name (the pipeline never imports ``workers``).

The task and queue names are defined here, once; ``workers/tasks.py`` registers its tasks under
them. Chunk tasks go to :data:`QUEUE`, beat's periodic tasks (inbox scans, re-sending lost chunks)
to :data:`MAINTENANCE_QUEUE`, so that the chunk queue's length counts chunks only (beat re-sends
lost chunks at once when it is empty: :func:`pipeline.batches.requeue_stale`). Every worker
consumes both, :data:`WORKER_QUEUES`.
"""

from __future__ import annotations

from celery import Celery

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


def send_chunk(app: Celery, batch_id: str, chunk: int) -> None:
    app.send_task(PROCESS_CHUNK, args=[batch_id, chunk], queue=QUEUE)
