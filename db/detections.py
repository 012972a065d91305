"""Queries on detections and detection runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._dialect import insert_for
from db.map_queries import MapFilter, detection_conditions, effective_category, effective_label
from db.schema import Detection, DetectionRun, Image, Survey, utcnow

#: Columns a caller gives for each detection; the rest is copied from the image.
DETECTION_FIELDS = ("label", "category", "score", "x1", "y1", "x2", "y2")


def record_run(
    *,
    db_session: Session,
    image: Image,
    model_version_id: int,
    detections: Sequence[Mapping[str, Any]],
) -> bool:
    """Store what ``model_version_id`` found on ``image``, exactly once.

    Writes the run marker and its detections in the caller's transaction. If this (image, model
    version) was stored before, by this or any other process, nothing is written and ``False`` is
    returned; otherwise ``True``.
    """
    run_id = db_session.scalar(
        insert_for(db_session, DetectionRun)
        .values(
            image_id=image.id,
            model_version_id=model_version_id,
            detections_count=len(detections),
            detected_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["image_id", "model_version_id"])
        .returning(DetectionRun.id)
    )
    if run_id is None:
        return False
    if detections:
        common = {
            "run_id": run_id,
            "image_id": image.id,
            "model_version_id": model_version_id,
            "survey_id": image.survey_id,
            "captured_at": image.captured_at,
            "latitude": image.latitude,
            "longitude": image.longitude,
            "h3_r8": image.h3_r8,
            "h3_r9": image.h3_r9,
            "h3_r10": image.h3_r10,
        }
        rows = [{**common, **{k: d[k] for k in DETECTION_FIELDS}} for d in detections]
        db_session.execute(sa.insert(Detection), rows)
    db_session.execute(sa.update(Image).where(Image.id == image.id).values(status="detected"))
    return True


def detected_sha256(
    *, db_session: Session, sha256s: Iterable[str], model_version_id: int
) -> set[str]:
    """Which of the stored images ``sha256s`` this model version has already detected."""
    wanted = list(set(sha256s))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        stmt = (
            sa.select(Image.sha256)
            .join(DetectionRun, DetectionRun.image_id == Image.id)
            .where(
                Image.sha256.in_(wanted[start : start + 500]),
                DetectionRun.model_version_id == model_version_id,
            )
        )
        found.update(db_session.scalars(stmt))
    return found


def count(*, db_session: Session, survey_id: int | None = None) -> int:
    stmt = sa.select(sa.func.count(Detection.id))
    if survey_id is not None:
        stmt = stmt.where(Detection.survey_id == survey_id)
    return int(db_session.scalar(stmt) or 0)


def counts_by_category(*, db_session: Session, survey_id: int | None = None) -> dict[str, int]:
    stmt = sa.select(Detection.category, sa.func.count()).group_by(Detection.category)
    if survey_id is not None:
        stmt = stmt.where(Detection.survey_id == survey_id)
    return {category: int(n) for category, n in db_session.execute(stmt)}


def frame(
    *, db_session: Session, survey: str | None = None, filt: MapFilter | None = None
) -> pd.DataFrame:
    """Detections as a data frame (one row per box, with its image's file and survey).

    ``label`` and ``category`` are what reviewers decided where they relabelled a box (the
    model's own are ``model_label`` and ``model_category``); ``filt`` selects as the map does
    (dates, surveys, categories, confidence, review status).
    """
    stmt = (
        sa.select(
            Detection.id.label("detection_id"),
            Detection.image_id,
            Image.sha256,
            Image.file_name,
            Survey.name.label("survey"),
            effective_label.label("label"),
            effective_category.label("category"),
            Detection.score,
            Detection.x1,
            Detection.y1,
            Detection.x2,
            Detection.y2,
            Detection.captured_at,
            Detection.latitude,
            Detection.longitude,
            Detection.h3_r9,
            Detection.review_status,
            Detection.label.label("model_label"),
            Detection.category.label("model_category"),
        )
        .join(Image, Image.id == Detection.image_id)
        .join(Survey, Survey.id == Detection.survey_id)
        .where(*(detection_conditions(filt) if filt is not None else ()))
        .order_by(Detection.captured_at, Detection.id)
    )
    if survey is not None:
        stmt = stmt.where(Survey.name == survey)
    rows = db_session.execute(stmt).mappings().all()
    return pd.DataFrame(rows, columns=list(stmt.selected_columns.keys()))
