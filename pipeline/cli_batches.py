"""``wastemap batches status|list|resume``, ``wastemap worker`` and ``wastemap beat``."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from pipeline._cli_common import database, err_console, fail, reports_errors, settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from pipeline.settings import Settings

batches_app = typer.Typer(help="Follow and manage ingestion batches.", no_args_is_help=True)


def batch_status(engine: Engine, batch_id: str) -> dict[str, object]:
    """A batch's status and item counts (``done`` = stored + duplicate)."""
    from db import batches as batch_queries
    from db.engine import transaction

    with transaction(engine) as session:
        batch = batch_queries.get(db_session=session, batch_id=batch_id)
        if batch is None:
            raise fail(f"no batch {batch_id}; `wastemap batches list` shows the recent ones")
        counts = batch_queries.progress(db_session=session, batch_id=batch_id)
        return {
            "batch": batch.id,
            "status": batch.status,
            "source": batch.source,
            "total": counts["total"],
            "done": counts["stored"] + counts["duplicate"],
            "stored": counts["stored"],
            "duplicates": counts["duplicate"],
            "quarantined": counts["quarantined"],
            "failed": counts["failed"],
            "pending": counts["pending"],
            "created_at": batch.created_at.isoformat(),
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        }


def follow_batch(engine: Engine, batch_id: str, *, as_json: bool, poll_s: float = 1.0) -> None:
    """A progress bar until the batch ends, then its status."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    status = batch_status(engine, batch_id)
    with Progress(
        TextColumn(f"[bold]batch {batch_id[:8]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=as_json or not err_console.is_terminal,
    ) as progress:
        task = progress.add_task("batch", total=status["total"], detail="")
        while status["pending"]:
            time.sleep(poll_s)
            status = batch_status(engine, batch_id)
            progress.update(
                task,
                completed=int(status["total"]) - int(status["pending"]),
                detail=f"quarantined {status['quarantined']}, failed {status['failed']}",
            )
    _print_status(status, as_json=as_json)


def _print_status(status: dict[str, object], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(status))
        return
    table = Table(show_header=False, title=f"batch {status['batch']}")
    for key in (
        "status",
        "source",
        "total",
        "done",
        "stored",
        "duplicates",
        "quarantined",
        "failed",
        "pending",
        "created_at",
        "finished_at",
    ):
        table.add_row(key, str(status[key]))
    err_console.print(table)


@batches_app.command("status")
@reports_errors
def status(
    batch_id: str = typer.Argument(..., help="The id `wastemap ingest --queue` printed."),
    as_json: bool = typer.Option(False, "--json"),
    wait: bool = typer.Option(False, "--wait", help="Follow the batch until it ends."),
) -> None:
    """Progress of one batch: total, done, quarantined, failed."""
    engine = database()
    try:
        if wait:
            follow_batch(engine, batch_id, as_json=as_json)
        else:
            _print_status(batch_status(engine, batch_id), as_json=as_json)
    finally:
        engine.dispose()


@batches_app.command("list")
@reports_errors
def list_batches(
    limit: int = typer.Option(20, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The most recent batches with their progress."""
    from db import batches as batch_queries
    from db.engine import transaction

    engine = database()
    try:
        with transaction(engine) as session:
            rows = batch_queries.list_recent(db_session=session, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    table = Table(
        "batch",
        "survey",
        "status",
        "total",
        "stored",
        "duplicate",
        "quarantined",
        "failed",
        "pending",
        "created",
    )
    for r in rows:
        table.add_row(
            str(r["id"])[:12],
            str(r["survey"]),
            str(r["status"]),
            str(r["total"]),
            *(str(r[k]) for k in ("stored", "duplicate", "quarantined", "failed", "pending")),
            f"{r['created_at']:%Y-%m-%d %H:%M}",
        )
    err_console.print(table)


@batches_app.command("resume")
@reports_errors
def resume(batch_id: str = typer.Argument(...)) -> None:
    """Send a batch's pending chunks to the workers again (safe: nothing is stored twice)."""
    from db import batches as batch_queries
    from db.engine import transaction
    from pipeline.queue import connected_client, send_chunks

    cfg = settings()
    if not cfg.broker_url:
        raise fail("resume needs a broker: set WASTEMAP_BROKER_URL")
    client = connected_client(cfg.broker_url)
    engine = database(cfg)
    try:
        with transaction(engine) as session:
            if batch_queries.get(db_session=session, batch_id=batch_id) is None:
                raise fail(f"no batch {batch_id}: `wastemap batches list` shows the recent ones")
            chunks = batch_queries.chunk_numbers(
                db_session=session, batch_id=batch_id, pending_only=True
            )
            for chunk in chunks:
                batch_queries.touch_chunk(db_session=session, batch_id=batch_id, chunk=chunk)
    finally:
        engine.dispose()
    send_chunks(client, batch_id, chunks)
    err_console.print(f"batch {batch_id}: {len(chunks)} pending chunks sent again")


def _celery(*args: str, cfg: Settings | None = None) -> None:
    cfg = cfg or settings()
    if not cfg.broker_url:
        raise fail("workers need a broker: set WASTEMAP_BROKER_URL (e.g. redis://localhost:6379/0)")
    celery = shutil.which("celery", path=os.path.dirname(sys.executable)) or shutil.which("celery")
    if celery is None:
        raise fail("the `celery` program is not installed in this environment")
    os.execv(celery, [celery, "-A", "workers.app", *args])


@reports_errors
def worker(
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Worker processes."),
    loglevel: str = typer.Option("info", "--loglevel"),
) -> None:
    """Start a Celery worker (reads WASTEMAP_BROKER_URL and WASTEMAP_DATABASE_URL).

    It consumes the chunk queue and beat's queue (wastemap, wastemap.maintenance). A detector
    setting that cannot work (WASTEMAP_DEVICE, WASTEMAP_MODEL_PATH) stops it here, before it takes
    chunks that would each fail into the quarantine.
    """
    from pipeline.detection import check_detector
    from pipeline.queue import WORKER_QUEUES

    cfg = settings()
    check_detector(cfg.model_path, device=cfg.device)

    _celery(
        "worker",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        "--queues",
        WORKER_QUEUES,
        "--prefetch-multiplier",
        "1",
        "-O",
        "fair",
        cfg=cfg,
    )


@reports_errors
def beat(loglevel: str = typer.Option("info", "--loglevel")) -> None:
    """Start the Celery beat scheduler (inbox scans, re-sending lost chunks).

    Its schedule's state is kept in WASTEMAP_BEAT_SCHEDULE_FILE.
    """
    cfg = settings()
    _celery("beat", "--loglevel", loglevel, "--schedule", str(cfg.beat_schedule_file), cfg=cfg)


def register(app: typer.Typer) -> None:
    app.add_typer(batches_app, name="batches")
    app.command("worker")(worker)
    app.command("beat")(beat)
