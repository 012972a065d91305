"""Queries on litter sites and their sightings (``sites``, ``site_detections``).

The clustering itself is ``analytics/sites.py``; ``pipeline/sites.py`` runs it and calls these
functions inside one transaction that it owns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._dialect import insert_for
from db.detections import PLACEMENT_FIELDS
from db.map_queries import effective_category
from db.schema import Detection, Image, Site, SiteDetection, Survey

#: A latitude/longitude box in degrees: (min_lat, min_lon, max_lat, max_lon).
Bounds = tuple[float, float, float, float]

SITE_STATUSES: tuple[str, ...] = ("active", "cleared")
_CHUNK = 500
_LOCK_KEY = 0x5173_5173  # pg_advisory_xact_lock key of site updates


def lock_for_update(*, db_session: Session) -> None:
    """Serialise site updates: one at a time, until the caller's transaction ends.

    On PostgreSQL a transaction-scoped advisory lock; on SQLite the database write lock, taken
    now rather than at the first write (so two processes never cluster the same sightings).
    """
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    else:
        db_session.execute(sa.update(Site).where(sa.false()).values(status=Site.status))


def _chunks(values: Sequence[Any]) -> Iterable[list[Any]]:
    values = list(values)
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _in_bounds(lat: Any, lon: Any, bounds: Bounds | None) -> list[Any]:
    if bounds is None:
        return []
    min_lat, min_lon, max_lat, max_lon = bounds
    return [lat.between(min_lat, max_lat), lon.between(min_lon, max_lon)]


#: What a sighting is made of: the detection, its box, and the frame's position (the camera's),
#: heading and size. Sites place every sighting from the camera with the camera model they are
#: given (``analytics.ground.object_positions``), not from the detection's stored position, so
#: they follow the current settings whatever the detections were stored with.
_SIGHTING_FIELDS = (
    Detection.id.label("detection_id"),
    Detection.image_id,
    Detection.model_version_id,
    Detection.survey_id,
    effective_category.label("category"),
    Detection.score,
    Detection.captured_at,
    *PLACEMENT_FIELDS,
)
SIGHTING_COLUMNS: tuple[str, ...] = tuple(str(f.key) for f in _SIGHTING_FIELDS)


def unassigned_detections(*, db_session: Session, min_score: float = 0.0) -> pd.DataFrame:
    """Detections that are no site's sighting yet (reviewers' rejections left out), with the
    reviewed category where a reviewer relabelled one.

    Columns: :data:`SIGHTING_COLUMNS` (``latitude``/``longitude`` are the camera's, the
    image's; the box and the frame's heading and size place the object on the ground).
    """
    assigned = sa.select(SiteDetection.detection_id).where(
        SiteDetection.detection_id == Detection.id
    )
    stmt = (
        sa.select(*_SIGHTING_FIELDS)
        .join(Image, Image.id == Detection.image_id)
        .where(~sa.exists(assigned), Detection.review_status != "rejected")
        .order_by(Detection.captured_at, Detection.id)
    )
    if min_score > 0:
        stmt = stmt.where(Detection.score >= float(min_score))
    return _frame(db_session, stmt)


def _frame(db_session: Session, stmt: Any) -> pd.DataFrame:
    rows = db_session.execute(stmt).mappings().all()
    return pd.DataFrame(rows, columns=list(stmt.selected_columns.keys()))


def open_sites(*, db_session: Session, bounds: Bounds | None = None) -> pd.DataFrame:
    """Sites new sightings may join (all of them: cleared ones take late-arriving sightings),
    within ``bounds`` when given. Columns: ``site``, ``status``, ``category_group``,
    ``latitude``, ``longitude``, ``cleared_at``, ``cleared_by_survey_id``."""
    stmt = sa.select(
        Site.id.label("site"),
        Site.status,
        Site.category_group,
        Site.latitude,
        Site.longitude,
        Site.cleared_at,
        Site.cleared_by_survey_id,
    ).where(*_in_bounds(Site.latitude, Site.longitude, bounds))
    return _frame(db_session, stmt)


def create(*, db_session: Session, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert site rows; returns their ids in the order of ``rows``."""
    ids = []
    for row in rows:
        ids.append(int(db_session.scalar(sa.insert(Site).values(**row).returning(Site.id))))
    return ids


