"""Sending work to Celery workers by task name (the pipeline never imports ``workers``).

The task names are defined here, once; ``workers/tasks.py`` registers its tasks under them.
"""

from __future__ import annotations

from celery import Celery

PROCESS_CHUNK = "wastemap.process_chunk"
SCAN_INBOX = "wastemap.scan_inbox"
REQUEUE_STALE = "wastemap.requeue_stale_chunks"
QUEUE = "wastemap"


def client(broker_url: str) -> Celery:
    """A Celery app that only sends tasks to the broker."""
    app = Celery("wastemap-client", broker=broker_url)
    app.conf.update(task_default_queue=QUEUE, broker_connection_retry_on_startup=True)
    return app


def send_chunk(app: Celery, batch_id: str, chunk: int) -> None:
    app.send_task(PROCESS_CHUNK, args=[batch_id, chunk], queue=QUEUE)
