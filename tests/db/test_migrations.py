"""Migrations from empty to head and back, on PostGIS and SQLite."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from db.schema import Base
from pipeline import database as dbm

TABLES = {"surveys", "model_versions", "images", "detection_runs", "detections", "quarantine"}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version", "spatial_ref_sys"}
    finally:
        engine.dispose()


def test_up_down_up(db_url: str) -> None:
    assert _tables(db_url) >= TABLES
    dbm.downgrade(db_url, "base")
    assert _tables(db_url) == set()
    dbm.upgrade(db_url)
    assert _tables(db_url) >= TABLES
    engine = sa.create_engine(db_url)
    assert dbm.current_revision(engine) == dbm.head_revision(db_url)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            gist = conn.scalars(
                sa.text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")
            ).all()
            assert {"ix_images_geom", "ix_detections_geom"} <= set(gist)
            geom_type = conn.scalar(
                sa.text("SELECT type FROM geometry_columns WHERE f_table_name = 'images'")
            )
            assert geom_type == "POINT"
    engine.dispose()


def test_models_match_migrations(db_url: str) -> None:
    """The SQLAlchemy models and the migrations describe the same schema."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
        )
    engine.dispose()
    # GiST indexes live only in the migration (PostGIS only), by design.
    # PostGIS's own spatial_ref_sys table is not ours.
    diff = [
        d
        for d in diff
        if not (d[0] == "remove_index" and d[1].name.endswith("_geom"))
        and not (d[0] == "remove_table" and d[1].name == "spatial_ref_sys")
    ]
    assert diff == []
