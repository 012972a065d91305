"""Migrations from empty to head and back, on PostGIS and SQLite."""

from __future__ import annotations

import h3
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from db.schema import Base
from pipeline import database as dbm
from pipeline.sites import update_sites

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


def test_detections_stored_before_placement_are_placed_by_the_next_site_update(
    db_url: str,
) -> None:
    """0006 adds ``detections.position``: rows already stored keep the camera's position and
    say so (``camera``), until the next site update places them on the ground, once."""
    dbm.downgrade(db_url, "0005_login_sessions")
    engine = sa.create_engine(db_url)
    now = "2026-11-20 09:00:00+00:00"
    cells = {f"h{res}": h3.latlng_to_cell(60.17, 24.94, res) for res in (8, 9, 10)}
    with engine.begin() as conn:
        for statement, values in (
            (
                "INSERT INTO surveys (id, name, simulated, created_at) VALUES (1, 's', :no, :now)",
                {},
            ),
            (
                "INSERT INTO model_versions (id, version, class_names, details, created_at) "
                "VALUES (1, 'm', '[]', '{}', :now)",
                {},
            ),
            (
                "INSERT INTO images (id, sha256, original_path, file_name, survey_id, latitude, "
                "longitude, position_source, h3_r8, h3_r9, h3_r10, width, height, image_format, "
                "orientation, heading_deg, status, ingested_at) VALUES (1, 'abc', '/p.jpg', "
                "'p.jpg', 1, 60.17, 24.94, 'exif', :h8, :h9, :h10, 640, 480, 'JPEG', 1, 90, "
                "'detected', :now)",
                cells,
            ),
            (
                "INSERT INTO detection_runs (id, image_id, model_version_id, detections_count, "
                "detected_at) VALUES (1, 1, 1, 1, :now)",
                {},
            ),
            (
                "INSERT INTO detections (id, run_id, image_id, model_version_id, survey_id, "
                "label, category, score, x1, y1, x2, y2, captured_at, latitude, longitude, "
                "h3_r8, h3_r9, h3_r10, review_status) VALUES (1, 1, 1, 1, 1, 'bottle', "
                "'plastic', 0.9, 300, 380, 340, 420, :now, 60.17, 24.94, :h8, :h9, :h10, "
                "'unreviewed')",
                cells,
            ),
        ):
            conn.execute(sa.text(statement), {"now": now, "no": False, **values})
    dbm.upgrade(db_url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT position, ground_distance_m, latitude, longitude, h3_r10 FROM detections"
            )
        ).one()
    assert tuple(row) == ("camera", None, 60.17, 24.94, cells["h10"])

    assert update_sites(engine).placed == 1
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT position, ground_distance_m, latitude, longitude, h3_r10 FROM detections"
            )
        ).one()
    position, distance, lat, lon, cell = row
    assert position == "ground"  # low in a frame heading east: on the road ahead
    assert 2.0 < distance < 30.0
    assert lat == pytest.approx(60.17, abs=1e-5) and lon > 24.94  # east of the camera
    assert cell == h3.latlng_to_cell(lat, lon, 10)
    assert update_sites(engine).placed == 0  # placed once
    engine.dispose()
