"""Celery tasks: thin wrappers over :mod:`pipeline`, taking ids, never blobs.

Each worker process opens its own database engine and loads the detector once, lazily (forked
processes never share pooled connections: see ``workers.app``). Nothing here reads the settings at
import time: each process reads them when its first task runs.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from kombu.exceptions import ChannelError

from pipeline import batches
from pipeline.detection import DetectorLike, load_detector
from pipeline.inbox import scan_inbox
from pipeline.ingest import IngestOptions
from pipeline.queue import PROCESS_CHUNK, QUEUE, REQUEUE_STALE, SCAN_INBOX
from pipeline.settings import Settings, get_settings
from workers.app import app

log = logging.getLogger(__name__)

#: Per-process resources (an engine, a loaded model), never user state.
_process: dict[str, Any] = {}

#: Processes in this worker's pool: set once in the worker's main process before the pool forks
#: (``workers.app.RecordPoolSize``), only read in the pool's processes. 1 outside a worker.
_pool = {"processes": 1}


def set_pool_processes(processes: int) -> None:
    """Record how many processes the worker's pool runs (before it forks them)."""
    _pool["processes"] = max(1, int(processes))


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask: taskset, docker --cpuset-cpus)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def detector_threads(
    *, configured: int | None, pool_processes: int, cores: int | None = None
) -> int:
    """torch CPU threads for the detector in one worker process.

    ``configured`` (``WASTEMAP_NUM_THREADS``) when set; otherwise the cores shared among the
    pool's processes, ``max(1, cores // pool_processes)``, so that ``--concurrency N`` does not
    start N processes each running a torch thread on every core (on a shared CPU that
    oversubscription makes inference many times slower).
    """
    if configured:
        return configured
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, pool_processes))


def reset_process_state() -> None:
    engine = _process.pop("engine", None)
    if engine is not None:
        engine.dispose()
    _process.clear()


def _settings() -> Settings:
    if "settings" not in _process:
        _process["settings"] = get_settings()
    return _process["settings"]


def _engine() -> Any:
    if "engine" not in _process:
        from pipeline.database import open_database

        _process["engine"] = open_database(_settings().database_url)
    return _process["engine"]


def _detector() -> DetectorLike:
    if "detector" not in _process:
        cfg = _settings()
        threads = detector_threads(configured=cfg.num_threads, pool_processes=_pool["processes"])
        log.info("loading the detector with %d torch threads", threads)
        _process["detector"] = load_detector(cfg.model_path, device=cfg.device, num_threads=threads)
    return _process["detector"]


@app.task(
    name=PROCESS_CHUNK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # bounded below by the settings, counted in the database
    # soft time limit: WASTEMAP_TASK_SOFT_TIME_LIMIT_S, Celery's task_soft_time_limit (workers.app)
)
def process_chunk(self: Any, batch_id: str, chunk: int) -> dict[str, Any]:
    """Read, validate, detect and store one chunk of a batch (idempotent)."""
    cfg = _settings()
    try:
        engine = _engine()
        with_detector = _batch_wants_detection(engine, batch_id)
        outcome = batches.process_chunk(
            engine,
            batch_id=batch_id,
            chunk=chunk,
            options=IngestOptions.from_settings(cfg),
            detector=_detector() if with_detector else None,
            detect_batch_size=cfg.detect_batch_size,
            max_attempts=cfg.task_max_retries + 1,
            heartbeat_s=cfg.heartbeat_s,
        )
    except (Exception, SoftTimeLimitExceeded) as exc:
        retries = self.request.retries
        if retries < cfg.task_max_retries:
            countdown = min(2**retries, 60)
            log.warning(
                "chunk %s/%s failed (%s); retry %d in %ss",
                batch_id,
                chunk,
                exc,
                retries + 1,
                countdown,
            )
            if _is_connection_error(exc):
                reset_process_state()  # reconnect from scratch on the next try
            raise self.retry(exc=exc, countdown=countdown) from exc
        log.error("chunk %s/%s failed %d times: %s", batch_id, chunk, retries + 1, exc)
        # under the chunk's lock: a copy of this task running the chunk now is left to finish it
        failed = batches.mark_chunk_failed(
            _engine(), batch_id=batch_id, chunk=chunk, message=f"{type(exc).__name__}: {exc}"
        )
        return {"batch": batch_id, "chunk": chunk, "failed": failed, "already_running": not failed}
    return {
        "batch": batch_id,
        "chunk": chunk,
        "stored": outcome.stored,
        "duplicates": outcome.duplicates,
        "detections": outcome.detections,
        "quarantined": outcome.quarantined,
        "already_done": outcome.already_done,
        "already_running": outcome.already_running,
    }


def _batch_wants_detection(engine: Any, batch_id: str) -> bool:
    from db import batches as batch_queries
    from db.engine import transaction

    with transaction(engine) as session:
        batch = batch_queries.get(db_session=session, batch_id=batch_id)
        return bool(batch is not None and batch.detect)


def _is_connection_error(exc: BaseException) -> bool:
    import sqlalchemy as sa

    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | ConnectionError)


def send_chunk(batch_id: str, chunk: int) -> None:
    process_chunk.apply_async(args=[batch_id, chunk], queue=QUEUE)


def queue_length(*, celery: Any = None) -> int | None:
    """Chunk tasks waiting in the broker's chunk queue (of ``celery``, default this app): 0 when
    the broker has no such queue (it restarted without persistence and no worker has declared it
    again), None when it cannot be asked (logged). Beat's own tasks wait in another queue
    (``MAINTENANCE_QUEUE``, see ``workers.app``), so they are never counted as chunks."""
    celery = celery or app
    try:
        with celery.connection_for_read() as connection, connection.channel() as channel:
            return int(channel.queue_declare(queue=QUEUE, passive=True).message_count)
    except ChannelError:
        return 0
    except Exception:  # the broker is down or cannot count: requeue_stale then backs off
        log.warning("cannot ask the broker how many tasks are queued", exc_info=True)
        return None


@app.task(name=REQUEUE_STALE, acks_late=True, soft_time_limit=120)
def requeue_stale_chunks() -> list[list[Any]]:
    """Beat: send again the chunks whose task was lost (:func:`pipeline.batches.requeue_stale`)."""
    stale = batches.requeue_stale(
        _engine(),
        older_than_s=_settings().requeue_after_s,
        send=send_chunk,
        queue_length=queue_length,
    )
    if stale:
        log.warning("re-sent %d lost chunks: %s", len(stale), stale)
    return [list(s) for s in stale]


@app.task(name=SCAN_INBOX, acks_late=True, soft_time_limit=300)
def scan_inbox_task() -> dict[str, Any] | None:
    """Beat: take the inbox's complete files as a new batch and send its chunks."""
    cfg = _settings()
    if cfg.inbox is None:
        return None
    submitted = scan_inbox(_engine(), cfg.inbox, default_survey=cfg.inbox_survey)
    for batch_id, chunks in submitted:
        for chunk in chunks:
            send_chunk(batch_id, chunk)
    return {"batches": {batch_id: len(chunks) for batch_id, chunks in submitted}}
