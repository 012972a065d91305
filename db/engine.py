"""Engines and transactions.

Query functions in ``db/`` never commit; the caller (a CLI command, a Celery task, a dashboard
page) opens one transaction with :func:`transaction` and owns it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker


class DatabaseUrlError(ValueError):
    """WASTEMAP_DATABASE_URL is not a URL of a database WasteMap can use (the CLI reports it as
    one line: ``db`` imports nothing of the packages above it)."""


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with WasteMap's connection settings.

    SQLite gets foreign keys on, WAL journaling and a 30 s busy timeout (several processes may
    write); PostgreSQL gets pre-ping so that connections survive a server restart.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back if it raises."""
    with session_factory(engine)() as session, session.begin():
        yield session


def parse_url(url: str) -> URL:
    """``url`` parsed; :class:`DatabaseUrlError` if it is not the URL of a database SQLAlchemy
    can open (its message shows no password)."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        shown, why = _masked(url), ""
    else:
        try:
            parsed.get_dialect()
            return parsed
        except sa.exc.NoSuchModuleError:
            shown = parsed.render_as_string(hide_password=True)
            why = f" (unknown database or driver {parsed.drivername!r})"
    raise DatabaseUrlError(
        f"WASTEMAP_DATABASE_URL '{shown}' is not a database URL{why}; use e.g. "
        "sqlite:////path/wastemap.db or postgresql+psycopg2://user@host/db"
    )


def _masked(text: str) -> str:
    """``text`` with what comes before its last '@' (perhaps a user name and password) hidden,
    but a leading scheme (``postgresql://``) kept."""
    if "@" not in text:
        return text
    head, host = text.rsplit("@", 1)
    scheme = re.match(r"[A-Za-z][\w+.-]*:?//", head)
    return f"{scheme.group() if scheme else ''}***@{host}"


def redacted_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return parse_url(url).render_as_string(hide_password=True)
