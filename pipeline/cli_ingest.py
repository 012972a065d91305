"""``wastemap ingest``, ``wastemap ingest-video`` and ``wastemap export``."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Self
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from models.taxonomy import CATEGORIES, check_category, recyclable
from pipeline._cli_common import database, err_console, fail, reports_errors, settings
from pipeline.cli_batches import follow_batch
from pipeline.defaults import DEFAULT_CHUNK_SIZE

# The batches, the detector, the queue (Celery), PyAV, SQLAlchemy, pandas and the maps are
# imported by the commands that use them, so that ``wastemap --help`` starts fast.
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from db.map_queries import MapFilter
    from db.schema import BatchItem
    from pipeline.ingest import IngestReport
    from pipeline.settings import Settings
    from pipeline.tracks import Track
    from pipeline.video import PickedFrame


def ingest_files(files: list[Path], **kwargs: Any) -> IngestReport:
    """:func:`pipeline.batches.ingest_files`, imported when first called."""
    from pipeline.batches import ingest_files as run

    return run(files, **kwargs)


def queue_client(broker_url: str) -> Any:
    """:func:`pipeline.queue.connected_client` (a Celery app whose broker has answered),
    imported when first called."""
    from pipeline.queue import connected_client

    return connected_client(broker_url)


def send_chunk(client: Any, batch_id: str, chunk: int) -> None:
    """:func:`pipeline.queue.send_chunk`, imported when first called."""
    from pipeline.queue import send_chunk as send

    send(client, batch_id, chunk)


@reports_errors
def ingest(
    path: Path = typer.Argument(..., help="A folder (walked recursively) or one image file."),
    survey: str = typer.Option(None, "--survey", help="Survey name (default: the folder name)."),
    track: Path = typer.Option(
        None, "--track", help="GPX or CSV (timestamp,lat,lon) track for photos without GPS."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    queue: bool = typer.Option(
        False,
        "--queue",
        help="Submit a batch to the workers (WASTEMAP_BROKER_URL) and print its id.",
    ),
    wait: bool = typer.Option(False, "--wait", help="With --queue: follow the batch to its end."),
    detect: bool = typer.Option(True, "--detect/--no-detect", help="Run the detector too."),
    model: Path = typer.Option(None, "--model", help="Detector checkpoint (default: shipped)."),
    chunk_size: int = typer.Option(DEFAULT_CHUNK_SIZE, "--chunk-size", min=1),
) -> None:
    """Store every JPEG/PNG/HEIC image under PATH with its position and time, and detect waste.

    Files already stored are counted as duplicates; files that cannot be stored go to the
    quarantine with a reason. Nothing is stored twice when the command is run again.
    Without --queue the batch runs here, in-process; with it, Celery workers run it.
    """
    from pipeline.ingest import discover
    from pipeline.tracks import read_track

    cfg = settings()
    gps_track = read_track(track, default_timezone=ZoneInfo(cfg.camera_timezone)) if track else None
    files, others = discover(path)
    if not files:
        from pipeline.ingest import IMAGE_EXTENSIONS

        found = f" (found {len(others)} other files)" if others else ""
        raise fail(
            f"no images to ingest under {path}{found}: WasteMap takes "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))} files; videos go to `wastemap ingest-video`"
        )
    survey_name = survey or (path.resolve().name if path.is_dir() else path.resolve().parent.name)
    run_batch(
        cfg,
        files,
        survey=survey_name,
        source=str(path.resolve()),
        track=gps_track,
        skipped=others,
        queue=queue,
        wait=wait,
        detect=detect,
        model=model,
        chunk_size=chunk_size,
        as_json=as_json,
    )


def run_batch(
    cfg: Settings,
    files: list[Path],
    *,
    survey: str,
    source: str,
    track: Track | None,
    skipped: list[Path],
    queue: bool,
    wait: bool,
    detect: bool,
    model: Path | None,
    chunk_size: int,
    as_json: bool,
) -> None:
    """Submit ``files`` as one batch and run it here, or queue it for the workers."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from pipeline.ingest import IngestOptions, IngestReport

    client = _check_broker(cfg, queue)
    engine = database(cfg)
    try:
        if queue:
            batch_id = _queue_batch(
                engine,
                cfg.broker_url or "",
                files,
                survey,
                source,
                track,
                detect,
                chunk_size,
                as_json=as_json,
                client=client,
            )
            _announce_queued(engine, batch_id, survey, len(files), as_json=as_json, wait=wait)
            return
        detector = _detector(cfg, model) if detect else None
        report = IngestReport(survey=survey, skipped=[str(p) for p in skipped])
        with Progress(
            TextColumn("[bold]ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=as_json or not err_console.is_terminal,
        ) as progress:
            task = progress.add_task("ingest", total=len(files))
            ingest_files(
                files,
                engine=engine,
                survey=survey,
                options=IngestOptions.from_settings(cfg),
                track=track,
                detector=detector,
                chunk_size=chunk_size,
                detect_batch_size=cfg.detect_batch_size,
                on_progress=lambda _outcome, n: progress.advance(task, n),
                report=report,
                source=source,
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        print_report(report)


@reports_errors
def ingest_video(
    video: str = typer.Argument(
        ..., help="A video file, or a live stream (rtsp://..., /dev/video0)."
    ),
    track: Path = typer.Option(
        ...,
        "--track",
        help="GPX or CSV track of the vehicle. For a live stream it may still be growing (a GPS "
        "logger appending): it is read again as it changes, and frames wait for their fixes.",
    ),
    track_wait: float = typer.Option(
        10.0,
        "--track-wait",
        min=0.0,
        help="Live streams: seconds a frame waits for a fix at or after its time before it is "
        "counted as outside the track.",
    ),
    every_meters: float = typer.Option(5.0, "--every-meters", help="Metres between frames."),
    start: str = typer.Option(
        None, "--start", help="Recording start (ISO 8601 with offset); default: from the file."
    ),
    frames_dir: Path = typer.Option(None, "--frames-dir", help="Where picked frames are written."),
    max_frames: int = typer.Option(None, "--max-frames", min=1, help="Stop after N frames."),
    survey: str = typer.Option(None, "--survey", help="Survey name (default: the video's name)."),
    as_json: bool = typer.Option(False, "--json"),
    queue: bool = typer.Option(
        False, "--queue", help="Send the frames to the workers: one batch per chunk."
    ),
    wait: bool = typer.Option(False, "--wait", help="With --queue: follow each batch."),
    detect: bool = typer.Option(True, "--detect/--no-detect"),
    model: Path = typer.Option(None, "--model"),
    chunk_size: int = typer.Option(
        DEFAULT_CHUNK_SIZE,
        "--chunk-size",
        min=1,
        help="Frames stored (or queued, as one batch) together, as soon as that many are picked.",
    ),
) -> None:
    """Pick a frame every N metres of a dash-cam video (or live stream), geotag each from the
    track, and send them through the same pipeline as photos.

    Frames are stored in chunks of --chunk-size while decoding goes on, so a live stream stores
    as it goes (stop it with Ctrl-C, or --max-frames). Ctrl-C or a decoding error stops the
    reading; every frame picked before it is still stored, then the command exits with the error
    (code 2; 130 after Ctrl-C). A Ctrl-C while a chunk is being stored lets that chunk finish
    first; a second one abandons it: nothing of it is stored, its batch is withdrawn, and the
    message says how to store its frames (exactly once). For a live stream the track file is read
    again as it grows, and each frame waits up to --track-wait seconds for a fix at or after its
    time (a GPS logger writes a fix after the moment it describes).
    """
    from pipeline.tracks import read_track
    from pipeline.video import FrameSampling, is_live, iter_frames

    cfg = settings()
    _check_broker(cfg, queue)
    timezone = ZoneInfo(cfg.camera_timezone)
    gps_track = read_track(track, default_timezone=timezone)
    when = _parse_start(start) if start else None
    name = (
        Path(video).stem if not is_live(video) else f"live-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    )
    out = (
        frames_dir or (Path(video).parent if not is_live(video) else Path.cwd()) / f"{name}_frames"
    )
    counts = FrameSampling()
    frames = iter_frames(
        video,
        gps_track,
        out,
        every_m=every_meters,
        start=when,
        max_frames=max_frames,
        max_gap_s=cfg.max_track_gap_s,
        counts=counts,
        follow_track=lambda: read_track(track, default_timezone=timezone),
        track_wait_s=track_wait,
    )
    engine = database(cfg)
    try:
        store = _VideoChunkStore(
            cfg,
            engine,
            survey=survey or name,
            source=str(video),
            frames_dir=out,
            queue=queue,
            wait=wait,
            detect=detect,
            model=model,
            chunk_size=chunk_size,
            as_json=as_json,
        )
        stop, code = _store_frames_in_chunks(frames, store, chunk_size=chunk_size, source=video)
    finally:
        frames.close()
        engine.dispose()
    if not as_json:
        err_console.print(
            f"{video}: decoded {counts.decoded} frames, picked {counts.picked} "
            f"(one every {every_meters:g} m) into {out}; {counts.outside_track} outside the track"
        )
    if not queue:
        if as_json:
            typer.echo(json.dumps(store.report.to_json()))
        else:
            print_report(store.report)
    if stop is not None:
        kept = counts.picked - store.abandoned
        done = "queued" if queue else "stored"
        message = f"{stop}; the {kept} frames picked before it were {done}" if kept else stop
        raise fail(message + (f". {store.resume_hint}" if store.resume_hint else ""), code=code)


class _ChunkInterrupted(KeyboardInterrupt):
    """Ctrl-C ended the storing of a chunk; the message says what became of the chunk."""


class _CtrlCHeld:
    """Hold off Ctrl-C (SIGINT) for a block: the first press only prints ``note`` and is counted
    in ``pressed``, so the block (a chunk's detection and storing transaction) ends as it would
    have; a second press raises KeyboardInterrupt at once while ``abortable``. Outside the main
    thread (where Python delivers signals) nothing is held off."""

    def __init__(self, note: str) -> None:
        self.note = note
        self.pressed = 0
        self.abortable = True
        self._previous: Any = None
        self._installed = False

    def _handler(self, _signum: int, _frame: FrameType | None) -> None:
        self.pressed += 1
        if self.pressed == 1:
            # os.write, not print: the handler may interrupt a write to stderr in progress
            os.write(2, f"{self.note}\n".encode())
        elif self.abortable:
            raise KeyboardInterrupt

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._installed:  # None: not set from Python; then Python's own, KeyboardInterrupt
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)


#: What storing a chunk of frames, and withdrawing it after Ctrl-C, imports: imported when
#: ``ingest-video`` starts, so that no slow first import runs while a chunk is being stored.
_CHUNK_STORE_MODULES = (
    "sqlalchemy",
    "db.batches",
    "db.engine",
    "db.schema",
    "pipeline.batches",
    "pipeline.ingest",
    "pipeline.video",
)


class _VideoChunkStore:
    """Stores (or queues) the frames of ``ingest-video`` chunk by chunk, one batch each."""

    def __init__(
        self,
        cfg: Settings,
        engine: Engine,
        *,
        survey: str,
        source: str,
        frames_dir: Path,
        queue: bool,
        wait: bool,
        detect: bool,
        model: Path | None,
        chunk_size: int,
        as_json: bool,
    ) -> None:
        from pipeline.ingest import IngestReport

        for module in _CHUNK_STORE_MODULES:  # now, not while Ctrl-C is held off or handled
            importlib.import_module(module)
        self.cfg, self.engine, self.survey, self.source = cfg, engine, survey, source
        self.frames_dir = frames_dir
        self.queue, self.wait, self.detect = queue, wait, detect
        self.chunk_size, self.as_json = chunk_size, as_json
        self.model = model
        self.detector = _detector(cfg, model) if detect and not queue else None
        self.report = IngestReport(survey=self.survey)
        self.abandoned = 0  #: frames picked but not stored: their chunk was interrupted
        self.resume_hint: str | None = None  #: how to store them later

    def __call__(self, files: list[Path]) -> None:
        from pipeline.ingest import IngestOptions

        if self.queue:
            self._queue(files)
            return
        previous_batch, self.report.batch_id = self.report.batch_id, None
        note = (
            f"Ctrl-C: finishing the chunk of {len(files)} frames being stored, then stopping "
            "(Ctrl-C again abandons that chunk, unstored; you will be told how to store it later)"
        )
        with _CtrlCHeld(note) as held:
            try:
                ingest_files(
                    files,
                    engine=self.engine,
                    survey=self.survey,
                    options=IngestOptions.from_settings(self.cfg),
                    detector=self.detector,
                    chunk_size=self.chunk_size,
                    detect_batch_size=self.cfg.detect_batch_size,
                    report=self.report,
                    source=self.source,
                )
            except KeyboardInterrupt:
                held.abortable = False  # the clean-up must finish
                batch_id, self.report.batch_id = self.report.batch_id, previous_batch
                raise _ChunkInterrupted(self._abandon(files, batch_id)) from None
        if not self.as_json and err_console.is_terminal:
            err_console.print(f"stored {self.report.total} frames so far", highlight=False)
        if held.pressed:
            raise _ChunkInterrupted(f"{self.source}: reading stopped by Ctrl-C")

    def _queue(self, files: list[Path]) -> None:
        """Record and send one batch of ``files``. Ctrl-C meanwhile waits for the sending (a
        second or so; a batch recorded but not sent would wait for beat to re-send it), then
        stops the reading; Ctrl-C while following the batch (``--wait``) stops following and
        reading, and the batch stays with the workers."""
        from pipeline.errors import BrokerUnavailableError

        note = f"Ctrl-C: queueing the chunk of {len(files)} frames, then stopping"
        with _CtrlCHeld(note) as held:
            held.abortable = False
            try:
                batch_id = _queue_batch(
                    self.engine,
                    self.cfg.broker_url or "",
                    files,
                    self.survey,
                    self.source,
                    None,
                    self.detect,
                    self.chunk_size,
                    as_json=self.as_json,
                )
            except BrokerUnavailableError as exc:
                if exc.batch_id is None:  # nothing of this chunk was recorded
                    self.abandoned += len(files)
                    words = ["wastemap", "ingest", str(self.frames_dir), "--survey", self.survey]
                    self.resume_hint = (
                        f"Its {len(files)} frames stay in {self.frames_dir}: once the broker is "
                        f"back, `{shlex.join([*words, '--queue'])}` queues them (frames already "
                        "queued are counted as duplicates, never stored twice)"
                    )
                raise
        wait = self.wait and not held.pressed
        try:
            _announce_queued(
                self.engine, batch_id, self.survey, len(files), as_json=self.as_json, wait=wait
            )
        except KeyboardInterrupt:
            raise _ChunkInterrupted(
                f"{self.source}: reading stopped by Ctrl-C while following batch {batch_id} "
                "(it stays queued: the workers store it; `wastemap batches status "
                f"{batch_id} --wait` follows it)"
            ) from None
        if held.pressed:
            raise _ChunkInterrupted(f"{self.source}: reading stopped by Ctrl-C")

    def _abandon(self, files: list[Path], batch_id: str | None) -> str:
        """After Ctrl-C broke off the storing of ``files`` (batch ``batch_id``; None when it
        came before the batch was recorded): withdraw the batch unless its storing transaction
        committed, so that no pending batch is left behind and a later run stores the frames
        exactly once. Returns what became of the chunk, for the user."""
        from db import batches as batch_queries
        from db.engine import transaction
        from pipeline.video import is_live

        if batch_id is None:  # Ctrl-C may have come between the batch's commit and its id
            batch_id = self._pending_batch_of(files)
        if batch_id is not None:
            with transaction(self.engine) as session:
                batch = batch_queries.get(db_session=session, batch_id=batch_id)
                # ingest_files makes one chunk (0) of at most chunk_size files
                items = batch_queries.chunk_items(db_session=session, batch_id=batch_id, chunk=0)
                if batch is not None and items and all(i.state != "pending" for i in items):
                    self._count_stored(items, batch_id)  # its transaction ended before Ctrl-C
                    return f"{self.source}: stopped by Ctrl-C after storing {len(files)} frames"
                if batch is not None:
                    session.delete(batch)  # its items go with it; none of them is stored
        self.abandoned += len(files)
        options = [] if self.detect else ["--no-detect"]
        options += ["--model", str(self.model)] if self.model is not None and self.detect else []
        words = ["wastemap", "ingest", str(self.frames_dir), "--survey", self.survey, *options]
        command = f"`{shlex.join(words)}`"
        run = command if is_live(self.source) else f"the same command again, or {command},"
        self.resume_hint = (
            f"Its frames stay in {self.frames_dir}: run {run} to store them (the frames already "
            "stored are counted as duplicates, never stored twice)"
        )
        return (
            f"{self.source}: Ctrl-C while storing a chunk of {len(files)} frames: that chunk was "
            "not stored (its batch was withdrawn; nothing of it is in the database)"
        )

    def _pending_batch_of(self, files: list[Path]) -> str | None:
        """The batch recorded for exactly ``files`` whose items are all still pending, if any."""
        import sqlalchemy as sa

        from db.engine import transaction
        from db.schema import BatchItem

        paths = {str(Path(f).absolute()) for f in files}
        with transaction(self.engine) as session:
            rows = session.execute(
                sa.select(BatchItem.batch_id, BatchItem.path, BatchItem.state).where(
                    BatchItem.path.in_(paths)
                )
            ).all()
        by_batch: dict[str, list[tuple[str, str]]] = {}
        for batch_id, path, state in rows:
            by_batch.setdefault(batch_id, []).append((path, state))
        for batch_id, items in by_batch.items():
            if {p for p, _ in items} == paths and all(st == "pending" for _, st in items):
                return batch_id
        return None

    def _count_stored(self, items: list[BatchItem], batch_id: str) -> None:
        """Add a chunk whose storing ended just before Ctrl-C to the report, from its items."""
        import sqlalchemy as sa

        from db.engine import transaction
        from db.schema import Detection

        self.report.batch_id = batch_id
        image_ids = [i.image_id for i in items if i.state == "stored" and i.image_id is not None]
        if image_ids:
            with transaction(self.engine) as session:
                self.report.detections += int(
                    session.scalar(
                        sa.select(sa.func.count())
                        .select_from(Detection)
                        .where(Detection.image_id.in_(image_ids))
                    )
                    or 0
                )
        for item in items:
            if item.state == "stored":
                self.report.ingested += 1
            elif item.state == "duplicate":
                self.report.duplicates += 1
            else:
                self.report.quarantined[item.reason or item.state] += 1


def _store_frames_in_chunks(
    frames: Iterator[PickedFrame],
    store: Callable[[list[Path]], None],
    *,
    chunk_size: int,
    source: str,
) -> tuple[str | None, int]:
    """Hand ``store`` each ``chunk_size`` frames as soon as they are picked, and what is left at
    the end. Returns why reading stopped early (a decoding error, Ctrl-C) and the exit code, or
    (None, 0) when the video ended (or --max-frames was reached).

    A :class:`_ChunkInterrupted` out of ``store`` (Ctrl-C while a chunk was stored) stops the
    reading too, as does a broker that stops answering (``--queue``); the message says what
    became of that chunk."""
    from pipeline.errors import BrokerUnavailableError
    from pipeline.video import VideoError

    pending: list[Path] = []
    stop: str | None = None
    code = 0
    while True:
        try:
            picked = next(frames, None)
        except VideoError as exc:
            stop, code = str(exc), 2
            break
        except KeyboardInterrupt:
            stop, code = f"{source}: reading stopped by Ctrl-C", 130
            break
        if picked is None:
            break
        pending.append(picked.path)
        if len(pending) >= chunk_size:
            chunk, pending = pending, []
            try:
                store(chunk)
            except _ChunkInterrupted as exc:
                return str(exc), 130
            except BrokerUnavailableError as exc:
                return str(exc), 2
    if pending:
        try:
            store(pending)
        except _ChunkInterrupted as exc:
            return (f"{stop}; then {exc}" if stop else str(exc)), 130
        except BrokerUnavailableError as exc:
            return (f"{stop}; then {exc}" if stop else str(exc)), 2
    return stop, code


def _check_broker(cfg: Settings, queue: bool) -> Any:
    """With ``--queue``, a broker must be configured and answer, before anything is read;
    returns the client that reached it (None without ``--queue``)."""
    if not queue:
        return None
    if not cfg.broker_url:
        raise fail(
            "--queue needs a broker: set WASTEMAP_BROKER_URL (e.g. redis://localhost:6379/0)"
        )
    return queue_client(cfg.broker_url)


def _detector(cfg: Settings, model: Path | None) -> Any:
    """The detector ``--model`` names, else the configured one (WASTEMAP_MODEL_PATH)."""
    from pipeline.detection import load_detector

    return load_detector(model or cfg.model_path, device=cfg.device, num_threads=cfg.num_threads)


def _parse_start(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"--start {text!r} is not an ISO 8601 time") from exc
    if when.tzinfo is None:
        raise fail(f"--start {text!r} needs a UTC offset, e.g. {text}+02:00")
    return when


def _queue_batch(
    engine: Engine,
    broker_url: str,
    files: list[Path],
    survey: str,
    source: str,
    track: Track | None,
    detect: bool,
    chunk_size: int,
    *,
    as_json: bool,
    client: Any = None,
) -> str:
    """Record ``files`` as one batch and send its chunks to the workers; returns its id. Nothing
    is recorded unless the broker answers (``client``: one that has just reached it; else the
    broker is asked here)."""
    from db import batches as batch_queries
    from db.engine import transaction
    from pipeline.batches import submit
    from pipeline.queue import send_chunks

    client = client or queue_client(broker_url)
    batch_id = submit(
        engine,
        files=files,
        survey=survey,
        source=source,
        chunk_size=chunk_size,
        track_path=track.path if track is not None else None,
        detect=detect,
    )
    with transaction(engine) as session:
        chunks = batch_queries.chunk_numbers(db_session=session, batch_id=batch_id)
    send_chunks(client, batch_id, chunks, send=send_chunk)
    if not as_json:
        err_console.print(f"batch {batch_id}: {len(files)} files in {len(chunks)} chunks queued")
    return batch_id


def _announce_queued(
    engine: Engine, batch_id: str, survey: str, total: int, *, as_json: bool, wait: bool
) -> None:
    """Print the queued batch's id (or JSON), or with ``wait`` follow it to its end."""
    if wait:
        follow_batch(engine, batch_id, as_json=as_json)
    elif as_json:
        typer.echo(json.dumps({"batch": batch_id, "survey": survey, "total": total}))
    else:
        typer.echo(batch_id)


def print_report(report: IngestReport) -> None:
    """The human summary of an ingestion run (stderr)."""
    from pipeline.ingest import REASONS

    table = Table(title=f"survey {report.survey!r}", show_header=False)
    table.add_row("ingested", str(report.ingested))
    table.add_row("duplicates (already stored)", str(report.duplicates))
    table.add_row("detections", str(report.detections))
    for reason, count in sorted(report.quarantined.items()):
        table.add_row(f"quarantined: {reason}", f"{count}  ({REASONS.get(reason, '')})")
    if report.skipped:
        table.add_row("skipped (not image files)", str(len(report.skipped)))
    err_console.print(table)
    for problem in report.problems[:20]:
        err_console.print(f"  [yellow]{problem.reason}[/]: {problem.message}", highlight=False)
    if len(report.problems) > 20:
        err_console.print(f"  ... and {len(report.problems) - 20} more (see the quarantine)")


class ExportWhat(StrEnum):
    images = "images"
    detections = "detections"
    map = "map"


class ExportFormat(StrEnum):
    geojson = "geojson"
    csv = "csv"
    gpkg = "gpkg"
    gpx = "gpx"
    kml = "kml"


@reports_errors
def export(
    what: ExportWhat = typer.Argument(..., help="images, detections, or map (standalone HTML)."),
    file_format: ExportFormat = typer.Option(None, "--format", help="Default: from --out."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    survey: str = typer.Option(None, "--survey", help="Only this survey."),
    since: dt.datetime = typer.Option(None, "--since", help="From this day (UTC)."),
    until: dt.datetime = typer.Option(None, "--until", help="To this day (UTC), included."),
    category: list[str] = typer.Option(
        None, "--category", help="detections, map: only these categories; repeat."
    ),
    recyclable: bool = typer.Option(
        None,
        "--recyclable/--not-recyclable",
        help="detections, map: only (non-)recyclable categories.",
    ),
    min_score: float = typer.Option(
        0.0, "--min-score", min=0.0, max=1.0, help="detections, map: lowest confidence."
    ),
    review_status: list[str] = typer.Option(
        None,
        "--review-status",
        help="detections, map: unreviewed|accepted|relabelled|rejected; repeat (default: all "
        "but rejected).",
    ),
) -> None:
    """Export stored images or detections as points (GeoJSON RFC 7946, CSV, GeoPackage, GPX
    waypoints or KML placemarks), or
    a standalone heatmap (``map``: one HTML file that works offline), with the dashboard's
    filters. Detections carry the reviewed label and category where reviewers relabelled them."""
    from analytics.exports import write_points
    from db import detections as detection_queries
    from db import images as image_queries
    from db.engine import transaction

    filters = {
        "survey": survey,
        "since": since.date() if since else None,
        "until": until.date() if until else None,
        "categories": category,
        "recyclable": recyclable,
        "min_score": min_score,
        "review_statuses": review_status,
    }
    if filters["since"] and filters["until"] and filters["since"] > filters["until"]:
        raise fail(
            f"--since {filters['since']} is after --until {filters['until']}: nothing lies "
            "between them (both days are included)"
        )
    if what is ExportWhat.map and out.suffix.lower() not in (".html", ".htm"):
        raise fail(f"--out {out}: `export map` writes an HTML page; name it .html")
    if what is ExportWhat.images:
        detection_only = {
            "--category": category,
            "--recyclable/--not-recyclable": recyclable is not None,
            "--min-score": min_score > 0,
            "--review-status": review_status,
        }
        given = [flag for flag, value in detection_only.items() if value]
        if given:
            raise fail(
                f"{', '.join(given)} select detections; `export images` takes --survey, --since "
                "and --until (use `export detections` for the boxes)"
            )
    cfg = settings()
    engine = database(cfg)
    try:
        with transaction(engine) as session:
            if what is ExportWhat.map:
                count = _export_map(session, cfg, out, filters)
                err_console.print(f"wrote a heatmap of {count} detections to {out}")
                return
            if what is ExportWhat.images:
                frame = image_queries.frame(
                    db_session=session,
                    survey=survey,
                    start=_day_start(filters["since"]),
                    end=_day_start(filters["until"], days=1),
                )
            else:
                frame = detection_queries.frame(
                    db_session=session, filt=_map_filter(session, cfg, filters)
                )
    finally:
        engine.dispose()
    written = write_points(
        frame, out, file_format=file_format.value if file_format else None, layer=what.value
    )
    err_console.print(f"wrote {len(frame)} {what.value} to {written}")


def _day_start(day: dt.date | None, *, days: int = 0) -> dt.datetime | None:
    if day is None:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(days=days)


def _map_filter(session: Session, cfg: Settings, filters: dict[str, Any]) -> MapFilter:
    """The dashboard's filter from the export command's options (errors name the option)."""
    from db import surveys as survey_queries
    from db.map_queries import REVIEW_STATUSES, MapFilter

    survey_ids = None
    if filters["survey"]:
        survey_row = survey_queries.get_by_name(db_session=session, name=filters["survey"])
        if survey_row is None:
            raise fail(f"no survey named {filters['survey']!r}; `wastemap` lists them on ingest")
        survey_ids = (survey_row.id,)
    categories = tuple(check_category(c) for c in filters["categories"] or CATEGORIES)
    if filters["recyclable"] is not None:
        categories = tuple(
            c
            for c in categories
            if recyclable(c, cfg.recyclable_overrides) == filters["recyclable"]
        )
    statuses = tuple(filters["review_statuses"]) if filters["review_statuses"] else None
    for status in statuses or ():
        if status not in REVIEW_STATUSES:
            raise fail(f"--review-status {status!r}: use one of {', '.join(REVIEW_STATUSES)}")
    return MapFilter(
        start=filters["since"],
        end=filters["until"],
        survey_ids=survey_ids,
        categories=categories,
        min_score=filters["min_score"],
        **({"review_statuses": statuses} if statuses else {}),
    )


def _export_map(session: Session, cfg: Settings, out: Path, filters: dict[str, Any]) -> int:
    """The shareable map: heat per H3 res-10 cell, hexagons at res 9, the filters as subtitle."""
    from analytics.maps import filters_text, standalone_heatmap
    from db import map_queries

    filt = _map_filter(session, cfg, filters)
    categories = filt.categories or CATEGORIES
    cells = map_queries.cell_counts(db_session=session, filt=filt, resolution=10)
    hexagons = map_queries.cell_counts(db_session=session, filt=filt, resolution=9)
    subtitle = filters_text(
        {
            "survey": filters["survey"],
            "from": filters["since"],
            "to": filters["until"],
            "categories": ", ".join(categories)
            if filters["categories"] or filters["recyclable"] is not None
            else None,
            "min score": filters["min_score"] or None,
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    standalone_heatmap(cells, subtitle=subtitle, hexagons=hexagons).save(str(out))
    return int(cells["detections"].sum()) if not cells.empty else 0


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("ingest-video")(ingest_video)
    app.command("export")(export)
