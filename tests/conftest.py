"""Shared fixtures: real databases (PostGIS and SQLite), the shared data folder, image makers.

Every storage test takes the ``db_url`` fixture and so runs twice: on the machine's PostgreSQL 15
+ PostGIS (a database created for this test session) and on a SQLite file. ``make test`` installs
and starts PostgreSQL/PostGIS when missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import database as dbm

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WASTEMAP_SHARED", REPO.parent / "shared"))
PG_ADMIN_URL = os.environ.get(
    "WASTEMAP_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)

# Tests never read a developer's .env or environment by accident.
for _name in list(os.environ):
    if _name.startswith("WASTEMAP_") and not _name.startswith(
        ("WASTEMAP_TEST_", "WASTEMAP_SHARED")
    ):
        del os.environ[_name]
os.environ["WASTEMAP_ENV_FILE"] = ""  # nor a .env file in the folder they run from


def _admin_engine() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared data folder {SHARED} is missing; set WASTEMAP_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def postgis_server() -> Iterator[str]:
    """A fresh PostGIS database for this test session (dropped at the end)."""
    name = f"wastemap_test_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.orig}); run make test")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                "AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgis_at_head(postgis_server: str) -> str:
    dbm.upgrade(postgis_server)
    return postgis_server


def _truncate_postgis(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = conn.scalars(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('alembic_version', 'spatial_ref_sys')"
            )
        ).all()
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["postgis", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at the latest migration, empty, on each backend in turn."""
    if request.param == "postgis":
        url = request.getfixturevalue("postgis_at_head")
        _truncate_postgis(url)
        yield url
        _truncate_postgis(url)
    else:
        url = f"sqlite:///{tmp_path / 'wastemap.db'}"
        dbm.upgrade(url)
        yield url


@pytest.fixture
def db_engine(db_url: str) -> Iterator[sa.Engine]:
    from db.engine import create_engine

    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the CLI at the test database."""
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", db_url)
    return db_url
