"""Fixtures for the worker tests: private Redis and PostgreSQL/PostGIS servers, a detector, and
geotagged photos of real litter (the shared Trash-Filter valid images with EXIF GPS added)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from pipeline import database as dbm
from pipeline._exif import build_exif, splice_exif
from pipeline.queue import WORKER_QUEUES
from tests.workers.services import CeleryProcess, PostgresCluster, RedisServer

T0 = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.init()
    dbm.upgrade(cluster.url)
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_url(private_postgres: PostgresCluster) -> str:
    """The private PostGIS database, emptied before each test."""
    engine = sa.create_engine(private_postgres.url)
    with engine.begin() as conn:
        tables = conn.scalars(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('alembic_version', 'spatial_ref_sys')"
            )
        ).all()
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return private_postgres.url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    """An engine on the emptied private PostGIS database."""
    from db.engine import create_engine

    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def services_env(
    pg_url: str, private_redis: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Settings for worker and beat processes that need no detector (batches submitted with
    ``detect=False``), also set in this test process; the broker is emptied first."""
    redis.Redis.from_url(private_redis.url).flushdb()
    (tmp_path / "inbox").mkdir(exist_ok=True)
    settings = {
        "WASTEMAP_DATABASE_URL": pg_url,
        "WASTEMAP_BROKER_URL": private_redis.url,
        "WASTEMAP_REQUEUE_AFTER_S": "2",  # beat sends its requeue task every second
        "WASTEMAP_HEARTBEAT_S": "1",
        "WASTEMAP_INBOX": str(tmp_path / "inbox"),
        "WASTEMAP_INBOX_SCAN_SECONDS": "1",
        "WASTEMAP_NUM_THREADS": "1",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WASTEMAP_")}
    return {**environment, **settings, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def processes() -> Iterator[list[CeleryProcess]]:
    """Celery processes a test starts itself (``CeleryProcess(...)``), stopped after it."""
    started: list[CeleryProcess] = []
    yield started
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def model_path() -> Path | None:
    """The detector the tests run: the shipped model (None), or WASTEMAP_TEST_MODEL."""
    from models.inference import Detector

    path = (
        Path(os.environ["WASTEMAP_TEST_MODEL"]) if os.environ.get("WASTEMAP_TEST_MODEL") else None
    )
    Detector.load(path)  # fails the fixture with the loader's own message if it is missing
    return path


@pytest.fixture
def worker_env(
    pg_url: str, private_redis: RedisServer, model_path: Path | None, tmp_path: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASTEMAP_")}
    env.update(
        WASTEMAP_DATABASE_URL=pg_url,
        WASTEMAP_BROKER_URL=private_redis.url,
        WASTEMAP_REQUEUE_AFTER_S="6",
        WASTEMAP_HEARTBEAT_S="1",
        WASTEMAP_NUM_THREADS="1",
        WASTEMAP_DETECT_BATCH_SIZE="2",
        PYTHONUNBUFFERED="1",
    )
    if model_path is not None:
        env["WASTEMAP_MODEL_PATH"] = str(model_path)
    return env


@pytest.fixture
def celery(worker_env: dict[str, str], tmp_path: Path) -> Iterator[callable]:
    """Start worker/beat processes; every one still running is stopped after the test."""
    started: list[CeleryProcess] = []

    def start(
        kind: str = "worker",
        *,
        concurrency: int = 1,
        env: dict | None = None,
        queues: str = WORKER_QUEUES,
    ):
        proc = CeleryProcess(
            kind,
            env or worker_env,
            tmp_path,
            f"{kind}{len(started)}",
            concurrency=concurrency,
            queues=queues,
        ).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def litter_photos(shared: Path, out: Path, count: int, *, start_index: int = 0) -> list[Path]:
    """``count`` real litter photos with GPS along a Helsinki street, 2 s apart."""
    images = sorted((shared / "datasets" / "trash-filter" / "valid" / "images").glob("*.jpg"))
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        k = start_index + i
        source = images[k % len(images)]
        exif = build_exif(
            latitude=60.1690 + k * 2e-5,
            longitude=24.9410 + k * 1e-5,
            captured_at=T0 + dt.timedelta(seconds=2 * k),
            make="WasteMap",
            model="test vehicle camera",
        )
        path = out / f"frame_{k:04d}.jpg"
        path.write_bytes(splice_exif(source.read_bytes(), exif))
        paths.append(path)
    return paths