def add_sightings(*, db_session: Session, links: Sequence[tuple[int, int]]) -> int:
    """Record ``(detection_id, site_id)`` pairs; a detection already on a site keeps it.

    Returns how many were new.
    """
    added = 0
    for chunk in _chunks(links):
        stmt = (
            insert_for(db_session, SiteDetection)
            .values([{"detection_id": d, "site_id": s} for d, s in chunk])
            .on_conflict_do_nothing(index_elements=["detection_id"])
            .returning(SiteDetection.detection_id)
        )
        added += len(db_session.scalars(stmt).all())
    return added


def sightings(*, db_session: Session, site_ids: Iterable[int]) -> pd.DataFrame:
    """Every sighting of ``site_ids``: ``site`` plus :data:`SIGHTING_COLUMNS`."""
    frames = []
    for chunk in _chunks(sorted(set(site_ids))):
        stmt = (
            sa.select(SiteDetection.site_id.label("site"), *_SIGHTING_FIELDS)
            .join(Detection, Detection.id == SiteDetection.detection_id)
            .join(Image, Image.id == Detection.image_id)
            .where(SiteDetection.site_id.in_(chunk))
        )
        frames.append(_frame(db_session, stmt))
    if not frames:
        return pd.DataFrame(columns=["site", *SIGHTING_COLUMNS])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def sites_of(*, db_session: Session, detection_ids: Iterable[int]) -> set[int]:
    """The sites that ``detection_ids`` are sightings of."""
    found: set[int] = set()
    for chunk in _chunks(sorted(set(detection_ids))):
        stmt = sa.select(SiteDetection.site_id).where(SiteDetection.detection_id.in_(chunk))
        found.update(int(v) for v in db_session.scalars(stmt))
    return found


def remove_rejected_sightings(*, db_session: Session, detection_ids: Iterable[int]) -> int:
    """Detections of ``detection_ids`` that reviewers rejected stop being sightings; returns
    how many were."""
    removed = 0
    for chunk in _chunks(sorted(set(detection_ids))):
        rejected = sa.select(Detection.id).where(
            Detection.id.in_(chunk), Detection.review_status == "rejected"
        )
        result = db_session.execute(
            sa.delete(SiteDetection).where(SiteDetection.detection_id.in_(rejected))
        )
        removed += int(result.rowcount or 0)
    return removed


def delete(*, db_session: Session, site_ids: Iterable[int]) -> int:
    """Delete sites (and their sightings); returns how many there were."""
    deleted = 0
    for chunk in _chunks(sorted(set(site_ids))):
        result = db_session.execute(sa.delete(Site).where(Site.id.in_(chunk)))
        deleted += int(result.rowcount or 0)
    return deleted


