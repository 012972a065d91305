"""Batches: files submitted together, processed chunk by chunk, in-process or by workers.

One code path for both ways of running. :func:`submit` records a batch and its items;
:func:`process_chunk` takes one chunk from pending to final: read, validate and geotag each file,
detect (outside any transaction), then write images, detections (placed where their objects lie,
with the dash camera of ``options``), quarantine rows and item states in one transaction.
Everything it writes is idempotent (images on sha256, detections on (image, model version)), so
a chunk that is run twice, or by two workers at once after a crash, stores everything exactly
once. :func:`run_in_process` runs every chunk here; workers run the same
:func:`process_chunk` from a Celery task.

A run holds the chunk's lock (a PostgreSQL advisory lock, gone with its connection), so a second
delivery of a chunk that is running elsewhere returns at once without counting an attempt, and a
task that gives up on a chunk never marks it failed while another copy runs it; and a
worker's run touches the chunk's pending items every heartbeat, so that :func:`requeue_stale`
(beat) re-sends only chunks that are neither running nor possibly still waiting in the queue.

Inbox batches move each file to ``processed/`` or ``quarantine/`` beside the inbox (a chunk that
keeps failing: ``quarantine/``) before the chunk's transaction, which then records the path each
file really got (a name taken meanwhile gets a timestamp). A file that cannot be moved is not
recorded: its item stays pending, the file stays where it is, and the chunk's next run (beat
re-sends it) takes it, once. The moves are planned in a journal in the inbox
(``.wastemap-chunk-BATCH-CHUNK.json``: each file's planned place and sha256) written before the
first move and removed once the transaction has committed. A run that dies, or whose transaction
fails, between the moves and the commit leaves its files moved and their items pending: the next
run finds each file from the journal, by its content, and stores it where it is, exactly once.
Nothing is moved back after a failed transaction (a commit that only seemed to fail would leave
records naming paths where the files no longer are); the next run repairs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import glob
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from analytics.camera import CameraModel
from db import batches as batch_queries
from db import detections as detection_queries
from db import images as image_queries
from db import quarantine as quarantine_queries
from db import surveys as survey_queries
from db.engine import transaction
from db.schema import utcnow
from pipeline.defaults import DEFAULT_CHUNK_SIZE as DEFAULT_CHUNK_SIZE
from pipeline.detection import (
    DetectionFailure,
    DetectorLike,
    detect_files,
    model_version_id,
    place_detections,
)
from pipeline.ingest import Accepted, IngestOptions, IngestReport, Rejected, examine, image_row
from pipeline.sites import update_sites
from pipeline.tracks import Track, read_track

log = logging.getLogger(__name__)


@dataclass
class ChunkOutcome:
    """What one run of :func:`process_chunk` did."""

    batch_id: str
    chunk: int
    stored: int = 0
    duplicates: int = 0
    detections: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    problems: list[Rejected] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)
    already_done: bool = False
    already_running: bool = False  #: a run elsewhere holds the chunk: nothing done, no attempt
    batch_finished: bool = False
    left_pending: int = 0  #: inbox files that could not be moved: not stored, tried again later


def submit(
    engine: Engine,
    *,
    files: Sequence[Path],
    survey: str,
    source: str,
    kind: str = "folder",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    track_path: Path | None = None,
    detect: bool = True,
    model_version: str | None = None,
    simulated: bool | None = None,
) -> str:
    """Record a batch of ``files`` (absolute paths) and return its id."""
    with transaction(engine) as session:
        survey_row = survey_queries.get_or_create(
            db_session=session, name=survey, simulated=bool(simulated)
        )
        batch = batch_queries.create(
            db_session=session,
            survey_id=survey_row.id,
            source=source,
            paths=[str(Path(p).absolute()) for p in files],
            chunk_size=chunk_size,
            kind=kind,
            model_version=model_version,
            track_path=str(Path(track_path).absolute()) if track_path else None,
            detect=detect,
        )
        return batch.id


@functools.lru_cache(maxsize=8)
def _cached_track(path: str, mtime_ns: int, size: int) -> Track:
    return read_track(Path(path))


def _track(path: str | None) -> Track | None:
    if not path:
        return None
    stat = Path(path).stat()
    return _cached_track(path, stat.st_mtime_ns, stat.st_size)


def _read(path: Path) -> tuple[bytes | None, str | None, str | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, None, f"{path}: cannot read the file ({exc.strerror or exc}); check it exists"
    return data, hashlib.sha256(data).hexdigest(), None


@dataclass
class _Job:
    """One pending item on its way through a chunk."""

    item_id: int
    path: Path  #: the item's path, as submitted (in the inbox, for an inbox batch)
    sha256: str | None = None
    outcome: Accepted | Rejected | None = None
    duplicate: bool = False
    detections: list[dict[str, Any]] | None = None
    #: where the file is now: ``path``, unless a run that died moved it (see :func:`_recover`)
    where: Path = field(init=False)

    def __post_init__(self) -> None:
        self.where = self.path


@dataclass(frozen=True)
class _Claim:
    """What a chunk's task needs to know about its batch, read in one short transaction."""

    survey_id: int
    kind: str
    source: str
    track_path: str | None
    detect: bool
    jobs: list[_Job]
    attempts: int


