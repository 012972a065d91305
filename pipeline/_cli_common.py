"""Helpers shared by the CLI command modules: settings, database, one-line errors.

The command modules import only what their options need at module level (typer, pathlib, enums,
constants from modules that import nothing heavy): everything else (pandas, SQLAlchemy, the
detector, Celery, PyAV, ...) is imported inside the command that uses it, so that
``wastemap --help`` starts fast. ``tests/pipeline/test_cli_imports.py`` keeps it so.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from pipeline.errors import WasteMapError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from pipeline.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

#: Human-readable output goes to stderr so that ``--json`` output on stdout stays clean.
err_console = Console(stderr=True)


def fail(message: str, *, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def reports_errors(func: F) -> F:
    """Turn the errors a user can cause into one clear line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except WasteMapError as exc:
            raise fail(str(exc)) from None
        except (FileNotFoundError, ValueError) as exc:
            if type(exc).__module__.split(".")[0] in {"pipeline", "models", "analytics", "db"}:
                raise fail(str(exc)) from None
            raise

    return wrapper  # type: ignore[return-value]


def settings() -> Settings:
    from pipeline.settings import get_settings

    try:
        return get_settings()
    except Exception as exc:  # pydantic ValidationError: a bad WASTEMAP_* variable
        raise fail(f"invalid WASTEMAP_* setting: {exc}") from None


def database(cfg: Settings | None = None) -> Engine:
    """The configured database, checked to be at the latest migration."""
    from pipeline.database import open_database

    cfg = cfg or settings()
    return open_database(cfg.database_url)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
