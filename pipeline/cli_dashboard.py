"""``wastemap dashboard`` and ``wastemap users add | list | set-password``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer
from rich.table import Table

from db.roles import ROLES  # no imports: db.users (SQLAlchemy, argon2) is imported when used
from pipeline._cli_common import database, err_console, fail, reports_errors, settings

users_app = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)

#: The dashboard's entry script (inside the installed ``dashboard`` package).
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def streamlit_command(*, port: int, address: str, app: Path = APP) -> list[str]:
    """The ``streamlit run`` command line the dashboard is served with: headless, the static
    folder served (Leaflet's files, so no page needs a CDN), no usage statistics sent."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--server.enableStaticServing",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
        "--theme.primaryColor",
        "#0f766e",
        "--theme.backgroundColor",
        "#ffffff",
        "--theme.secondaryBackgroundColor",
        "#f3f5f7",
        "--theme.textColor",
        "#1f2937",
    ]


@reports_errors
def dashboard(
    port: int = typer.Option(8501, "--port", help="Port to serve on."),
    address: str = typer.Option("127.0.0.1", "--address", help="Address to listen on."),
) -> None:
    """Serve the dashboard (Streamlit) for the database at WASTEMAP_DATABASE_URL."""
    from db import users as user_queries
    from db.engine import transaction

    cfg = settings()
    engine = database(cfg)  # fails with a clear message when the schema is not at the head
    try:
        with transaction(engine) as session:
            if user_queries.count(db_session=session) == 0:
                err_console.print(
                    "[yellow]no dashboard users yet:[/] create one with "
                    "`wastemap users add NAME --role admin`"
                )
    finally:
        engine.dispose()
    if not APP.exists():
        raise fail(f"the dashboard entry script {APP} is missing; reinstall WasteMap")
    err_console.print(f"WasteMap dashboard on http://{address}:{port}")
    result = subprocess.run(streamlit_command(port=port, address=address), env=os.environ.copy())
    raise typer.Exit(result.returncode)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
@reports_errors
def add(
    username: str = typer.Argument(..., help="The login name."),
    role: str = typer.Option("viewer", "--role", help=f"One of: {', '.join(ROLES)}."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Create a dashboard user with ROLE (asks for the password unless --password-stdin)."""
    from db import users as user_queries
    from db.engine import transaction
    from db.users import UserError

    if role not in ROLES:
        raise fail(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    password = _read_password(password_stdin)
    engine = database()
    try:
        with transaction(engine) as session:
            user_queries.create(db_session=session, username=username, password=password, role=role)
    except UserError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    err_console.print(f"added user {username!r} with role {role}")


@users_app.command("set-password")
@reports_errors
def set_password(
    username: str = typer.Argument(..., help="The login name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Give USERNAME a new password."""
    from db import users as user_queries
    from db.engine import transaction
    from db.users import UserError

    password = _read_password(password_stdin)
    engine = database()
    try:
        with transaction(engine) as session:
            user_queries.set_password(db_session=session, username=username, password=password)
    except UserError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    err_console.print(f"password of {username!r} changed")


@users_app.command("list")
@reports_errors
def list_users(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List the dashboard users with their roles (never their passwords)."""
    from db import users as user_queries
    from db.engine import transaction

    engine = database()
    try:
        with transaction(engine) as session:
            rows = user_queries.list_all(db_session=session)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    table = Table("username", "role", "active", "last login (UTC)")
    for row in rows:
        last = row["last_login_at"]
        table.add_row(
            str(row["username"]),
            str(row["role"]),
            "yes" if row["active"] else "no",
            f"{last:%Y-%m-%d %H:%M}" if last else "never",
        )
    err_console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` and ``users`` to ``app``."""
    app.command("dashboard")(dashboard)
    app.add_typer(users_app, name="users")