def process_chunk(
    engine: Engine,
    *,
    batch_id: str,
    chunk: int,
    options: IngestOptions,
    detector: DetectorLike | None = None,
    detect_batch_size: int = 4,
    track: Track | None = None,
    max_attempts: int | None = None,
    heartbeat_s: float | None = None,
) -> ChunkOutcome:
    """Take chunk ``chunk`` of batch ``batch_id`` from pending to final (see the module doc).

    ``detector`` may be None only for batches submitted with ``detect=False``. ``track`` overrides
    the batch's track file (the in-process runner passes the one it has already read). A chunk
    started more than ``max_attempts`` times (its runs keep crashing or being killed) ends as
    failed, in the quarantine, instead of being tried forever. A chunk running elsewhere (its
    lock is held) is left to that run: ``already_running``, and no attempt is counted. With
    ``heartbeat_s`` the chunk's pending items are touched that often while it reads, examines and
    detects, so that beat does not take it for lost (``WASTEMAP_HEARTBEAT_S`` in workers).
    """
    result = ChunkOutcome(batch_id=batch_id, chunk=chunk)
    with _chunk_lock(engine, batch_id, chunk) as mine:
        if not mine:
            result.already_running = True
            return result
        return _process_claimed(
            engine,
            result,
            options=options,
            detector=detector,
            detect_batch_size=detect_batch_size,
            track=track,
            max_attempts=max_attempts,
            heartbeat_s=heartbeat_s,
        )


def _process_claimed(
    engine: Engine,
    result: ChunkOutcome,
    *,
    options: IngestOptions,
    detector: DetectorLike | None,
    detect_batch_size: int,
    track: Track | None,
    max_attempts: int | None,
    heartbeat_s: float | None,
) -> ChunkOutcome:
    """:func:`process_chunk` once this process holds the chunk's lock."""
    batch_id, chunk = result.batch_id, result.chunk
    claim = _claim(engine, batch_id, chunk, result)
    if claim is None:
        return result
    if max_attempts is not None and claim.attempts > max_attempts:
        failed = _mark_failed_locked(
            engine,
            batch_id=batch_id,
            chunk=chunk,
            message=f"started {claim.attempts} times without finishing (workers crashed or "
            "were killed while processing it); check the files and the worker logs",
        )
        if failed:
            result.quarantined["processing_failed"] = failed
        result.left_pending = len(claim.jobs) - failed
        return result
    if claim.detect and detector is None:
        raise ValueError(f"batch {batch_id} asks for detection but no detector was given")
    jobs = claim.jobs
    journal = _journal_path(claim.source, batch_id, chunk) if claim.kind == "inbox" else None
    if journal is not None:
        _recover(jobs, journal)
    # The heartbeat stops before the storing transaction, which updates the same rows.
    with _heartbeat(engine, batch_id, chunk, every_s=heartbeat_s):
        payloads = _read_all(jobs)
        with transaction(engine) as session:
            stored = image_queries.existing_sha256(
                db_session=session, sha256s=[j.sha256 for j in jobs if j.sha256]
            )
            mv_id = (
                model_version_id(db_session=session, detector=detector) if claim.detect else None
            )
            detected = _already_detected(session, stored, mv_id)
        _examine_all(jobs, payloads, stored, options, track or _track(claim.track_path))
        if claim.detect:
            assert detector is not None
            _detect_all(jobs, stored, detected, detector, detect_batch_size)
        placed: dict[int, Path] = {}
        left: set[int] = set()
        if journal is not None:  # moved first, then recorded where they are
            placed, left = _move_out(
                jobs, inbox=claim.source, journal=journal, folder_of=_folder_of
            )
    with transaction(engine) as session:
        _store(
            session,
            [j for j in jobs if j.item_id not in left],
            claim.survey_id,
            mv_id,
            placed,
            result,
            options.camera,
        )
        result.batch_finished = batch_queries.finish_if_complete(
            db_session=session, batch_id=batch_id
        )
    result.left_pending = len(left)
    if journal is not None:
        _settle_journal(journal, left, f"{batch_id}/{chunk}")
    if result.stored or result.detections:
        _update_sites(engine, result)
    return result


