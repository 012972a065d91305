"""Queries on surveys."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._dialect import insert_for
from db.schema import Image, Survey


def get_by_name(*, db_session: Session, name: str) -> Survey | None:
    return db_session.scalar(sa.select(Survey).where(Survey.name == name))


def get_name(*, db_session: Session, survey_id: int) -> str:
    return db_session.scalar(sa.select(Survey.name).where(Survey.id == survey_id)) or ""


def get_or_create(
    *, db_session: Session, name: str, description: str | None = None, simulated: bool = False
) -> Survey:
    """The survey called ``name``, created if missing (safe when two processes race)."""
    stmt = (
        insert_for(db_session, Survey)
        .values(name=name, description=description, simulated=simulated)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    db_session.execute(stmt)
    survey = get_by_name(db_session=db_session, name=name)
    assert survey is not None
    return survey


def list_with_counts(*, db_session: Session) -> list[dict[str, object]]:
    """Every survey with its number of images, first and last capture time."""
    stmt = (
        sa.select(
            Survey.id,
            Survey.name,
            Survey.simulated,
            sa.func.count(Image.id).label("images"),
            sa.func.min(Image.captured_at).label("first_captured_at"),
            sa.func.max(Image.captured_at).label("last_captured_at"),
        )
        .outerjoin(Image, Image.survey_id == Survey.id)
        .group_by(Survey.id, Survey.name, Survey.simulated)
        .order_by(Survey.name)
    )
    return [dict(row._mapping) for row in db_session.execute(stmt)]
