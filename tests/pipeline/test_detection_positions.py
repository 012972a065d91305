"""Detections are stored where their objects lie: placed on the ground ahead of the dash camera
as a chunk is stored, counted there by the map's queries, placed again by ``sites update
--rebuild`` after the camera settings change (each test runs on PostGIS and on SQLite)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h3
import pandas as pd
import pyproj
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from analytics.camera import CameraModel
from analytics.ground import DASH_CAMERA, object_positions
from db import detections as detection_queries
from db import map_queries, model_versions
from db.engine import transaction
from db.schema import H3_RESOLUTIONS, Detection, Image, Site
from pipeline import cli_routes
from pipeline._exif import build_exif
from pipeline.batches import process_chunk, submit
from pipeline.ingest import IngestOptions
from pipeline.settings import get_settings
from pipeline.sites import update_sites
from tests.helpers import write_image

SIZE = (640, 480)
TAKEN = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
GEOD = pyproj.Geod(ellps="WGS84")


def box_ahead(distance_m: float) -> tuple[float, float, float, float]:
    """A box whose bottom centre lies ``distance_m`` straight ahead of the dash camera."""
    width, height = SIZE
    f = float(DASH_CAMERA.focal_length_px(width))
    u = DASH_CAMERA.principal_x * width
    v = DASH_CAMERA.horizon * height + f * DASH_CAMERA.height_m / distance_m
    return (u - 8, v - 12, u + 8, v)


@dataclass
class Found:
    box: tuple[float, float, float, float]
    label: str = "bottle"
    category: str = "plastic"
    score: float = 0.8


class AheadDetector:
    """Finds one bottle on every frame, ``distance_m`` ahead of the camera."""

    model_version = "test-ahead-1"
    class_names: Sequence[str] = ("__background__", "bottle")

    def __init__(self, distance_m: float) -> None:
        self.metadata: dict[str, Any] = {}
        self.box = box_ahead(distance_m)

    def detect_paths(self, paths: Sequence[Path], *, batch_size: int = 4) -> list[list[Found]]:
        return [[Found(self.box)] for _ in paths]


def store_unplaced(engine: sa.Engine, count: int) -> None:
    """``count`` detections of litter 15 m ahead of the street frame, stored the way rows were
    before detections were placed (at the camera, ``position = 'camera'``), one older model
    version each."""
    box = dict(zip(("x1", "y1", "x2", "y2"), box_ahead(15.0), strict=True))
    with transaction(engine) as session:
        image = session.scalars(sa.select(Image).where(Image.file_name == "street.jpg")).one()
        for n in range(count):
            older = model_versions.get_or_create(db_session=session, version=f"older-{n}")
            detection_queries.record_run(
                db_session=session,
                image=image,
                model_version_id=older.id,
                detections=[{"label": "can", "category": "metal", "score": 0.7, **box}],
            )


def in_another_cell(distance_m: float) -> tuple[float, float]:
    """A camera position, driving east, from which the litter ``distance_m`` ahead lies in
    another H3 cell of resolution 10."""
    for k in range(400):
        lat, lon = 60.1699, 24.9384 + k * 2e-5
        lon_ahead, lat_ahead, _ = GEOD.fwd(lon, lat, 90.0, distance_m)
        if h3.latlng_to_cell(lat, lon, 10) != h3.latlng_to_cell(lat_ahead, lon_ahead, 10):
            return lat, lon
    raise AssertionError("no cell boundary found")


def ingest(
    engine: sa.Engine, folder: Path, *, distance_m: float, options: IngestOptions | None = None
) -> tuple[float, float]:
    """Store, through the real chunk path, a street frame heading east (its litter in another
    cell) and a close-up without heading 500 m north; returns the street frame's position."""
    lat, lon = in_another_cell(distance_m)
    street = write_image(
        folder / "street.jpg",
        size=SIZE,
        exif=build_exif(latitude=lat, longitude=lon, captured_at=TAKEN, heading_deg=90.0),
    )
    closeup = write_image(
        folder / "closeup.jpg",
        size=SIZE,
        color=(10, 200, 10),
        exif=build_exif(latitude=lat + 0.0045, longitude=lon, captured_at=TAKEN),
    )
    batch_id = submit(engine, files=[street, closeup], survey="drive", source=str(folder))
    outcome = process_chunk(
        engine,
        batch_id=batch_id,
        chunk=0,
        options=options or IngestOptions.from_settings(get_settings()),
        detector=AheadDetector(distance_m),
    )
    assert outcome.stored == 2 and outcome.detections == 2, outcome
    return lat, lon


