"""The Celery app: ``celery -A workers.app worker`` (or ``wastemap worker``) and ``beat``.

Configured from the ``WASTEMAP_*`` settings of the process that starts it. Crash safety:
``acks_late`` with ``reject_on_worker_lost`` (a task whose worker dies is delivered again),
prefetch 1 (a worker holds one chunk at a time), and a beat job that re-sends chunks whose task
was lost altogether (a broker restart without persistence). Re-running a chunk is always safe.
"""

from __future__ import annotations

from datetime import timedelta

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from pipeline.queue import QUEUE, REQUEUE_STALE, SCAN_INBOX
from pipeline.settings import get_settings


def create_app() -> Celery:
    settings = get_settings()
    broker = settings.broker_url or "redis://127.0.0.1:6379/0"
    app = Celery(
        "wastemap",
        broker=broker,
        backend=settings.result_backend or broker,
        include=["workers.tasks"],
    )
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_expires=timedelta(days=1),
        task_ignore_result=True,  # progress lives in the database, not in a result backend
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=200,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        worker_cancel_long_running_tasks_on_connection_loss=False,
        timezone="UTC",
    )
    schedule = {
        "requeue-stale-chunks": {
            "task": REQUEUE_STALE,
            "schedule": max(settings.requeue_after_s / 2, 1.0),
        }
    }
    if settings.inbox is not None:
        schedule["scan-inbox"] = {"task": SCAN_INBOX, "schedule": settings.inbox_scan_seconds}
    app.conf.beat_schedule = schedule
    return app


app = create_app()


@worker_process_init.connect
def _fresh_process(**_kwargs: object) -> None:
    """A forked worker process must not reuse its parent's pooled database connections."""
    from workers import tasks

    tasks.reset_process_state()


@worker_process_shutdown.connect
def _process_shutdown(**_kwargs: object) -> None:
    from workers import tasks

    tasks.reset_process_state()
