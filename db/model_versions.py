"""Queries on detector model versions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._dialect import insert_for
from db.schema import ModelVersion


def get_by_version(*, db_session: Session, version: str) -> ModelVersion | None:
    return db_session.scalar(sa.select(ModelVersion).where(ModelVersion.version == version))


def get_or_create(
    *,
    db_session: Session,
    version: str,
    checkpoint_sha256: str | None = None,
    class_names: list[str] | None = None,
    details: dict[str, Any] | None = None,
) -> ModelVersion:
    stmt = (
        insert_for(db_session, ModelVersion)
        .values(
            version=version,
            checkpoint_sha256=checkpoint_sha256,
            class_names=class_names or [],
            details=details or {},
        )
        .on_conflict_do_nothing(index_elements=["version"])
    )
    db_session.execute(stmt)
    found = get_by_version(db_session=db_session, version=version)
    assert found is not None
    return found


def latest(*, db_session: Session) -> ModelVersion | None:
    return db_session.scalar(
        sa.select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
    )
