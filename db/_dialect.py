"""Dialect-specific ``INSERT ... ON CONFLICT`` (PostgreSQL and SQLite share the syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, table: Any) -> Any:
    """An ``INSERT`` construct for ``table`` that supports ``on_conflict_do_*`` on this backend."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"WasteMap supports PostgreSQL/PostGIS and SQLite, not {name!r}")
