"""Reviewing detections: the queue, accept / reject / relabel, and the reviewed set for export.

A review never changes what the detector said (``label``, ``category``, ``score``, the box); it
sets ``review_status`` and, for a relabel, ``reviewed_label`` / ``reviewed_category``, with who
and when. Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.map_queries import (
    REVIEW_STATUSES,
    MapFilter,
    detection_conditions,
    effective_category,
    effective_label,
)
from db.schema import Detection, Image, Survey, utcnow

#: Orders the review queue can be sorted by.
QUEUE_ORDERS = ("least confident first", "most confident first", "newest first")


class ReviewError(ValueError):
    """A review cannot be recorded as asked."""


def queue(
    *,
    db_session: Session,
    filt: MapFilter,
    order: str = "least confident first",
    limit: int = 50,
) -> pd.DataFrame:
    """Detections matched by ``filt`` with their image: ``detection_id``, ``image_id``,
    ``original_path``, ``file_name``, ``survey``, ``label``, ``category``, ``score``, the box
    ``x1``..``y2`` (displayed pixels), ``captured_at``, ``review_status``, ``reviewed_label``,
    ``reviewed_category``, ``reviewed_by``."""
    if order not in QUEUE_ORDERS:
        raise ReviewError(f"unknown order {order!r}; use one of {', '.join(QUEUE_ORDERS)}")
    ordering = {
        "least confident first": (Detection.score.asc(), Detection.id),
        "most confident first": (Detection.score.desc(), Detection.id),
        "newest first": (Detection.captured_at.desc(), Detection.id.desc()),
    }[order]
    stmt = (
        sa.select(
            Detection.id.label("detection_id"),
            Detection.image_id,
            Image.original_path,
            Image.file_name,
            Survey.name.label("survey"),
            Detection.label,
            Detection.category,
            Detection.score,
            Detection.x1,
            Detection.y1,
            Detection.x2,
            Detection.y2,
            Detection.captured_at,
            Detection.review_status,
            Detection.reviewed_label,
            Detection.reviewed_category,
            Detection.reviewed_by,
        )
        .join(Image, Image.id == Detection.image_id)
        .join(Survey, Survey.id == Detection.survey_id)
        .where(*detection_conditions(filt))
        .order_by(*ordering)
        .limit(int(limit))
    )
    result = db_session.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def review(
    *,
    db_session: Session,
    detection_ids: Sequence[int],
    status: str,
    reviewer: str,
    label: str | None = None,
    category: str | None = None,
) -> int:
    """Record one decision for ``detection_ids``; returns how many rows changed.

    ``status`` is ``accepted``, ``rejected``, ``relabelled`` (needs ``label`` and ``category``,
    already checked against the taxonomy by the caller) or ``unreviewed`` (undo).
    """
    if status not in REVIEW_STATUSES:
        raise ReviewError(f"unknown review status {status!r}; use one of {REVIEW_STATUSES}")
    if status == "relabelled" and not (label and category):
        raise ReviewError("a relabel needs the new label and its category")
    values: dict[str, Any] = {
        "review_status": status,
        "reviewed_label": label if status == "relabelled" else None,
        "reviewed_category": category if status == "relabelled" else None,
        "reviewed_by": None if status == "unreviewed" else reviewer,
        "reviewed_at": None if status == "unreviewed" else utcnow(),
    }
    ids = [int(i) for i in detection_ids]
    if not ids:
        return 0
    result = db_session.execute(sa.update(Detection).where(Detection.id.in_(ids)).values(**values))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def status_counts(*, db_session: Session, filt: MapFilter | None = None) -> dict[str, int]:
    """Detections per review status (every status present, zeros included)."""
    filt = filt or MapFilter(review_statuses=None)
    stmt = (
        sa.select(Detection.review_status, sa.func.count())
        .where(*detection_conditions(filt))
        .group_by(Detection.review_status)
    )
    counts = dict.fromkeys(REVIEW_STATUSES, 0)
    counts.update({status: int(n) for status, n in db_session.execute(stmt)})
    return counts


def reviewed_set(
    *, db_session: Session, survey_ids: Sequence[int] | None = None
) -> dict[str, pd.DataFrame]:
    """The fully reviewed images and their confirmed boxes, for a training set.

    An image belongs to the set when it has at least one reviewed detection and none left
    unreviewed (an unreviewed box might be real litter, and leaving it out would teach the
    detector that it is background). Returns ``images`` (``image_id``, ``original_path``,
    ``file_name``, ``width``, ``height``, ``survey``) and ``boxes`` (``detection_id``,
    ``image_id``, ``label``, ``category``, ``x1``..``y2``, ``score``, ``review_status``) with
    accepted and relabelled boxes only (rejected ones are not litter).
    """
    pending = sa.select(Detection.image_id).where(Detection.review_status == "unreviewed")
    reviewed = sa.select(Detection.image_id).where(Detection.review_status != "unreviewed")
    image_filter = [Image.id.in_(reviewed), Image.id.not_in(pending)]
    if survey_ids is not None:
        image_filter.append(Image.survey_id.in_(list(survey_ids)))
    images_stmt = (
        sa.select(
            Image.id.label("image_id"),
            Image.original_path,
            Image.file_name,
            Image.width,
            Image.height,
            Survey.name.label("survey"),
        )
        .join(Survey, Survey.id == Image.survey_id)
        .where(*image_filter)
        .order_by(Image.id)
    )
    boxes_stmt = (
        sa.select(
            Detection.id.label("detection_id"),
            Detection.image_id,
            effective_label.label("label"),
            effective_category.label("category"),
            Detection.x1,
            Detection.y1,
            Detection.x2,
            Detection.y2,
            Detection.score,
            Detection.review_status,
        )
        .join(Image, Image.id == Detection.image_id)
        .where(*image_filter, Detection.review_status.in_(["accepted", "relabelled"]))
        .order_by(Detection.image_id, Detection.id)
    )
    out = {}
    for name, stmt in (("images", images_stmt), ("boxes", boxes_stmt)):
        result = db_session.execute(stmt)
        out[name] = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return out