@contextlib.contextmanager
def _chunk_lock(engine: Engine, batch_id: str, chunk: int) -> Iterator[bool]:
    """Hold the chunk's lock for the block (see :func:`db.batches.try_lock_chunk`); yields False,
    holding nothing, when a run elsewhere holds it."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    connection = engine.connect()
    mine = False
    try:
        mine = batch_queries.try_lock_chunk(connection=connection, batch_id=batch_id, chunk=chunk)
        connection.commit()  # the lock is the session's; no transaction is left open
        yield mine
    finally:
        try:
            if mine:
                batch_queries.unlock_chunk(connection=connection, batch_id=batch_id, chunk=chunk)
                connection.commit()
        except Exception:  # the connection is gone (database restart): so is its lock
            log.warning("releasing the lock of chunk %s/%s failed", batch_id, chunk, exc_info=True)
            connection.invalidate()
        finally:
            connection.close()


@contextlib.contextmanager
def _heartbeat(
    engine: Engine, batch_id: str, chunk: int, *, every_s: float | None
) -> Iterator[None]:
    """Touch the chunk's pending items every ``every_s`` seconds (a thread) during the block:
    proof for :func:`requeue_stale` that the chunk is running. A touch that fails is logged and
    tried again at the next beat; None: no heartbeat."""
    if not every_s:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                with transaction(engine) as session:
                    batch_queries.touch_chunk(db_session=session, batch_id=batch_id, chunk=chunk)
            except Exception:  # a database blip must not fail the chunk
                log.warning("heartbeat of chunk %s/%s failed", batch_id, chunk, exc_info=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{batch_id}-{chunk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _update_sites(engine: Engine, result: ChunkOutcome) -> None:
    """Fold the chunk's detections into the litter sites. A failure here never fails the chunk
    (it is stored): the next update, or ``wastemap sites update``, takes what was missed."""
    try:
        update_sites(engine, image_ids=result.image_ids)
    except Exception:  # logged; the next update takes what was missed
        log.exception(
            "updating litter sites after chunk %s/%s failed", result.batch_id, result.chunk
        )


def _claim(engine: Engine, batch_id: str, chunk: int, result: ChunkOutcome) -> _Claim | None:
    """The chunk's pending items (their attempt counted), or None when there is nothing to do."""
    with transaction(engine) as session:
        batch = batch_queries.get(db_session=session, batch_id=batch_id)
        if batch is None:  # deleted meanwhile
            result.already_done = True
            return None
        items = batch_queries.chunk_items(db_session=session, batch_id=batch_id, chunk=chunk)
        pending = [i for i in items if i.state == "pending"]
        if not pending:  # done before (a redelivered task)
            result.already_done = True
            if batch.kind == "inbox":  # left by a run that died just after its commit
                _discard_journal(_journal_path(batch.source, batch_id, chunk))
            result.batch_finished = batch_queries.finish_if_complete(
                db_session=session, batch_id=batch_id
            )
            return None
        attempts = batch_queries.bump_attempts(db_session=session, batch_id=batch_id, chunk=chunk)
        return _Claim(
            attempts=attempts,
            survey_id=batch.survey_id,
            kind=batch.kind,
            source=batch.source,
            track_path=batch.track_path,
            detect=batch.detect,
            jobs=[_Job(item_id=i.id, path=Path(i.path)) for i in pending],
        )


def _read_all(jobs: list[_Job]) -> dict[int, bytes]:
    payloads: dict[int, bytes] = {}
    for job in jobs:
        data, job.sha256, error = _read(job.where)
        if data is None:
            job.outcome = Rejected(job.path, None, "unreadable", error or "")
        else:
            payloads[job.item_id] = data
    return payloads


