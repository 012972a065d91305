"""Detections at the object's position: where it came from, and how far from the camera.

``detections.latitude``/``longitude`` (and ``geom``, ``h3_r*``) become the object's best known
position, estimated on the ground ahead of the dash camera where possible. Rows stored before
keep the camera's position, marked ``position = 'camera'``; ``wastemap sites update --rebuild``
places them.

Revision ID: 0006_detection_positions
Revises: 0005_login_sessions
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_detection_positions"
down_revision = "0005_login_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends: the constant default fills the existing rows without
    # rewriting the table (PostgreSQL 11+, SQLite).
    op.add_column(
        "detections",
        sa.Column("position", sa.String(20), server_default="camera", nullable=False),
    )
    op.add_column("detections", sa.Column("ground_distance_m", sa.Float, nullable=True))


def downgrade() -> None:
    op.drop_column("detections", "ground_distance_m")
    op.drop_column("detections", "position")
