"""The Celery app: ``celery -A workers.app worker`` (or ``wastemap worker``) and ``beat``.

Configured from the ``WASTEMAP_*`` settings of the process that starts it, when Celery first needs
its configuration (worker or beat start-up, the first task sent), never at import time: the settings
are a lazy default (:meth:`celery.Celery.add_defaults`), so importing this module reads nothing.
Crash safety: ``acks_late`` with ``reject_on_worker_lost`` (a task whose worker dies is delivered
again), prefetch 1 (a worker holds one chunk at a time), and a beat job that re-sends chunks whose
task was lost altogether (a broker restart without persistence). Re-running a chunk is always safe.

Queues: chunk tasks go to ``wastemap``, beat's tasks to ``wastemap.maintenance`` (so the length of
the chunk queue, which tells beat whether queued chunks were lost, counts chunks only); every worker
consumes both (:data:`pipeline.queue.WORKER_QUEUES`), a worker started with an older command line
that names only ``wastemap`` included (:class:`ConsumeMaintenanceQueue`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Celery, bootsteps
from celery.signals import celeryd_init, worker_process_init, worker_process_shutdown
from celery.utils.text import str_to_list
from kombu import Exchange, Queue

from pipeline.queue import MAINTENANCE_QUEUE, QUEUE, REQUEUE_STALE, SCAN_INBOX, WORKER_QUEUES
from pipeline.settings import get_settings

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
log = logging.getLogger(__name__)


def config_from_settings() -> dict[str, Any]:
    """The Celery settings that come from ``WASTEMAP_*``, read now."""
    settings = get_settings()
    broker = settings.broker_url or DEFAULT_BROKER_URL
    schedule: dict[str, dict[str, Any]] = {
        "requeue-stale-chunks": {
            "task": REQUEUE_STALE,
            "schedule": max(settings.requeue_after_s / 2, 1.0),
        }
    }
    if settings.inbox is not None:
        schedule["scan-inbox"] = {"task": SCAN_INBOX, "schedule": settings.inbox_scan_seconds}
    return {
        "broker_url": broker,
        "result_backend": settings.result_backend or broker,
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout_s},
        # the chunk task's limit; the beat tasks set their own in workers.tasks
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        "beat_schedule": schedule,
    }


class RecordPoolSize(bootsteps.Step):
    """Tell :mod:`workers.tasks` how many processes the worker's pool runs, before it forks them,
    so each process gives torch its share of the cores (:func:`workers.tasks.detector_threads`).

    Runs after the pool step's set-up, where ``--concurrency`` ('auto' included) and
    ``--autoscale`` are resolved; the children inherit the number when they are forked.
    """

    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        from celery.concurrency.solo import TaskPool as SoloPool

        from workers import tasks

        pool_cls = parent.pool_cls
        solo = isinstance(pool_cls, type) and issubclass(pool_cls, SoloPool)
        processes = 1 if solo else (parent.max_concurrency or parent.concurrency)
        tasks.set_pool_processes(int(processes))


@celeryd_init.connect
def _remember_excluded_queues(instance: Any = None, options: Any = None, **_: Any) -> None:
    """Keep the worker's ``--exclude-queues`` on it for :class:`ConsumeMaintenanceQueue` (Celery
    applies them before the worker's steps are made, without keeping them)."""
    if instance is not None:
        excluded = (options or {}).get("exclude_queues") or ()
        instance.wastemap_excluded_queues = set(str_to_list(excluded))


class ConsumeMaintenanceQueue(bootsteps.Step):
    """A worker that takes chunk tasks takes beat's tasks too.

    Before beat's tasks had a queue of their own, workers were started with ``--queues wastemap``
    (``celery -A workers.app worker -Q wastemap``, in systemd units or scripts written then): such
    a worker adds ``wastemap.maintenance`` and says so, instead of leaving beat's inbox scans and
    re-sending of lost chunks waiting in a queue nobody reads. Runs after ``--queues`` and
    ``--exclude-queues`` are applied, before the worker starts consuming; a worker told
    ``--exclude-queues wastemap.maintenance`` (beat's tasks left to other workers) is left so.
    """

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        queues = parent.app.amqp.queues
        consumed = set(queues.consume_from)
        # `--exclude-queues wastemap.maintenance` is a choice (beat's tasks left to other workers)
        excluded = getattr(parent, "wastemap_excluded_queues", set())
        if QUEUE in consumed and MAINTENANCE_QUEUE not in consumed | excluded:
            queues.select_add(queues[MAINTENANCE_QUEUE])
            log.warning(
                "this worker was started to consume only the %r queue; beat's tasks (inbox scans, "
                "re-sending lost chunks) go to %r, so it consumes that one too. Start workers "
                "with `wastemap worker` or `celery -A workers.app worker --queues %s`",
                QUEUE,
                MAINTENANCE_QUEUE,
                WORKER_QUEUES,
            )


def create_app() -> Celery:
    app = Celery("wastemap", include=["workers.tasks"])
    app.conf.update(
        task_default_queue=QUEUE,
        # a worker started without --queues consumes both
        task_queues=[
            Queue(name, Exchange(name), routing_key=name) for name in (QUEUE, MAINTENANCE_QUEUE)
        ],
        # beat's tasks never sit in the chunk queue, whose length workers.tasks.queue_length counts
        task_routes={
            REQUEUE_STALE: {"queue": MAINTENANCE_QUEUE},
            SCAN_INBOX: {"queue": MAINTENANCE_QUEUE},
        },
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
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        worker_cancel_long_running_tasks_on_connection_loss=False,
        timezone="UTC",
    )
    app.add_defaults(config_from_settings)  # a promise: read when the configuration is first used
    app.steps["worker"].add(RecordPoolSize)
    app.steps["worker"].add(ConsumeMaintenanceQueue)
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