def _examine_all(
    jobs: list[_Job],
    payloads: dict[int, bytes],
    stored: set[str],
    options: IngestOptions,
    track: Track | None,
) -> None:
    """Decide each new file; mark copies (of stored files or within the chunk) as duplicates."""
    first_of: dict[str, _Job] = {}
    for job in jobs:
        if job.outcome is not None or job.sha256 is None:
            continue
        if job.sha256 in stored or job.sha256 in first_of:
            job.duplicate = True
            continue
        first_of[job.sha256] = job
        job.outcome = examine(
            job.path, data=payloads[job.item_id], sha256=job.sha256, options=options, track=track
        )
    _refuse_copies(jobs, first_of)


def _refuse_copies(jobs: list[_Job], first_of: dict[str, _Job]) -> None:
    """A copy of a file refused in this chunk (by its checks or by the detector) is refused the
    same way: with its original refused there is no stored image for it to be a duplicate of."""
    for job in jobs:
        first = first_of.get(job.sha256 or "")
        if job.duplicate and first is not None and isinstance(first.outcome, Rejected):
            message = first.outcome.message.replace(str(first.path), str(job.path))
            job.outcome = Rejected(job.path, job.sha256, first.outcome.reason, message)
            job.duplicate = False


def _detect_all(
    jobs: list[_Job],
    stored: set[str],
    detected: set[str],
    detector: DetectorLike,
    batch_size: int,
) -> None:
    """Detect on new accepted files, and on stored ones this model version has not seen."""
    wanted: dict[str, _Job] = {}
    for job in jobs:
        new = isinstance(job.outcome, Accepted) and not job.duplicate
        unseen = job.duplicate and job.sha256 in stored and job.sha256 not in detected
        if (new or unseen) and job.sha256 not in wanted:
            wanted[job.sha256 or ""] = job
    to_detect = list(wanted.values())
    results = detect_files(detector, [j.where for j in to_detect], batch_size=batch_size)
    for job, found in zip(to_detect, results, strict=True):
        if isinstance(found, DetectionFailure):
            job.outcome = Rejected(job.path, job.sha256, "corrupt", found.message)
            job.duplicate = False
        else:
            job.detections = found
    # copies of a new file the detector could not decode (a stored image stays stored)
    _refuse_copies(jobs, {sha: j for sha, j in wanted.items() if sha not in stored})


def _already_detected(session: Any, stored: set[str], mv_id: int | None) -> set[str]:
    if mv_id is None or not stored:
        return set(stored)
    return detection_queries.detected_sha256(
        db_session=session, sha256s=stored, model_version_id=mv_id
    )


def _store(
    session: Any,
    jobs: list[_Job],
    survey_id: int,
    mv_id: int | None,
    placed: dict[int, Path],
    result: ChunkOutcome,
    camera: CameraModel,
) -> None:
    """Write the chunk's results; ``placed``: where inbox files are now (moved, or found where a
    run that died had moved them), the paths to record. Detections are stored where their
    objects lie, placed on the ground ahead of ``camera`` (:func:`place_detections`)."""
    accepted = [j for j in jobs if isinstance(j.outcome, Accepted) and not j.duplicate]
    rows = []
    for job in accepted:
        row = image_row(job.outcome, survey_id=survey_id)  # type: ignore[arg-type]
        if job.item_id in placed:
            row["original_path"] = str(placed[job.item_id])
        rows.append(row)
    inserted = image_queries.create_many(db_session=session, rows=rows)
    quarantine_queries.resolve(db_session=session, sha256s=inserted)
    images: dict[int, Any] = {}
    for job in jobs:
        if isinstance(job.outcome, Rejected):
            continue
        image = image_queries.get_by_sha256(db_session=session, sha256=job.sha256 or "")
        if image is None:  # cannot happen: stored above or before
            raise RuntimeError(f"{job.path}: image {job.sha256} vanished during its chunk")
        images[job.item_id] = image
    found = [j for j in jobs if j.item_id in images and j.detections and mv_id is not None]
    positioned: dict[int, list[dict[str, Any]]] = {}
    if found:  # the whole chunk's boxes in one call
        lists = place_detections(
            [images[j.item_id] for j in found], [j.detections or [] for j in found], camera=camera
        )
        positioned = dict(zip((j.item_id for j in found), lists, strict=True))
    updates: list[dict[str, Any]] = []
    for job in jobs:
        update: dict[str, Any] = {"id": job.item_id}
        if isinstance(job.outcome, Rejected):
            quarantine_queries.record(
                db_session=session,
                path=str(placed.get(job.item_id, job.path)),
                reason=job.outcome.reason,
                message=job.outcome.message,
                sha256=job.outcome.sha256,
                survey_id=survey_id,
            )
            result.quarantined[job.outcome.reason] = (
                result.quarantined.get(job.outcome.reason, 0) + 1
            )
            result.problems.append(job.outcome)
            update.update(state="quarantined", reason=job.outcome.reason)
            updates.append(update)
            continue
        image = images[job.item_id]
        if (
            job.detections is not None
            and mv_id is not None
            and detection_queries.record_run(
                db_session=session,
                image=image,
                model_version_id=mv_id,
                detections=positioned.get(job.item_id, job.detections),
            )
        ):
            result.detections += len(job.detections)
        if job.sha256 in inserted and not job.duplicate:
            result.stored += 1
            result.image_ids.append(image.id)
            update.update(state="stored", image_id=image.id)
        else:
            result.duplicates += 1
            update.update(state="duplicate", image_id=image.id)
        updates.append(update)
    batch_queries.set_item_states(db_session=session, updates=updates)


