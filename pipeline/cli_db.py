"""``wastemap db upgrade | downgrade | current``: the schema migrations (Alembic)."""

from __future__ import annotations

import typer

from pipeline._cli_common import err_console, reports_errors, settings

db_app = typer.Typer(help="Create or migrate the database schema (Alembic).", no_args_is_help=True)


@db_app.command("upgrade")
@reports_errors
def upgrade(
    revision: str = typer.Argument("head", help="Target revision (default: the latest)."),
) -> None:
    """Migrate the database at WASTEMAP_DATABASE_URL up to REVISION (creating it if needed)."""
    from db.engine import create_engine, redacted_url
    from pipeline import database as dbm

    url = settings().database_url
    dbm.current_revision(create_engine(url))  # a clear message if the server is down
    dbm.upgrade(url, revision)
    err_console.print(f"database {redacted_url(url)} is at {revision}")


@db_app.command("downgrade")
@reports_errors
def downgrade(
    revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base."),
) -> None:
    """Migrate the database down to REVISION ('base' removes every WasteMap table)."""
    from db.engine import redacted_url
    from pipeline import database as dbm

    url = settings().database_url
    dbm.downgrade(url, revision)
    err_console.print(f"database {redacted_url(url)} downgraded to {revision}")


@db_app.command("current")
@reports_errors
def current() -> None:
    """Print the database's revision and whether it is the latest."""
    from db.engine import create_engine
    from pipeline import database as dbm

    url = settings().database_url
    engine = create_engine(url)
    try:
        rev = dbm.current_revision(engine)
    finally:
        engine.dispose()
    head = dbm.head_revision(url)
    state = "latest" if rev == head else f"not the latest ({head}); run `wastemap db upgrade`"
    typer.echo(f"{rev or 'empty (no WasteMap schema)'} ({state})")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
