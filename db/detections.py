"""Queries on detections and detection runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import h3
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db._dialect import insert_for
from db.map_queries import MapFilter, detection_conditions, effective_category, effective_label
from db.schema import H3_RESOLUTIONS, Detection, DetectionRun, Image, Survey, utcnow

#: Columns a caller gives for each detection; the rest is copied from the image.
DETECTION_FIELDS = ("label", "category", "score", "x1", "y1", "x2", "y2")
#: Where the caller placed a detection (optional): the object's ``latitude``/``longitude``,
#: ``position`` (``ground`` or why not) and ``ground_distance_m`` (None unless ``ground``).
POSITION_FIELDS = ("latitude", "longitude", "position", "ground_distance_m")
#: ``position`` of a detection at its image's position because nobody placed it.
CAMERA = "camera"


def _positioned(
    latitude: float, longitude: float, position: str, distance_m: Any
) -> dict[str, Any]:
    """The position columns of a detection at ``latitude``/``longitude`` (H3 cells computed
    here, as ``pipeline/ingest.py`` computes the image's)."""
    lat, lon = float(latitude), float(longitude)
    distance = None if distance_m is None or distance_m != distance_m else float(distance_m)
    return {
        "latitude": lat,
        "longitude": lon,
        **{f"h3_r{res}": h3.latlng_to_cell(lat, lon, res) for res in H3_RESOLUTIONS},
        "position": position,
        "ground_distance_m": distance,
    }


def record_run(
    *,
    db_session: Session,
    image: Image,
    model_version_id: int,
    detections: Sequence[Mapping[str, Any]],
) -> bool:
    """Store what ``model_version_id`` found on ``image``, exactly once.

    Each detection gives :data:`DETECTION_FIELDS` and, where the caller placed the object
    (``pipeline.detection.place_detections``), :data:`POSITION_FIELDS`; one without a
    ``latitude`` is stored at the image's position with ``position = 'camera'``.

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
        }
        at_camera = {
            "latitude": image.latitude,
            "longitude": image.longitude,
            "h3_r8": image.h3_r8,
            "h3_r9": image.h3_r9,
            "h3_r10": image.h3_r10,
            "position": CAMERA,
            "ground_distance_m": None,
        }
        rows = [
            {
                **common,
                **{k: d[k] for k in DETECTION_FIELDS},
                **(
                    at_camera
                    if d.get("latitude") is None
                    else _positioned(
                        d["latitude"],
                        d["longitude"],
                        d.get("position") or "ground",
                        d.get("ground_distance_m"),
                    )
                ),
            }
            for d in detections
        ]
        db_session.execute(sa.insert(Detection), rows)
    db_session.execute(sa.update(Image).where(Image.id == image.id).values(status="detected"))
    return True


#: What places a detection on the ground (``analytics.ground.object_positions``): the camera's
#: position (the image's), the frame's heading and size, and the box. Selected with a join to
#: ``images``.
PLACEMENT_FIELDS = (
    Image.latitude,
    Image.longitude,
    Image.heading_deg,
    Image.width,
    Image.height,
    Detection.x1,
    Detection.y1,
    Detection.x2,
    Detection.y2,
)


def placement_input(
    *, db_session: Session, after_id: int = 0, limit: int = 5000, only_unplaced: bool = False
) -> pd.DataFrame:
    """What places detections on the ground, for the first ``limit`` with an id above
    ``after_id`` (in id order, so that a caller pages through all of them); with
    ``only_unplaced``, only those never placed (``position = 'camera'``, by a partial index).

    Columns: ``detection_id``, ``latitude``/``longitude`` (the camera's: the image's), the
    frame's ``heading_deg``, ``width`` and ``height``, and the box ``x1``, ``y1``, ``x2``,
    ``y2`` (what ``analytics.ground.object_positions`` takes).
    """
    stmt = (
        sa.select(Detection.id.label("detection_id"), *PLACEMENT_FIELDS)
        .join(Image, Image.id == Detection.image_id)
        .where(Detection.id > int(after_id))
        .order_by(Detection.id)
        .limit(int(limit))
    )
    if only_unplaced:
        stmt = stmt.where(Detection.position == CAMERA)
    rows = db_session.execute(stmt).mappings().all()
    return pd.DataFrame(rows, columns=list(stmt.selected_columns.keys()))


def set_positions(*, db_session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Move detections to where they were placed: each row holds ``id`` and
    :data:`POSITION_FIELDS` (H3 cells are computed here). One executemany ``UPDATE`` by
    primary key; returns how many rows were given."""
    if not rows:
        return 0
    values = [
        {
            "id": int(row["id"]),
            **_positioned(
                row["latitude"], row["longitude"], row["position"], row.get("ground_distance_m")
            ),
        }
        for row in rows
    ]
    db_session.execute(sa.update(Detection), values)
    return len(values)


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

    ``latitude``/``longitude`` are the object's (see :class:`db.schema.Detection`; ``position``
    says where they come from, ``ground_distance_m`` how far ahead of the camera it lay), and
    ``camera_latitude``/``camera_longitude``/``camera_heading_deg`` where the photo was taken.

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
            Detection.position,
            Detection.ground_distance_m,
            Image.latitude.label("camera_latitude"),
            Image.longitude.label("camera_longitude"),
            Image.heading_deg.label("camera_heading_deg"),
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