def inbox_destination(path: Path, inbox: Path | str, folder: str) -> Path:
    """Where inbox file ``path`` goes: ``folder`` (``processed`` or ``quarantine``) beside the
    inbox, keeping the path below the inbox. A name already taken there gets a UTC timestamp
    before its suffix, so nothing is ever overwritten. The path returned is free now, but may be
    taken before the file moves: record the path :func:`move_inbox_file` returns, never this."""
    root = Path(inbox)
    try:
        relative = path.relative_to(root)
    except ValueError:
        relative = Path(path.name)
    return _free_name(root.parent / folder / relative)


def _free_name(plain: Path) -> Path:
    """``plain``, or when a file has that name, the name with a UTC timestamp before its suffix."""
    target = plain
    while target.exists():  # same name seen before: keep both
        target = plain.with_name(f"{plain.stem}.{utcnow():%Y%m%dT%H%M%S%f}{plain.suffix}")
    return target


def move_inbox_file(path: Path, target: Path) -> Path | None:
    """Move ``path`` to ``target`` (from :func:`inbox_destination`), never overwriting; returns
    where it went (a timestamped name when ``target`` was taken meanwhile, even in the instant
    before the move), or None when it is no longer there or cannot be moved (logged; the caller
    records nothing for it, so it is tried again later)."""
    if not path.exists():
        return None
    chosen = target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_MOVE_TRIES):
            try:
                move_no_overwrite(path, target)
                break
            except FileExistsError:
                if _same_file(path, target):  # linked there by a run that died: finish it
                    path.unlink()
                    break
                target = _free_name(chosen)  # taken since it was chosen: keep both
        else:
            raise FileExistsError(errno.EEXIST, f"no free name after {_MOVE_TRIES} tries", chosen)
    except OSError as exc:
        log.error("cannot move %s to %s (%s); it stays where it is", path, target, exc)
        return None
    if target != chosen:
        log.warning("%s: %s was taken meanwhile; moved to %s instead", path, chosen, target)
    return target


_MOVE_TRIES = 20

#: What os.link raises where hard links cannot be made: another filesystem, or one without them.
_NO_HARD_LINK = frozenset(
    {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}
)