def stored(engine: sa.Engine) -> pd.DataFrame:
    """Every detection with its image's (the camera's) position, heading and size."""
    with transaction(engine) as session:
        rows = session.execute(
            sa.select(
                Detection.id,
                Image.file_name,
                Detection.latitude,
                Detection.longitude,
                *(getattr(Detection, f"h3_r{r}") for r in H3_RESOLUTIONS),
                Detection.position,
                Detection.ground_distance_m,
                Image.latitude.label("camera_latitude"),
                Image.longitude.label("camera_longitude"),
                Image.heading_deg,
                Image.width,
                Image.height,
                *(getattr(Image, f"h3_r{r}").label(f"camera_h3_r{r}") for r in H3_RESOLUTIONS),
                Detection.x1,
                Detection.y1,
                Detection.x2,
                Detection.y2,
            )
            .join(Image, Image.id == Detection.image_id)
            .order_by(Detection.id)
        ).mappings()
        return pd.DataFrame(list(rows)).set_index("file_name")


def expected(rows: pd.DataFrame, camera: Any = DASH_CAMERA) -> pd.DataFrame:
    """Where ``analytics.ground`` puts the stored detections' objects."""
    frame = rows[["heading_deg", "width", "height", "x1", "y1", "x2", "y2"]].assign(
        latitude=rows["camera_latitude"], longitude=rows["camera_longitude"]
    )
    return object_positions(frame, camera=camera)


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def test_a_detection_is_stored_where_its_object_lies(db_engine: sa.Engine, tmp_path: Path) -> None:
    ingest(db_engine, tmp_path, distance_m=30.0)
    rows = stored(db_engine)
    want = expected(rows)

    street = rows.loc["street.jpg"]
    assert street["position"] == "ground"
    assert street["latitude"] == pytest.approx(want.loc["street.jpg", "latitude"], abs=1e-9)
    assert street["longitude"] == pytest.approx(want.loc["street.jpg", "longitude"], abs=1e-9)
    assert street["ground_distance_m"] == pytest.approx(30.0, abs=0.01)
    # 30 m east of the camera, on the road ahead, in the H3 cells of that point
    ahead = metres(
        street["camera_latitude"],
        street["camera_longitude"],
        street["latitude"],
        street["longitude"],
    )
    assert ahead == pytest.approx(30.0, abs=0.05)
    assert street["longitude"] > street["camera_longitude"]
    for res in H3_RESOLUTIONS:
        cell = h3.latlng_to_cell(street["latitude"], street["longitude"], res)
        assert street[f"h3_r{res}"] == cell
    assert street["h3_r10"] != street["camera_h3_r10"]

    closeup = rows.loc["closeup.jpg"]  # no heading: where the camera was, and why
    assert closeup["position"] == "no_heading"
    assert pd.isna(closeup["ground_distance_m"])
    assert (closeup["latitude"], closeup["longitude"]) == (
        closeup["camera_latitude"],
        closeup["camera_longitude"],
    )
    for res in H3_RESOLUTIONS:
        assert closeup[f"h3_r{res}"] == closeup[f"camera_h3_r{res}"]


