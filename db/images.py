"""Queries on images."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._dialect import insert_for
from db.schema import Image, Survey


def get(*, db_session: Session, image_id: int) -> Image | None:
    return db_session.get(Image, image_id)


def get_by_sha256(*, db_session: Session, sha256: str) -> Image | None:
    return db_session.scalar(sa.select(Image).where(Image.sha256 == sha256))


def existing_sha256(*, db_session: Session, sha256s: Iterable[str]) -> set[str]:
    """Which of ``sha256s`` are already stored."""
    wanted = list(set(sha256s))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(db_session.scalars(sa.select(Image.sha256).where(Image.sha256.in_(chunk))))
    return found


def create_many(*, db_session: Session, rows: list[Mapping[str, Any]]) -> set[str]:
    """Insert image rows, skipping any whose sha256 is already stored.

    Returns the sha256 of the rows this call inserted (the others were duplicates, possibly
    inserted concurrently by another process).
    """
    if not rows:
        return set()
    stmt = (
        insert_for(db_session, Image)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(Image.sha256)
    )
    return set(db_session.scalars(stmt))


def count(*, db_session: Session, survey_id: int | None = None) -> int:
    stmt = sa.select(sa.func.count(Image.id))
    if survey_id is not None:
        stmt = stmt.where(Image.survey_id == survey_id)
    return int(db_session.scalar(stmt) or 0)


def frame(
    *,
    db_session: Session,
    survey: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Images as a data frame (one row per image, plain columns, survey name included), taken
    at or after ``start`` and before ``end`` when given."""
    stmt = (
        sa.select(
            Image.id.label("image_id"),
            Image.sha256,
            Image.file_name,
            Image.original_path,
            Survey.name.label("survey"),
            Survey.simulated,
            Image.captured_at,
            Image.latitude,
            Image.longitude,
            Image.position_source,
            Image.heading_deg,
            Image.width,
            Image.height,
            Image.image_format,
            Image.camera_make,
            Image.camera_model,
            Image.h3_r8,
            Image.h3_r9,
            Image.h3_r10,
            Image.status,
            Image.ingested_at,
        )
        .join(Survey, Survey.id == Image.survey_id)
        .order_by(Image.captured_at, Image.id)
    )
    if survey is not None:
        stmt = stmt.where(Survey.name == survey)
    if start is not None:
        stmt = stmt.where(Image.captured_at >= start)
    if end is not None:
        stmt = stmt.where(Image.captured_at < end)
    rows = db_session.execute(stmt).mappings().all()
    return pd.DataFrame(rows, columns=list(stmt.selected_columns.keys()))


def ids_by_sha256(*, db_session: Session, sha256s: Iterable[str]) -> list[int]:
    """The ids of the stored images with these sha256, ordered by id."""
    wanted = list(set(sha256s))
    ids: list[int] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        ids.extend(db_session.scalars(sa.select(Image.id).where(Image.sha256.in_(chunk))))
    return sorted(ids)
