"""Real Celery workers against a real Redis and PostGIS: same results as in-process, and nothing
lost or duplicated when workers are killed or the broker or database restarts mid-batch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from db.engine import create_engine, transaction
from db.schema import Detection, DetectionRun, Image
from pipeline import database as dbm
from pipeline.batches import ingest_files
from pipeline.detection import load_detector
from pipeline.ingest import IngestOptions
from tests.workers.conftest import litter_photos
from tests.workers.services import wait_for

pytestmark = pytest.mark.slow


def wastemap(env: dict[str, str], *args: str) -> dict:
    """Run the real CLI in a subprocess and parse its --json output."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "wastemap"), *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def progress(env: dict[str, str], batch_id: str) -> dict:
    return wastemap(env, "batches", "status", batch_id)


def detections_by_sha(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    with transaction(engine) as session:
        rows = session.execute(
            sa.select(
                Image.sha256,
                Detection.label,
                Detection.score,
                Detection.x1,
                Detection.y1,
                Detection.x2,
                Detection.y2,
            )
            .join(Detection, Detection.image_id == Image.id)
            .order_by(Image.sha256, Detection.score.desc())
        ).all()
    engine.dispose()
    out: dict[str, list[tuple]] = {}
    for sha, *rest in rows:
        out.setdefault(sha, []).append(tuple(rest))
    return out


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with transaction(engine) as session:
        result = {
            "images": session.scalar(sa.select(sa.func.count(Image.id))),
            "distinct_images": session.scalar(sa.select(sa.func.count(sa.distinct(Image.sha256)))),
            "runs": session.scalar(sa.select(sa.func.count(DetectionRun.id))),
            "detections": session.scalar(sa.select(sa.func.count(Detection.id))),
            "detections_expected": session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(DetectionRun.detections_count), 0))
            ),
        }
    engine.dispose()
    return result


def assert_same_detections(a: dict[str, list[tuple]], b: dict[str, list[tuple]]) -> None:
    assert a.keys() == b.keys()
    for sha in a:
        assert len(a[sha]) == len(b[sha]), sha
        for x, y in zip(a[sha], b[sha], strict=True):
            assert x[0] == y[0]
            assert x[1:] == pytest.approx(y[1:], abs=1e-3)


def wait_done(env: dict[str, str], batch_id: str, *, timeout_s: float = 240) -> dict:
    state: dict = {}

    def done() -> bool:
        state.update(progress(env, batch_id))
        return state["pending"] == 0

    wait_for(done, timeout_s=timeout_s, interval_s=1.0, what=f"batch {batch_id} to finish")
    return state


def test_worker_gives_the_in_process_detections(
    worker_env: dict[str, str], celery, shared_dir: Path, tmp_path: Path, model_path
) -> None:
    photos = litter_photos(shared_dir, tmp_path / "photos", 12)
    sqlite_url = f"sqlite:///{tmp_path / 'inproc.db'}"
    dbm.upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    report = ingest_files(
        photos,
        engine=engine,
        survey="s",
        options=IngestOptions(),
        detector=load_detector(model_path, num_threads=1),
        chunk_size=4,
        detect_batch_size=2,
    )
    engine.dispose()
    assert report.ingested == 12 and report.detections > 0

    celery("worker")
    submitted = wastemap(
        worker_env,
        "ingest",
        str(tmp_path / "photos"),
        "--survey",
        "s",
        "--queue",
        "--chunk-size",
        "4",
    )
    final = wait_done(worker_env, submitted["batch"])
    assert (final["stored"], final["quarantined"], final["failed"]) == (12, 0, 0)
    assert_same_detections(
        detections_by_sha(worker_env["WASTEMAP_DATABASE_URL"]), detections_by_sha(sqlite_url)
    )