def move_no_overwrite(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``; FileExistsError if ``target`` exists, whenever it appeared.

    A rename would silently replace a file another worker put there between any check and the
    move; a hard link never replaces one. Across filesystems the file is copied beside the
    target first (a hidden ``.part`` name) and linked from there, so ``target`` only ever
    appears whole. A crash after the link and before the source is removed leaves both names
    on the same file: the next move sees that (:func:`_same_file`) and removes the source."""
    if not _hard_link(source, target):
        _copy_into_place(source, target)
    source.unlink()


def _hard_link(source: Path, target: Path) -> bool:
    """``os.link``; False where hard links cannot be made (FileExistsError and others raise)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINK:
            raise
        return False
    return True


def _copy_into_place(source: Path, target: Path) -> None:
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    shutil.copy2(source, part)
    try:
        if not _hard_link(part, target):
            # no hard links on this filesystem: claim the name, then put the copy over the claim
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _folder_of(job: _Job) -> str:
    return "quarantine" if isinstance(job.outcome, Rejected) else "processed"


def _journal_path(inbox: str, batch_id: str, chunk: int) -> Path:
    """The chunk's journal of moves (see the module doc): hidden, so no scan takes it."""
    return Path(inbox) / f".wastemap-chunk-{batch_id}-{chunk}.json"


def _move_out(
    jobs: list[_Job], *, inbox: str, journal: Path, folder_of: Callable[[_Job], str]
) -> tuple[dict[int, Path], set[int]]:
    """Move the chunk's files out of the inbox, each to ``folder_of(job)`` beside it, the plan
    written to ``journal`` first. Returns where each file is now (the path to record), and the
    items to leave pending, unrecorded: a file that cannot be moved or is gone since it was read,
    and a copy of such a file within the chunk (its image is stored with the file it copies). A
    file already in its folder (moved there by a run that died) stays there."""
    plan, left = _plan_moves(jobs, inbox, folder_of)
    movable = True
    if any(target != job.where for job, target in plan):
        try:
            _write_journal(journal, {job.item_id: _entry(job, target) for job, target in plan})
        except OSError as exc:
            log.error("cannot write %s (%s): the files stay where they are, pending", journal, exc)
            movable = False
    placed: dict[int, Path] = {}
    held = {j.sha256 for j in jobs if j.item_id in left and _is_new_image(j)}  # left pending
    for job, target in plan:
        if job.duplicate and job.sha256 in held:
            left.add(job.item_id)  # a copy in the chunk waits for the file it copies
        elif target == job.where:
            placed[job.item_id] = target
        elif movable and (moved := move_inbox_file(job.where, target)) is not None:
            placed[job.item_id] = moved
        else:
            left.add(job.item_id)
        if job.item_id in left and _is_new_image(job):
            held.add(job.sha256)
    return placed, left


def _is_new_image(job: _Job) -> bool:
    """Whether the job stores a new image (its copies in the chunk are its duplicates)."""
    return isinstance(job.outcome, Accepted) and not job.duplicate


def _plan_moves(
    jobs: list[_Job], inbox: str, folder_of: Callable[[_Job], str]
) -> tuple[list[tuple[_Job, Path]], set[int]]:
    """Each file there and where it goes, in the chunk's order; and the items whose file is gone
    since it was read (left pending: the next run tells). A file never read and not there
    (unreadable) is neither: it is recorded as it is."""
    root = Path(inbox).parent
    plan: list[tuple[_Job, Path]] = []
    gone: set[int] = set()
    for job in jobs:
        if not job.where.exists():
            if job.sha256 is not None:
                gone.add(job.item_id)
            continue
        folder = folder_of(job)
        if job.where.is_relative_to(root / folder):  # moved there by a run that died
            plan.append((job, job.where))
        else:
            plan.append((job, inbox_destination(job.path, inbox, folder)))
    return plan, gone


def _entry(job: _Job, target: Path) -> dict[str, Any]:
    """A journal entry: where the file is, where it goes, and what it holds."""
    return {
        "from": str(job.where),
        "to": str(target),
        "sha256": job.sha256,
        "size": _size(job.where),
    }


def _write_journal(path: Path, entries: dict[int, dict[str, Any]]) -> None:
    tmp = path.with_name(f"{path.name}.tmp")
    with tmp.open("w") as handle:
        json.dump({str(k): v for k, v in entries.items()}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _settle_journal(journal: Path, left: set[int], chunk: str) -> None:
    """After the chunk's commit: its journal goes, unless files were left pending (it still says
    where they are for the next run)."""
    if not left:
        _discard_journal(journal)
        return
    log.warning(
        "chunk %s: %d inbox files could not be moved; they stay pending, unrecorded, and the "
        "chunk runs again later (beat re-sends it)",
        chunk,
        len(left),
    )


def _discard_journal(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove %s (%s); it is no longer needed", path, exc)


def _recover(jobs: list[_Job], journal: Path) -> None:
    """Find the files a run that died (or whose transaction failed) had moved before its commit:
    each job's ``where`` becomes the place its journal entry names whose content is the one
    planned (its size and sha256), else stays ``path``."""
    try:
        entries = json.loads(journal.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        log.error("cannot read %s (%s); files it names are not looked for", journal, exc)
        return
    for job in jobs:
        entry = entries.get(str(job.item_id))
        if entry is not None:
            job.where = _located(entry) or job.path


def _located(entry: dict[str, Any]) -> Path | None:
    """Where the file of a journal entry is: where it was, where it was going, or (the name was
    taken meanwhile) that name with a timestamp, the newest first."""
    places = [Path(entry["from"]), Path(entry["to"])]
    if entry.get("sha256") is None:  # never read: where it is, if anywhere
        return next((p for p in places if p.is_file()), None)
    places += sorted(places[1].parent.glob(_renamed_pattern(places[1])), reverse=True)
    return next(
        (p for p in places if _size(p) == entry.get("size") and _sha256_of(p) == entry["sha256"]),
        None,
    )


def _renamed_pattern(target: Path) -> str:
    """The names :func:`move_inbox_file` gives instead of ``target`` when it is taken."""
    return f"{glob.escape(target.stem)}.*{glob.escape(target.suffix)}"


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def _sha256_of(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def mark_chunk_failed(engine: Engine, *, batch_id: str, chunk: int, message: str) -> bool:
    """After the retries: the chunk's pending items end as failed, each in the quarantine with
    reason ``processing_failed`` and the error, so the batch completes instead of looping. Inbox
    files move to ``quarantine/`` beside the inbox (else the next scan would take them again),
    and are recorded where they are; one that cannot be moved stays pending, unrecorded, for the
    chunk's next run (see the module doc).

    Holds the chunk's lock, as a run does (:func:`process_chunk`): while another copy of the
    chunk's task runs it (a late duplicate, a copy beat re-sent), nothing is marked and False is
    returned; that run stores the chunk, or fails and ends it itself. Items already stored when
    the lock is taken stay as they are. True when this call settled the chunk's pending items (none
    left is fine too)."""
    with _chunk_lock(engine, batch_id, chunk) as mine:
        if not mine:
            log.info("chunk %s/%s is running elsewhere; it is left to that run", batch_id, chunk)
            return False
        _mark_failed_locked(engine, batch_id=batch_id, chunk=chunk, message=message)
        return True


def _mark_failed_locked(engine: Engine, *, batch_id: str, chunk: int, message: str) -> int:
    """:func:`mark_chunk_failed` once this process holds the chunk's lock; returns how many items
    it marked failed. Inbox files move first and are then recorded where they are."""
    journal: Path | None = None
    placed: dict[int, Path] = {}
    left: set[int] = set()
    with transaction(engine) as session:
        batch = batch_queries.get(db_session=session, batch_id=batch_id)
        if batch is None:
            return 0
        pending = [
            i
            for i in batch_queries.chunk_items(db_session=session, batch_id=batch_id, chunk=chunk)
            if i.state == "pending"
        ]
        jobs = [_Job(item_id=i.id, path=Path(i.path)) for i in pending]
        if batch.kind == "inbox" and jobs:
            journal = _journal_path(batch.source, batch_id, chunk)
            _recover(jobs, journal)
            for job in jobs:  # what the journal names, to find it again
                job.sha256 = _sha256_of(job.where)
            placed, left = _move_out(
                jobs, inbox=batch.source, journal=journal, folder_of=lambda _job: "quarantine"
            )
        failed = [i for i in pending if i.id not in left]
        for item in failed:
            text = f"{item.path}: processing failed after {item.attempts} attempts: {message}"
            path = placed.get(item.id, Path(item.path))
            if item.id in placed:
                text += f"; moved to {path}, put it back in the inbox to try again"
            quarantine_queries.record(
                db_session=session,
                path=str(path),
                reason="processing_failed",
                message=text,
                survey_id=batch.survey_id,
            )
        batch_queries.set_item_states(
            db_session=session,
            updates=[
                {"id": i.id, "state": "failed", "reason": "processing_failed"} for i in failed
            ],
        )
        batch_queries.finish_if_complete(db_session=session, batch_id=batch_id)
    if journal is not None:
        _settle_journal(journal, left, f"{batch_id}/{chunk}")
    return len(failed)


def run_in_process(
    engine: Engine,
    batch_id: str,
    *,
    options: IngestOptions,
    detector: DetectorLike | None = None,
    detect_batch_size: int = 4,
    track: Track | None = None,
    on_progress: Callable[[ChunkOutcome, int], None] | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Run every pending chunk of a batch here (the embedded default: no broker, no workers)."""
    with transaction(engine) as session:
        batch = batch_queries.get(db_session=session, batch_id=batch_id)
        if batch is None:
            raise ValueError(f"batch {batch_id} does not exist")
        survey = survey_queries.get_name(db_session=session, survey_id=batch.survey_id)
        chunks = batch_queries.chunk_numbers(
            db_session=session, batch_id=batch_id, pending_only=True
        )
        sizes = batch_queries.chunk_sizes(db_session=session, batch_id=batch_id)
    report = report or IngestReport(survey=survey)
    for chunk in chunks:
        outcome = process_chunk(
            engine,
            batch_id=batch_id,
            chunk=chunk,
            options=options,
            detector=detector,
            detect_batch_size=detect_batch_size,
            track=track,
        )
        add_to_report(report, outcome)
        if on_progress is not None:
            on_progress(outcome, sizes.get(chunk, 0))
    return report


def add_to_report(report: IngestReport, outcome: ChunkOutcome) -> None:
    report.ingested += outcome.stored
    report.duplicates += outcome.duplicates
    report.detections += outcome.detections
    for reason, n in outcome.quarantined.items():
        report.quarantined[reason] += n
    report.problems.extend(outcome.problems)
    report.image_ids.extend(outcome.image_ids)


def ingest_files(
    files: Sequence[Path],
    *,
    engine: Engine,
    survey: str,
    options: IngestOptions,
    track: Track | None = None,
    detector: DetectorLike | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    detect_batch_size: int = 4,
    on_progress: Callable[[ChunkOutcome, int], None] | None = None,
    report: IngestReport | None = None,
    source: str | None = None,
) -> IngestReport:
    """Submit ``files`` as a batch and run it in-process; with a ``detector``, detect too."""
    batch_id = submit(
        engine,
        files=files,
        survey=survey,
        source=source or "in-process",
        chunk_size=chunk_size,
        detect=detector is not None,
        track_path=Path(track.path) if track is not None and track.path else None,
    )
    report = report or IngestReport(survey=survey)
    report.batch_id = batch_id
    return run_in_process(
        engine,
        batch_id,
        options=options,
        detector=detector,
        detect_batch_size=detect_batch_size,
        track=track,
        on_progress=on_progress,
        report=report,
    )


def requeue_stale(
    engine: Engine,
    *,
    older_than_s: float,
    send: Callable[[str, int], None],
    queue_length: Callable[[], int | None] | None = None,
) -> list[tuple[str, int]]:
    """Send again the chunks whose task was lost (a broker restart without persistence, a worker
    killed with its task); returns them. Safe to call any time: processing a chunk twice stores
    nothing twice, and a copy delivered while it runs is dropped (:func:`process_chunk`).

    A chunk is re-sent only when none of its pending items was touched (sent, claimed, or a
    heartbeat of its run) for ``older_than_s`` seconds, and it cannot still be waiting in the
    queue: ``queue_length()`` (messages waiting in the broker's queue) is 0, so every such chunk
    was lost; or, while the queue holds messages or cannot be asked (None), the chunk has waited
    untouched at least half its batch's age, so a chunk in a long healthy backlog is sent again
    at ages ``older_than_s``, 2x, 4x, ... (a handful of copies, each a no-op once it has run),
    not every ``older_than_s``.
    """
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=older_than_s)
    with transaction(engine) as session:
        stale = batch_queries.stale_chunks(db_session=session, older_than=cutoff)
    if not stale:
        return []
    waiting = queue_length() if queue_length is not None else None
    if waiting != 0:
        stale = [s for s in stale if now - s.touched_at >= (now - s.batch_created_at) / 2]
    chosen = [(s.batch_id, s.chunk) for s in stale]
    with transaction(engine) as session:
        for batch_id, chunk in chosen:
            batch_queries.touch_chunk(db_session=session, batch_id=batch_id, chunk=chunk)
    for batch_id, chunk in chosen:
        send(batch_id, chunk)
    return chosen
