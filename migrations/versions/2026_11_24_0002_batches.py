"""Batches and their items (queued ingestion by workers, inbox scans, videos).

Revision ID: 0002_batches
Revises: 0001_initial
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0002_batches"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("model_version", sa.String(200)),
        sa.Column("track_path", sa.Text),
        sa.Column("detect", sa.Boolean, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_batches_survey_id_surveys")
        ),
    )
    op.create_index("ix_batches_survey_id", "batches", ["survey_id"])
    op.create_index("ix_batches_status", "batches", ["status"])
    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("chunk", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40)),
        sa.Column("image_id", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_items")),
        sa.UniqueConstraint("batch_id", "path", name=op.f("uq_batch_items_batch_id_path")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_batch_items_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_batch_items_image_id_images"),
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_batch_items_batch_id_state", "batch_items", ["batch_id", "state"])


def downgrade() -> None:
    op.drop_table("batch_items")
    op.drop_table("batches")
