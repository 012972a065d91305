"""The inbox: a folder vehicles drop files into, scanned on a schedule (Celery beat).

A scan takes the files whose size and modification time have not changed since the previous
scan (a file still being copied waits for the next one), skips files already pending in a batch,
and submits the images (JPEG, PNG, HEIC/HEIF) as one batch per survey: files directly in the inbox
go to the default survey, files in a sub-folder to the survey named after it. As a chunk is
stored its files move to ``processed/`` or ``quarantine/`` beside the inbox (moved, then recorded
where they landed), and a chunk that
keeps failing moves its files to ``quarantine/`` too (see :mod:`pipeline.batches`). Any other
file (a video, a GPS track) goes straight to ``quarantine/``, recorded with reason
``unsupported_type`` and a message naming the command that ingests it. Nothing is ever deleted.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path

from sqlalchemy.engine import Engine

from db import batches as batch_queries
from db import quarantine as quarantine_queries
from db import surveys as survey_queries
from db.engine import transaction
from pipeline.batches import (
    DEFAULT_CHUNK_SIZE,
    inbox_destination,
    move_inbox_file,
    move_no_overwrite,
    submit,
)
from pipeline.ingest import IMAGE_EXTENSIONS, discover

STATE_FILE = ".wastemap-scan.json"

#: Files the inbox cannot take but ``wastemap ingest-video`` / ``--track`` can (lower-case).
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".mts", ".ts", ".webm"})
TRACK_EXTENSIONS = frozenset({".gpx", ".csv"})

log = logging.getLogger(__name__)


def _snapshot(files: list[Path]) -> dict[str, list[int]]:
    out = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        out[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return out


def stable_files(inbox: Path) -> list[Path]:
    """Files under ``inbox`` (hidden ones aside) unchanged since the previous call (state kept in
    the inbox)."""
    state_path = inbox / STATE_FILE
    try:
        previous = json.loads(state_path.read_text())
    except (OSError, ValueError):
        previous = {}
    images, others = discover(inbox)
    now = _snapshot(images + others)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(now))
    os.replace(tmp, state_path)
    return [Path(p) for p, sig in now.items() if previous.get(p) == sig]


def scan_inbox(
    engine: Engine,
    inbox: Path,
    *,
    default_survey: str = "inbox",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    detect: bool = True,
) -> list[tuple[str, list[int]]]:
    """Submit the inbox's complete, not yet submitted images, and move its complete other files
    to the quarantine (:func:`quarantine_unsupported`). Returns (batch id, chunks) pairs."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} does not exist; create it or fix WASTEMAP_INBOX")
    stable = [p for p in stable_files(inbox) if not is_partial_upload(p)]
    ready = [p for p in stable if p.suffix.lower() in IMAGE_EXTENSIONS]
    with transaction(engine) as session:
        pending = batch_queries.pending_paths(
            db_session=session, paths=[str(p.absolute()) for p in ready]
        )
    by_survey: dict[str, list[Path]] = defaultdict(list)
    for path in ready:
        if str(path.absolute()) in pending:
            continue
        by_survey[_survey_of(path, inbox, default_survey)].append(path)
    submitted = []
    for survey, files in sorted(by_survey.items()):
        batch_id = submit(
            engine,
            files=files,
            survey=survey,
            source=str(inbox.absolute()),
            kind="inbox",
            chunk_size=chunk_size,
            detect=detect,
        )
        with transaction(engine) as session:
            chunks = batch_queries.chunk_numbers(db_session=session, batch_id=batch_id)
        submitted.append((batch_id, chunks))
    quarantine_unsupported(  # after the batches, so they are recorded with their survey
        engine,
        inbox,
        [p for p in stable if p.suffix.lower() not in IMAGE_EXTENSIONS],
        default_survey=default_survey,
    )
    return submitted


#: Names uploaders give a file while it is still arriving (renamed when complete): a stalled
#: upload is left alone, never quarantined.
PARTIAL_UPLOAD_SUFFIXES = frozenset(
    {".part", ".partial", ".filepart", ".crdownload", ".download", ".tmp", ".temp", ".!sync"}
)


