"""Litter sites and which detections are sightings of them.

Revision ID: 0004_sites
Revises: 0003_users
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import PointGeometry, UTCDateTime, make_point

revision = "0004_sites"
down_revision = "0003_users"
branch_labels = None
depends_on = None


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("category_group", sa.String(30), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("category_counts", sa.JSON, nullable=False),
        sa.Column("latitude", sa.Float(precision=53), nullable=False),
        sa.Column("longitude", sa.Float(precision=53), nullable=False),
        sa.Column(
            "geom",
            PointGeometry(),
            sa.Computed(
                make_point(sa.literal_column("longitude"), sa.literal_column("latitude")),
                persisted=True,
            ),
            nullable=True,
        ),
        *[sa.Column(f"h3_r{res}", sa.String(16), nullable=False) for res in (8, 9, 10)],
        sa.Column("radius_m", sa.Float, nullable=False),
        sa.Column("first_seen_at", UTCDateTime()),
        sa.Column("last_seen_at", UTCDateTime()),
        sa.Column("sightings", sa.Integer, nullable=False),
        sa.Column("detections", sa.Integer, nullable=False),
        sa.Column("surveys", sa.Integer, nullable=False),
        sa.Column("objects", sa.Integer, nullable=False),
        sa.Column("estimated_amount_l", sa.Float, nullable=False),
        sa.Column("hazardous", sa.Boolean, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("cleared_at", UTCDateTime()),
        sa.Column("cleared_by_survey_id", sa.Integer),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_sites_latitude_range")),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name=op.f("ck_sites_longitude_range")),
        sa.ForeignKeyConstraint(
            ["cleared_by_survey_id"],
            ["surveys.id"],
            name=op.f("fk_sites_cleared_by_survey_id_surveys"),
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_sites_status_last_seen_at", "sites", ["status", "last_seen_at"])
    op.create_index("ix_sites_category", "sites", ["category"])
    for res in (8, 9, 10):
        op.create_index(f"ix_sites_h3_r{res}", "sites", [f"h3_r{res}"])
    op.create_table(
        "site_detections",
        sa.Column("detection_id", sa.Integer, nullable=False),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("detection_id", name=op.f("pk_site_detections")),
        sa.ForeignKeyConstraint(
            ["detection_id"],
            ["detections.id"],
            name=op.f("fk_site_detections_detection_id_detections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_detections_site_id_sites"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_site_detections_site_id", "site_detections", ["site_id"])
    if _is_postgresql():
        op.create_index("ix_sites_geom", "sites", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("site_detections")
    op.drop_table("sites")
