"""An index of the detections never placed on the ground (``position = 'camera'``).

Every site update (after each chunk a worker stores) places those rows first; on a database
where all are placed the partial index is empty, so finding none costs nothing however many
detections there are.

Revision ID: 0007_unplaced_index
Revises: 0006_detection_positions
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_unplaced_index"
down_revision = "0006_detection_positions"
branch_labels = None
depends_on = None

_WHERE = sa.text("position = 'camera'")


def upgrade() -> None:
    op.create_index(
        "ix_detections_unplaced",
        "detections",
        ["id"],
        postgresql_where=_WHERE,
        sqlite_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_detections_unplaced", table_name="detections")