def is_partial_upload(path: Path) -> bool:
    """Whether ``path`` is named like a file still being uploaded (``x.jpg.part``, ``x.tmp``,
    ``~x``)."""
    return path.suffix.lower() in PARTIAL_UPLOAD_SUFFIXES or path.name.startswith("~")


def _survey_of(path: Path, inbox: Path, default_survey: str) -> str:
    relative = path.relative_to(inbox)
    return relative.parts[0] if len(relative.parts) > 1 else default_survey


def quarantine_unsupported(
    engine: Engine, inbox: Path, files: list[Path], *, default_survey: str = "inbox"
) -> list[Path]:
    """Move inbox files that are not images to ``quarantine/`` beside the inbox, each recorded
    with reason ``unsupported_type`` and the command that ingests it. Returns where they went.

    Each file is moved first and then recorded with the path it really has (a name taken
    meanwhile, say by another scan, gets a timestamp). A file that cannot be moved is not
    recorded: it stays in the inbox (logged) and the next scan tries again. When the recording
    fails, the moved files go back to the inbox, so none sits in ``quarantine/`` unrecorded."""
    moved: dict[Path, Path] = {}
    for path in files:
        target = move_inbox_file(path, inbox_destination(path, inbox, "quarantine"))
        if target is not None:  # None: moved by another scan, or it cannot be moved (logged)
            moved[path] = target
    if not moved:
        return []
    try:
        with transaction(engine) as session:
            messages = []
            for path, target in moved.items():
                name = _survey_of(path, inbox, default_survey)
                survey = survey_queries.get_by_name(db_session=session, name=name)
                message = _unsupported_message(path, target, moved, name)
                messages.append(message)
                quarantine_queries.record(
                    db_session=session,
                    path=str(target),
                    reason="unsupported_type",
                    message=message,
                    survey_id=survey.id if survey is not None else None,
                )
    except BaseException:
        _put_back(moved)
        raise
    for message in messages:
        log.warning("%s", message)
    return list(moved.values())


def _put_back(moved: dict[Path, Path]) -> None:
    """Move files back into the inbox after their quarantine rows could not be written (the
    next scan takes them again); one that cannot go back is logged with the fix."""
    for path, target in moved.items():
        problem = None
        try:
            move_no_overwrite(target, path)
        except FileExistsError:
            problem = f"{path} exists again"  # never overwritten
        except OSError as exc:
            problem = str(exc)
        if problem is not None:
            log.error(
                "%s was moved to %s but could not be recorded in the quarantine, nor moved back "
                "(%s); put it back in the inbox by hand",
                path,
                target,
                problem,
            )


def _unsupported_message(
    path: Path, target: Path, destinations: dict[Path, Path], survey: str
) -> str:
    """Why the inbox refused ``path`` (now at ``target``) and the command that takes it instead;
    ``destinations`` maps the files moved with it to where they are."""
    suffix = path.suffix.lower()
    head = f"{path}: the inbox takes only JPEG, PNG and HEIC/HEIF photos; moved to {target}"
    if suffix in VIDEO_EXTENSIONS:
        tracks = [  # its track, arriving with it or moved by an earlier scan
            t
            for p, t in destinations.items()
            if p.parent == path.parent and p.stem == path.stem and p.suffix.lower() == ".gpx"
        ] + [t for t in [target.parent / f"{path.stem}.gpx"] if t.exists()]
        track = tracks[0] if tracks else "TRACK.gpx"
        return (
            f"{head}. It is a video: ingest it with "
            f"`wastemap ingest-video {target} --track {track} --survey {survey}`"
        )
    if suffix in TRACK_EXTENSIONS:
        return (
            f"{head}. It looks like a GPS track: use it with `wastemap ingest-video VIDEO --track "
            f"{target}` or `wastemap ingest PHOTOS/ --survey {survey} --track {target}`"
        )
    return f"{head}. Convert it to JPEG or PNG and put it back in the inbox, or remove it"
