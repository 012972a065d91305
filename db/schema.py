"""The WasteMap schema (SQLAlchemy 2 declarative models, GeoAlchemy2 geometry on PostGIS).

Rows that the analytics read carry plain ``latitude``/``longitude`` (WGS84 degrees) and H3 cells
computed at write time, so heatmaps and distributions are identical on PostGIS and SQLite. The
``geom`` columns are generated from those plain columns by the database (GiST-indexed on PostGIS)
for PostGIS-side queries and for GIS clients that connect directly.

Changing this file means writing a migration in ``migrations/versions/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db.types import PointGeometry, UTCDateTime, make_point

#: H3 resolutions stored for every image and detection: ~460 m, ~175 m and ~65 m hexagon edges.
H3_RESOLUTIONS: tuple[int, ...] = (8, 9, 10)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}  # noqa: RUF012


def _geom() -> Any:
    """The generated point column over the row's own longitude/latitude."""
    return mapped_column(
        PointGeometry(),
        sa.Computed(
            make_point(sa.literal_column("longitude"), sa.literal_column("latitude")),
            persisted=True,
        ),
        deferred=True,
    )


class Survey(Base):
    """One collection drive or photo set (e.g. 'tram-12 2026-11-20')."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    simulated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    images: Mapped[list[Image]] = relationship(back_populates="survey")


class ModelVersion(Base):
    """A detector checkpoint that produced detections (identified by its file's sha256)."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(200), unique=True)
    checkpoint_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    class_names: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Image(Base):
    """A stored, geotagged photo or video frame. Unique by the sha256 of its content."""

    __tablename__ = "images"
    __table_args__ = (
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        sa.Index(None, "survey_id", "captured_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    original_path: Mapped[str] = mapped_column(sa.Text)
    file_name: Mapped[str] = mapped_column(sa.String(500))
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="RESTRICT"))
    captured_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    latitude: Mapped[float] = mapped_column(sa.Float(precision=53))
    longitude: Mapped[float] = mapped_column(sa.Float(precision=53))
    geom: Mapped[str | None] = _geom()
    position_source: Mapped[str] = mapped_column(sa.String(20))  # 'exif' | 'track'
    h3_r8: Mapped[str] = mapped_column(sa.String(16), index=True)
    h3_r9: Mapped[str] = mapped_column(sa.String(16), index=True)
    h3_r10: Mapped[str] = mapped_column(sa.String(16), index=True)
    width: Mapped[int]
    height: Mapped[int]
    image_format: Mapped[str] = mapped_column(sa.String(10))
    orientation: Mapped[int] = mapped_column(default=1)
    camera_make: Mapped[str | None] = mapped_column(sa.String(200))
    camera_model: Mapped[str | None] = mapped_column(sa.String(200))
    heading_deg: Mapped[float | None]
    status: Mapped[str] = mapped_column(sa.String(20), default="ingested", index=True)
    ingested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    survey: Mapped[Survey] = relationship(back_populates="images")


class DetectionRun(Base):
    """That one model version has detected one image; written in the same transaction as its
    detections, so its presence makes re-detection a no-op (idempotent on sha256 + model)."""

    __tablename__ = "detection_runs"
    __table_args__ = (sa.UniqueConstraint("image_id", "model_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(sa.ForeignKey("images.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(sa.ForeignKey("model_versions.id"))
    detections_count: Mapped[int] = mapped_column(default=0)
    detected_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Detection(Base):
    """One box found by the detector. Time and survey are copied from the image at write time,
    and position and H3 cells are the object's, so that map queries need no join.

    ``latitude``/``longitude`` (and ``geom``, ``h3_r*``) are where the object is best known to
    lie: on the ground ahead of the dash camera, estimated from the bottom of the box with the
    camera model of the settings (``analytics/ground.py``), where that can be done; else the
    camera's, the image's own position. ``position`` says which: ``ground``, or why no estimate
    was made (``no_heading``, ``no_box``, ``above_horizon``, ``too_far``), or ``camera`` for
    rows stored before objects were placed (the next site update places them:
    ``pipeline.sites.update_sites``).
    The camera's position is always the image's (``images`` by ``image_id``)."""

    __tablename__ = "detections"
    __table_args__ = (
        sa.CheckConstraint("score >= 0 AND score <= 1", name="score_range"),
        sa.Index(None, "category", "captured_at"),
        # the rows never placed on the ground (few or none): found at once by each site update
        sa.Index(
            "ix_detections_unplaced",
            "id",
            postgresql_where=sa.text("position = 'camera'"),
            sqlite_where=sa.text("position = 'camera'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        sa.ForeignKey("detection_runs.id", ondelete="CASCADE"), index=True
    )
    image_id: Mapped[int] = mapped_column(
        sa.ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    model_version_id: Mapped[int] = mapped_column(sa.ForeignKey("model_versions.id"))
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(100))
    category: Mapped[str] = mapped_column(sa.String(30))
    score: Mapped[float]
    x1: Mapped[float]
    y1: Mapped[float]
    x2: Mapped[float]
    y2: Mapped[float]
    captured_at: Mapped[dt.datetime | None]
    latitude: Mapped[float] = mapped_column(sa.Float(precision=53))
    longitude: Mapped[float] = mapped_column(sa.Float(precision=53))
    geom: Mapped[str | None] = _geom()
    h3_r8: Mapped[str] = mapped_column(sa.String(16), index=True)
    h3_r9: Mapped[str] = mapped_column(sa.String(16), index=True)
    h3_r10: Mapped[str] = mapped_column(sa.String(16), index=True)
    position: Mapped[str] = mapped_column(sa.String(20), server_default="camera")
    ground_distance_m: Mapped[float | None]  # from the camera, where position is 'ground'
    review_status: Mapped[str] = mapped_column(sa.String(20), default="unreviewed", index=True)
    reviewed_label: Mapped[str | None] = mapped_column(sa.String(100))
    reviewed_category: Mapped[str | None] = mapped_column(sa.String(30))
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(100))
    reviewed_at: Mapped[dt.datetime | None]


class Quarantine(Base):
    """An input that was refused, with a reason code and a message naming the file and the fix.

    One row per (file content or path, reason); seeing the same bad file again bumps
    ``seen_count`` instead of adding a row. ``resolved_at`` is set when the same content is later
    stored (e.g. re-ingested with a GPS track)."""

    __tablename__ = "quarantine"
    __table_args__ = (sa.UniqueConstraint("file_key", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    file_key: Mapped[str] = mapped_column(sa.String(600))  # sha256, or "path:<path>" if unreadable
    sha256: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    path: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.String(40), index=True)
    message: Mapped[str] = mapped_column(sa.Text)
    survey_id: Mapped[int | None] = mapped_column(sa.ForeignKey("surveys.id"))
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    seen_count: Mapped[int] = mapped_column(default=1)
    resolved_at: Mapped[dt.datetime | None]


class Batch(Base):
    """A set of files submitted together (a folder, an inbox scan, a video), processed in chunks
    by workers or in-process. Progress is counted from its items."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)  # uuid4 hex
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id"), index=True)
    source: Mapped[str] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(20), default="folder")  # folder | inbox | video
    status: Mapped[str] = mapped_column(sa.String(20), default="queued", index=True)
    model_version: Mapped[str | None] = mapped_column(sa.String(200))
    track_path: Mapped[str | None] = mapped_column(sa.Text)
    detect: Mapped[bool] = mapped_column(default=True)
    total: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]


class BatchItem(Base):
    """One file of a batch and what became of it: pending, stored, duplicate, quarantined or
    failed (after the retries)."""

    __tablename__ = "batch_items"
    __table_args__ = (sa.UniqueConstraint("batch_id", "path"), sa.Index(None, "batch_id", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[str] = mapped_column(sa.ForeignKey("batches.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(sa.Text)
    chunk: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(sa.String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    image_id: Mapped[int | None] = mapped_column(sa.ForeignKey("images.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person who may log in to the dashboard, with one role: ``viewer`` (reads), ``reviewer``
    (also reviews detections) or ``admin`` (also manages users). Only an Argon2 hash of the
    password is stored."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20), default="viewer")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]


class LoginSession(Base):
    """A dashboard login that outlives the browser tab: the browser keeps a random token in a
    cookie, the database only its SHA-256. Valid until ``expires_at``, until the user logs out, or
    until the account is deactivated or its password changed (which delete the user's rows)."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Site(Base):
    """A litter site: the sightings (detections) of the same litter, in several frames or
    surveys, as one place on the map (see ``analytics/sites.py``). ``status`` is ``active``
    until a later survey passes the place without seeing it (``cleared``, with when and which
    survey). Position, H3 cells and counts are recomputed from the sightings whenever new ones
    join."""

    __tablename__ = "sites"
    __table_args__ = (
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        sa.Index(None, "status", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="active")  # active | cleared
    category_group: Mapped[str] = mapped_column(sa.String(30))
    category: Mapped[str] = mapped_column(sa.String(30), index=True)
    categories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    category_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latitude: Mapped[float] = mapped_column(sa.Float(precision=53))
    longitude: Mapped[float] = mapped_column(sa.Float(precision=53))
    geom: Mapped[str | None] = _geom()
    h3_r8: Mapped[str] = mapped_column(sa.String(16), index=True)
    h3_r9: Mapped[str] = mapped_column(sa.String(16), index=True)
    h3_r10: Mapped[str] = mapped_column(sa.String(16), index=True)
    radius_m: Mapped[float] = mapped_column(default=0.0)
    first_seen_at: Mapped[dt.datetime | None]
    last_seen_at: Mapped[dt.datetime | None]
    sightings: Mapped[int] = mapped_column(default=0)
    detections: Mapped[int] = mapped_column(default=0)
    surveys: Mapped[int] = mapped_column(default=0)
    objects: Mapped[int] = mapped_column(default=0)
    estimated_amount_l: Mapped[float] = mapped_column(default=0.0)
    hazardous: Mapped[bool] = mapped_column(default=False)
    max_score: Mapped[float] = mapped_column(default=0.0)
    cleared_at: Mapped[dt.datetime | None]
    cleared_by_survey_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("surveys.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SiteDetection(Base):
    """Which site a detection is a sighting of (each detection belongs to at most one)."""

    __tablename__ = "site_detections"

    detection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("detections.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"), index=True)