def test_the_map_counts_a_detection_in_the_cell_where_it_lies(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    ingest(db_engine, tmp_path, distance_m=30.0)
    street = stored(db_engine).loc["street.jpg"]
    ground, camera = street["h3_r10"], street["camera_h3_r10"]
    everything = map_queries.MapFilter()
    with transaction(db_engine) as session:
        cells = map_queries.cell_counts(db_session=session, filt=everything, resolution=10)
        hot = map_queries.hotspot_input(db_session=session, filt=everything, resolution=10)
        points = map_queries.detection_points(db_session=session, filt=everything)
        clicked = map_queries.detection_at(
            db_session=session,
            latitude=street["latitude"],
            longitude=street["longitude"],
            filt=everything,
        )
    counts = dict(zip(cells["cell"], cells["detections"], strict=True))
    assert counts.get(ground) == 1 and camera not in counts
    # the cell the litter lies in counts as looked at (by the photo that found it), the cell
    # the camera stood in as photographed and clean
    hot = hot.set_index("cell")
    assert hot.loc[ground, "detections"] == 1 and hot.loc[ground, "images"] == 1
    assert hot.loc[camera, "detections"] == 0 and hot.loc[camera, "images"] == 1
    assert hot["detections"].sum() == 2 and len(hot) == 3
    point = points.set_index("detection_id").loc[street["id"]]
    assert (point["latitude"], point["longitude"]) == (street["latitude"], street["longitude"])
    assert clicked == street["id"]


def test_sites_are_placed_as_before(db_engine: sa.Engine, tmp_path: Path) -> None:
    """Sites place their sightings from the camera (not again from the stored position): the
    site of one sighting lies where its detection is stored."""
    ingest(db_engine, tmp_path, distance_m=30.0)  # the chunk updates the sites
    rows = stored(db_engine)
    assert update_sites(db_engine).total == 2
    with transaction(db_engine) as session:
        sites = session.scalars(sa.select(Site)).all()
        positions = sorted((s.latitude, s.longitude) for s in sites)
    want = sorted(zip(rows["latitude"], rows["longitude"], strict=True))
    for (lat, lon), (want_lat, want_lon) in zip(positions, want, strict=True):
        assert metres(lat, lon, want_lat, want_lon) < 0.01


def test_the_camera_of_the_options_places_detections(db_engine: sa.Engine, tmp_path: Path) -> None:
    near = CameraModel(max_distance_m=20.0)
    ingest(db_engine, tmp_path, distance_m=30.0, options=IngestOptions(camera=near))
    street = stored(db_engine).loc["street.jpg"]
    assert street["position"] == "too_far"
    assert (street["latitude"], street["longitude"]) == (
        street["camera_latitude"],
        street["camera_longitude"],
    )


def test_rebuild_places_detections_again_with_the_camera_settings(
    cli_env: str, db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(db_engine, tmp_path, distance_m=15.0)
    store_unplaced(db_engine, 1)
    before = stored(db_engine)
    assert sorted(before["position"]) == ["camera", "ground", "no_heading"]
    update_sites(db_engine)

    # A camera twice as high: the same boxes lie twice as far ahead.
    monkeypatch.setenv("WASTEMAP_CAMERA_HEIGHT_M", str(2 * DASH_CAMERA.height_m))
    app = typer.Typer()
    cli_routes.register(app)
    result = CliRunner().invoke(app, ["sites", "update", "--rebuild", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["placed"] == 3

    after = stored(db_engine)
    want = expected(after, camera=get_settings().camera_model())
    street = after[after["position"] == "ground"]
    assert len(street) == 2  # the old row is placed too
    assert street["ground_distance_m"].to_numpy() == pytest.approx([30.0, 30.0], abs=0.02)
    for name in after.index.unique():
        got, exp = after.loc[[name]], want.loc[[name]]
        assert got["latitude"].to_numpy() == pytest.approx(exp["latitude"].to_numpy(), abs=1e-9)
        assert got["longitude"].to_numpy() == pytest.approx(exp["longitude"].to_numpy(), abs=1e-9)
    for row in after.itertuples():
        assert row.h3_r10 == h3.latlng_to_cell(row.latitude, row.longitude, 10)
        assert row.h3_r8 == h3.latlng_to_cell(row.latitude, row.longitude, 8)
    closeup = after.loc["closeup.jpg"]
    assert closeup["position"] == "no_heading"
    # the sites moved with them: each street site 30 m ahead of the camera now
    with transaction(db_engine) as session:
        sites = session.scalars(sa.select(Site)).all()
    cam = after.loc["street.jpg"].iloc[0]
    distances = sorted(
        metres(cam["camera_latitude"], cam["camera_longitude"], s.latitude, s.longitude)
        for s in sites
    )
    assert distances[0] == pytest.approx(30.0, abs=0.05)


@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg", "gpx", "kml"])
def test_exports_of_detections_say_where_their_position_comes_from(
    db_engine: sa.Engine, tmp_path: Path, fmt: str
) -> None:
    from analytics.exports import write_points

    ingest(db_engine, tmp_path, distance_m=30.0)
    with transaction(db_engine) as session:
        frame = detection_queries.frame(db_session=session)
    rows = frame.set_index("file_name")
    street, closeup = rows.loc["street.jpg"], rows.loc["closeup.jpg"]
    assert street["position"] == "ground" and street["ground_distance_m"] == pytest.approx(30.0)
    assert street["longitude"] > street["camera_longitude"]
    assert closeup["position"] == "no_heading" and pd.isna(closeup["ground_distance_m"])
    assert closeup["longitude"] == closeup["camera_longitude"]
    written = write_points(frame, tmp_path / f"detections.{fmt}", layer="detections")
    assert written.stat().st_size > 0


def test_a_backlog_of_unplaced_detections_goes_a_part_with_each_site_update(
    cli_env: str, db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgraded database's never-placed rows are placed by the site updates that follow, at
    most ``place_limit`` per update (a worker's chunk never runs long for them), every one of
    them by ``wastemap sites update``."""
    import pipeline.sites as sites_module

    ingest(db_engine, tmp_path, distance_m=15.0)
    store_unplaced(db_engine, 5)

    def unplaced() -> int:
        return int((stored(db_engine)["position"] == "camera").sum())

    assert unplaced() == 5
    monkeypatch.setattr(sites_module, "PLACE_CHUNK", 2)  # pages of two
    assert update_sites(db_engine, place_limit=3).placed == 4  # whole pages, past the limit
    assert unplaced() == 1
    app = typer.Typer()
    cli_routes.register(app)
    result = CliRunner().invoke(app, ["sites", "update", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["placed"] == 1
    assert unplaced() == 0
    street = stored(db_engine).loc["street.jpg"]
    assert street["ground_distance_m"].to_numpy() == pytest.approx([15.0] * 6, abs=0.02)
