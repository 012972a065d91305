"""Opening the configured database and running its migrations (Alembic, configured in code)."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from db.engine import create_engine, redacted_url
from pipeline.errors import DatabaseNotAtHeadError, DatabaseUnavailableError


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` pointing at the ``migrations`` package."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(url: str) -> str:
    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to the database at {redacted_url(str(engine.url))}: "
            f"{str(exc.orig).strip().splitlines()[0]}. Check WASTEMAP_DATABASE_URL and that the "
            "server is running."
        ) from exc


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def open_database(url: str) -> Engine:
    """An engine for ``url``, after checking that its schema is at the latest migration.

    Raises :class:`DatabaseNotAtHeadError` naming the database, its revision and the command that
    fixes it.
    """
    engine = create_engine(url)
    current = current_revision(engine)
    head = head_revision(url)
    if current != head:
        engine.dispose()
        where = redacted_url(url)
        if current is None:
            raise DatabaseNotAtHeadError(
                f"the database at {where} has no WasteMap schema yet. "
                "Run `wastemap db upgrade` to create it."
            )
        raise DatabaseNotAtHeadError(
            f"the database at {where} is at revision {current}, but this WasteMap needs {head}. "
            "Run `wastemap db upgrade` (or upgrade WasteMap if the database is newer)."
        )
    return engine