def update(*, db_session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Update sites by primary key: each row holds ``id`` and the columns to set."""
    for row in rows:
        values = {k: v for k, v in row.items() if k != "id"}
        db_session.execute(sa.update(Site).where(Site.id == row["id"]).values(**values))


def images_near(
    *, db_session: Session, bounds: Bounds, after: dt.datetime | None = None
) -> pd.DataFrame:
    """Frames (with or without detections) inside ``bounds``, taken after ``after``.

    Columns: ``image_id``, ``survey_id``, ``captured_at``, ``latitude``, ``longitude``.
    """
    stmt = sa.select(
        Image.id.label("image_id"),
        Image.survey_id,
        Image.captured_at,
        Image.latitude,
        Image.longitude,
    ).where(*_in_bounds(Image.latitude, Image.longitude, bounds), Image.captured_at.is_not(None))
    if after is not None:
        stmt = stmt.where(Image.captured_at > after)
    return _frame(db_session, stmt)


def image_positions(*, db_session: Session, image_ids: Iterable[int]) -> pd.DataFrame:
    """``image_id``, ``latitude``, ``longitude`` of ``image_ids``."""
    frames = [
        _frame(
            db_session,
            sa.select(Image.id.label("image_id"), Image.latitude, Image.longitude).where(
                Image.id.in_(chunk)
            ),
        )
        for chunk in _chunks(sorted(set(image_ids)))
    ]
    if not frames:
        return pd.DataFrame(columns=["image_id", "latitude", "longitude"])
    return pd.concat(frames, ignore_index=True)


def clearing_candidates(
    *, db_session: Session, bounds: Bounds | None = None, site_ids: Iterable[int] = ()
) -> pd.DataFrame:
    """Sites whose clearing is to be (re)decided: active ones within ``bounds`` (all active
    ones when ``bounds`` is None) and every one of ``site_ids``.

    Columns: ``site``, ``status``, ``latitude``, ``longitude``, ``last_seen_at``,
    ``cleared_at``, ``cleared_by_survey_id``, ``survey_ids`` (the surveys that saw it).
    """
    wanted = sorted(set(site_ids))
    condition: Any = sa.and_(
        Site.status == "active", *_in_bounds(Site.latitude, Site.longitude, bounds)
    )
    if wanted:
        condition = sa.or_(condition, Site.id.in_(wanted))
    stmt = sa.select(
        Site.id.label("site"),
        Site.status,
        Site.latitude,
        Site.longitude,
        Site.last_seen_at,
        Site.cleared_at,
        Site.cleared_by_survey_id,
    ).where(condition)
    frame = _frame(db_session, stmt)
    surveys: dict[int, list[int]] = {}
    for chunk in _chunks(frame["site"].tolist()):
        seen = (
            sa.select(SiteDetection.site_id, Detection.survey_id)
            .join(Detection, Detection.id == SiteDetection.detection_id)
            .where(SiteDetection.site_id.in_(chunk))
            .distinct()
        )
        for site_id, survey_id in db_session.execute(seen):
            surveys.setdefault(int(site_id), []).append(int(survey_id))
    frame["survey_ids"] = [sorted(surveys.get(int(s), [])) for s in frame["site"]]
    return frame


def frame(
    *,
    db_session: Session,
    status: str | None = "active",
    since: dt.datetime | None = None,
    survey: str | None = None,
    site_ids: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Sites as a data frame, most recently seen first.

    Parameters
    ----------
    status
        ``active``, ``cleared``, or None for both.
    since
        Only sites last seen at or after this time.
    survey
        Only sites that this survey (by name) saw.
    site_ids
        Only these sites.
    """
    stmt = sa.select(
        Site.id.label("site"),
        Site.status,
        Site.category,
        Site.categories,
        Site.category_counts,
        Site.latitude,
        Site.longitude,
        Site.radius_m,
        Site.first_seen_at,
        Site.last_seen_at,
        Site.sightings,
        Site.detections,
        Site.surveys,
        Site.objects,
        Site.estimated_amount_l,
        Site.hazardous,
        Site.max_score,
        Site.h3_r9,
        Site.cleared_at,
        Survey.name.label("cleared_by_survey"),
    ).outerjoin(Survey, Survey.id == Site.cleared_by_survey_id)
    if status is not None:
        stmt = stmt.where(Site.status == status)
    if since is not None:
        stmt = stmt.where(Site.last_seen_at >= since)
    if survey is not None:
        seen_by = (
            sa.select(SiteDetection.site_id)
            .join(Detection, Detection.id == SiteDetection.detection_id)
            .join(Survey, Survey.id == Detection.survey_id)
            .where(SiteDetection.site_id == Site.id, Survey.name == survey)
        )
        stmt = stmt.where(sa.exists(seen_by))
    if site_ids is not None:
        stmt = stmt.where(Site.id.in_(list(site_ids)))
    stmt = stmt.order_by(Site.last_seen_at.desc(), Site.id)
    return _frame(db_session, stmt)


def delete_all(*, db_session: Session) -> int:
    """Forget every site and sighting (before clustering everything again); returns how many
    sites there were."""
    n = int(db_session.scalar(sa.select(sa.func.count(Site.id))) or 0)
    db_session.execute(sa.delete(SiteDetection))
    db_session.execute(sa.delete(Site))
    return n


def counts_by_status(*, db_session: Session) -> dict[str, int]:
    counts = dict.fromkeys(SITE_STATUSES, 0)
    stmt = sa.select(Site.status, sa.func.count()).group_by(Site.status)
    counts.update({status: int(n) for status, n in db_session.execute(stmt)})
    return counts
