"""Queries on the quarantine (inputs that were refused, with their reason)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._dialect import insert_for
from db.schema import Quarantine, utcnow


def record(
    *,
    db_session: Session,
    path: str,
    reason: str,
    message: str,
    sha256: str | None = None,
    survey_id: int | None = None,
) -> None:
    """Quarantine one input. The same file (by content, else by path) refused again for the same
    reason updates its row (``seen_count``, ``last_seen_at``, message) instead of adding one."""
    now = utcnow()
    file_key = sha256 if sha256 else f"path:{path}"
    stmt = insert_for(db_session, Quarantine).values(
        file_key=file_key,
        sha256=sha256,
        path=path,
        reason=reason,
        message=message,
        survey_id=survey_id,
        first_seen_at=now,
        last_seen_at=now,
        seen_count=1,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["file_key", "reason"],
        set_={
            "path": stmt.excluded.path,
            "message": stmt.excluded.message,
            "last_seen_at": stmt.excluded.last_seen_at,
            "seen_count": Quarantine.seen_count + 1,
            "resolved_at": None,
        },
    )
    db_session.execute(stmt)


def resolve(*, db_session: Session, sha256s: Iterable[str]) -> int:
    """Mark open quarantine rows of these contents as resolved (they are stored now)."""
    wanted = list(set(sha256s))
    if not wanted:
        return 0
    result = db_session.execute(
        sa.update(Quarantine)
        .where(Quarantine.sha256.in_(wanted), Quarantine.resolved_at.is_(None))
        .values(resolved_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def counts_by_reason(*, db_session: Session, include_resolved: bool = False) -> dict[str, int]:
    stmt = sa.select(Quarantine.reason, sa.func.count()).group_by(Quarantine.reason)
    if not include_resolved:
        stmt = stmt.where(Quarantine.resolved_at.is_(None))
    return {reason: int(n) for reason, n in db_session.execute(stmt)}


def frame(*, db_session: Session, include_resolved: bool = False) -> pd.DataFrame:
    stmt = sa.select(
        Quarantine.id,
        Quarantine.path,
        Quarantine.sha256,
        Quarantine.reason,
        Quarantine.message,
        Quarantine.seen_count,
        Quarantine.first_seen_at,
        Quarantine.last_seen_at,
        Quarantine.resolved_at,
    ).order_by(Quarantine.last_seen_at.desc(), Quarantine.id)
    if not include_resolved:
        stmt = stmt.where(Quarantine.resolved_at.is_(None))
    rows = db_session.execute(stmt).mappings().all()
    return pd.DataFrame(rows, columns=list(stmt.selected_columns.keys()))
