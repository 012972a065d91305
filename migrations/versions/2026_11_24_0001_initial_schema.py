"""Initial schema: surveys, model versions, images, detection runs, detections, quarantine.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import PointGeometry, UTCDateTime, make_point

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _geom() -> sa.Column:
    return sa.Column(
        "geom",
        PointGeometry(),
        sa.Computed(
            make_point(sa.literal_column("longitude"), sa.literal_column("latitude")),
            persisted=True,
        ),
        nullable=True,
    )


def _h3_columns() -> list[sa.Column]:
    return [sa.Column(f"h3_r{res}", sa.String(16), nullable=False) for res in (8, 9, 10)]


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("simulated", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_surveys"),
        sa.UniqueConstraint("name", name="uq_surveys_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(64)),
        sa.Column("class_names", sa.JSON, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("version", name="uq_model_versions_version"),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("original_path", sa.Text, nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("captured_at", UTCDateTime()),
        sa.Column("latitude", sa.Float(precision=53), nullable=False),
        sa.Column("longitude", sa.Float(precision=53), nullable=False),
        _geom(),
        sa.Column("position_source", sa.String(20), nullable=False),
        *_h3_columns(),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("image_format", sa.String(10), nullable=False),
        sa.Column("orientation", sa.Integer, nullable=False),
        sa.Column("camera_make", sa.String(200)),
        sa.Column("camera_model", sa.String(200)),
        sa.Column("heading_deg", sa.Float),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
        sa.UniqueConstraint("sha256", name="uq_images_sha256"),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name="fk_images_survey_id_surveys", ondelete="RESTRICT"
        ),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_images_latitude_range")),
        sa.CheckConstraint(
            "longitude BETWEEN -180 AND 180", name=op.f("ck_images_longitude_range")
        ),
    )
    op.create_index("ix_images_captured_at", "images", ["captured_at"])
    op.create_index("ix_images_survey_id_captured_at", "images", ["survey_id", "captured_at"])
    op.create_index("ix_images_status", "images", ["status"])
    for res in (8, 9, 10):
        op.create_index(f"ix_images_h3_r{res}", "images", [f"h3_r{res}"])

    op.create_table(
        "detection_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.Integer, nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("detections_count", sa.Integer, nullable=False),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_detection_runs"),
        sa.UniqueConstraint(
            "image_id", "model_version_id", name="uq_detection_runs_image_id_model_version_id"
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name="fk_detection_runs_image_id_images",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_detection_runs_model_version_id_model_versions",
        ),
    )
    op.create_table(
        "detections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("image_id", sa.Integer, nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("x1", sa.Float, nullable=False),
        sa.Column("y1", sa.Float, nullable=False),
        sa.Column("x2", sa.Float, nullable=False),
        sa.Column("y2", sa.Float, nullable=False),
        sa.Column("captured_at", UTCDateTime()),
        sa.Column("latitude", sa.Float(precision=53), nullable=False),
        sa.Column("longitude", sa.Float(precision=53), nullable=False),
        _geom(),
        *_h3_columns(),
        sa.Column("review_status", sa.String(20), nullable=False),
        sa.Column("reviewed_label", sa.String(100)),
        sa.Column("reviewed_category", sa.String(30)),
        sa.Column("reviewed_by", sa.String(100)),
        sa.Column("reviewed_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_detections"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["detection_runs.id"],
            name="fk_detections_run_id_detection_runs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name="fk_detections_image_id_images", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_detections_model_version_id_model_versions",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name="fk_detections_survey_id_surveys"
        ),
        sa.CheckConstraint("score >= 0 AND score <= 1", name=op.f("ck_detections_score_range")),
    )
    op.create_index("ix_detections_run_id", "detections", ["run_id"])
    op.create_index("ix_detections_image_id", "detections", ["image_id"])
    op.create_index("ix_detections_survey_id", "detections", ["survey_id"])
    op.create_index("ix_detections_review_status", "detections", ["review_status"])
    op.create_index("ix_detections_category_captured_at", "detections", ["category", "captured_at"])
    for res in (8, 9, 10):
        op.create_index(f"ix_detections_h3_r{res}", "detections", [f"h3_r{res}"])

    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_key", sa.String(600), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("survey_id", sa.Integer),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("seen_count", sa.Integer, nullable=False),
        sa.Column("resolved_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
        sa.UniqueConstraint("file_key", "reason", name="uq_quarantine_file_key_reason"),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name="fk_quarantine_survey_id_surveys"
        ),
    )
    op.create_index("ix_quarantine_sha256", "quarantine", ["sha256"])
    op.create_index("ix_quarantine_reason", "quarantine", ["reason"])

    if _is_postgresql():
        # GiST indexes for PostGIS-side spatial queries and GIS clients (QGIS) reading directly.
        op.create_index("ix_images_geom", "images", ["geom"], postgresql_using="gist")
        op.create_index("ix_detections_geom", "detections", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_table("detections")
    op.drop_table("detection_runs")
    op.drop_table("images")
    op.drop_table("model_versions")
    op.drop_table("surveys")
