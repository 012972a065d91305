"""The inbox: a folder vehicles drop files into, scanned on a schedule (Celery beat).

A scan takes the image files whose size and modification time have not changed since the previous
scan (a file still being copied waits for the next one), skips files already pending in a batch,
and submits one batch per survey: files directly in the inbox go to the default survey, files in a
sub-folder to the survey named after it. Once a chunk is stored its files move to ``processed/``
or ``quarantine/`` beside the inbox (see :mod:`pipeline.batches`); nothing is ever deleted.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

from sqlalchemy.engine import Engine

from db import batches as batch_queries
from db.engine import transaction
from pipeline.batches import DEFAULT_CHUNK_SIZE, submit
from pipeline.ingest import discover

STATE_FILE = ".wastemap-scan.json"


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
    """Image files under ``inbox`` unchanged since the previous call (state kept in the inbox)."""
    state_path = inbox / STATE_FILE
    try:
        previous = json.loads(state_path.read_text())
    except (OSError, ValueError):
        previous = {}
    files, _ = discover(inbox)
    now = _snapshot(files)
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
    """Submit the inbox's complete, not yet submitted files. Returns (batch id, chunks) pairs."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} does not exist; create it or fix WASTEMAP_INBOX")
    ready = stable_files(inbox)
    with transaction(engine) as session:
        pending = batch_queries.pending_paths(
            db_session=session, paths=[str(p.absolute()) for p in ready]
        )
    by_survey: dict[str, list[Path]] = defaultdict(list)
    for path in ready:
        if str(path.absolute()) in pending:
            continue
        relative = path.relative_to(inbox)
        survey = relative.parts[0] if len(relative.parts) > 1 else default_survey
        by_survey[survey].append(path)
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
    return submitted