def test_kill9_workers_mid_batch(
    worker_env: dict[str, str], celery, shared_dir: Path, tmp_path: Path
) -> None:
    litter_photos(shared_dir, tmp_path / "photos", 24)
    celery("beat")
    worker = celery("worker")
    batch = wastemap(
        worker_env,
        "ingest",
        str(tmp_path / "photos"),
        "--survey",
        "k",
        "--queue",
        "--chunk-size",
        "2",
    )["batch"]
    # kill -9 twice, each time a new worker takes over; early enough that a loaded machine
    # (the poll delayed a few seconds) still kills with chunks left (failed once at 4, 12)
    for kill_after in (4, 8):
        wait_for(
            lambda n=kill_after: progress(worker_env, batch)["done"] >= n,
            timeout_s=180,
            interval_s=0.5,
            what=f"{kill_after} images done",
        )
        worker.kill9()
        assert progress(worker_env, batch)["pending"] > 0, "killed too late to test anything"
        worker = celery("worker")
    final = wait_done(worker_env, batch)
    assert (final["done"], final["quarantined"], final["failed"]) == (24, 0, 0)
    c = counts(worker_env["WASTEMAP_DATABASE_URL"])
    assert c["images"] == c["distinct_images"] == c["runs"] == 24
    assert c["detections"] == c["detections_expected"]  # no detection stored twice


@pytest.mark.parametrize("service", ["redis", "postgres"])
def test_service_restart_mid_batch(
    service: str,
    worker_env: dict[str, str],
    celery,
    shared_dir: Path,
    tmp_path: Path,
    private_redis,
    private_postgres,
) -> None:
    litter_photos(shared_dir, tmp_path / "photos", 16)
    celery("beat")
    celery("worker")
    batch = wastemap(
        worker_env,
        "ingest",
        str(tmp_path / "photos"),
        "--survey",
        service,
        "--queue",
        "--chunk-size",
        "2",
    )["batch"]
    wait_for(
        lambda: progress(worker_env, batch)["done"] >= 4,
        timeout_s=180,
        interval_s=0.5,
        what="4 images done",
    )
    (private_redis if service == "redis" else private_postgres).restart(down_s=3)
    final = wait_done(worker_env, batch)
    assert (final["done"], final["quarantined"], final["failed"]) == (16, 0, 0)
    c = counts(worker_env["WASTEMAP_DATABASE_URL"])
    assert c["images"] == c["distinct_images"] == c["runs"] == 16
    assert c["detections"] == c["detections_expected"]


def test_inbox_waits_for_complete_files(
    worker_env: dict[str, str], celery, shared_dir: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    good = litter_photos(shared_dir, inbox / "tram-7", 2)
    (inbox / "broken.jpg").write_bytes(good[0].read_bytes()[:3000])  # truncated: corrupt
    env = {**worker_env, "WASTEMAP_INBOX": str(inbox), "WASTEMAP_INBOX_SCAN_SECONDS": "1"}
    celery("worker", env=env)
    celery("beat", env=env)
    # A file still being copied (growing) is not taken until it stops changing.
    slow = litter_photos(shared_dir, tmp_path / "src", 1, start_index=5)[0].read_bytes()
    partial = inbox / "tram-7" / "arriving.jpg"
    with partial.open("wb") as handle:
        for start in range(0, len(slow), max(len(slow) // 8, 1)):
            handle.write(slow[start : start + max(len(slow) // 8, 1)])
            handle.flush()
            time.sleep(0.7)
            assert not (tmp_path / "processed" / "tram-7" / "arriving.jpg").exists()
    processed = tmp_path / "processed" / "tram-7"
    wait_for(
        lambda: (
            sorted(p.name for p in processed.glob("*.jpg"))
            == ["arriving.jpg", "frame_0000.jpg", "frame_0001.jpg"]
        ),
        timeout_s=120,
        what="the inbox files to be processed",
    )
    wait_for(
        lambda: (tmp_path / "quarantine" / "broken.jpg").exists(),
        timeout_s=60,
        what="the corrupt file to move to quarantine/",
    )
    engine = create_engine(worker_env["WASTEMAP_DATABASE_URL"])

    def recorded() -> tuple[str | None, list[str]]:
        with engine.connect() as conn:
            reason = conn.scalar(
                sa.text("SELECT reason FROM quarantine WHERE path LIKE '%broken.jpg'")
            )
            return reason, list(conn.scalars(sa.text("SELECT original_path FROM images")))

    # files move before their chunk's transaction commits: the rows follow a moment later
    wait_for(
        lambda: (found := recorded())[0] is not None and len(found[1]) == 3,
        timeout_s=60,
        what="the chunks' rows to be committed",
    )
    reason, paths = recorded()
    engine.dispose()
    assert reason == "corrupt"
    assert all("/processed/tram-7/" in p for p in paths) and len(paths) == 3
    assert not list(inbox.rglob("*.jpg"))  # nothing left behind, nothing deleted
