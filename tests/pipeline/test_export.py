"""``wastemap export``: files GIS tools read back (GDAL via pyogrio)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.helpers import make_exif, write_image

runner = CliRunner()


@pytest.fixture
def stored(cli_env: str, tmp_path: Path) -> Path:
    import datetime as dt

    taken = dt.datetime(2026, 11, 20, 9, 30)
    write_image(
        tmp_path / "in" / "a.jpg",
        exif=make_exif(lat=60.1699, lon=24.9384, taken=taken, offset="+02:00", make="Acme"),
    )
    write_image(
        tmp_path / "in" / "b.jpg",
        color=(1, 1, 1),
        exif=make_exif(lat=-33.8688, lon=151.2093, taken=taken, offset="+10:00"),
    )
    assert (
        runner.invoke(
            app, ["ingest", str(tmp_path / "in"), "--survey", "s1", "--no-detect"]
        ).exit_code
        == 0
    )
    return tmp_path


def test_geojson_is_rfc7946(stored: Path) -> None:
    out = stored / "images.geojson"
    result = runner.invoke(app, ["export", "images", "--format", "geojson", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    features = {f["properties"]["file_name"]: f for f in doc["features"]}
    assert features["a.jpg"]["geometry"]["coordinates"] == pytest.approx([24.9384, 60.1699])
    props = features["a.jpg"]["properties"]
    assert props["camera_make"] == "Acme" and len(props["sha256"]) == 64
    assert props["captured_at"] == "2026-11-20T07:30:00+00:00"
    assert "crs" not in doc  # RFC 7946: WGS84 only, no crs member
    frame = pyogrio.read_dataframe(out)
    assert len(frame) == 2


@pytest.mark.parametrize("fmt", ["csv", "gpkg"])
def test_csv_and_geopackage(stored: Path, fmt: str) -> None:
    out = stored / f"images.{fmt}"
    assert runner.invoke(app, ["export", "images", "--out", str(out)]).exit_code == 0
    if fmt == "csv":
        frame = pd.read_csv(out)
    else:
        frame = pyogrio.read_dataframe(out, layer="images")
        assert frame.crs.to_epsg() == 4326
        assert frame.geometry.x.tolist() == pytest.approx(frame["longitude"].tolist())
    assert sorted(frame["file_name"]) == ["a.jpg", "b.jpg"]
    assert set(frame["latitude"].round(4)) == {60.1699, -33.8688}


def test_detections_export_empty_until_detector(stored: Path) -> None:
    out = stored / "detections.csv"
    result = runner.invoke(app, ["export", "detections", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 0 detections" in result.output


def test_unknown_extension_is_explained(stored: Path) -> None:
    result = runner.invoke(app, ["export", "images", "--out", str(stored / "x.shp")])
    assert result.exit_code == 2 and "--format" in result.output


def test_export_map_is_standalone_with_filters(stored: Path) -> None:
    """`export map` writes one HTML heatmap that needs no internet, with the map's filters."""
    import os

    import sqlalchemy as sa

    from db import detections as detection_queries
    from db import model_versions
    from db.engine import create_engine, transaction
    from db.schema import Image

    engine = create_engine(os.environ["WASTEMAP_DATABASE_URL"])
    with transaction(engine) as session:
        mv = model_versions.get_or_create(db_session=session, version="test-model")
        for image in session.scalars(sa.select(Image)):
            boxes = [
                {
                    "label": label,
                    "category": category,
                    "score": 0.9,
                    "x1": 1,
                    "y1": 1,
                    "x2": 9,
                    "y2": 9,
                }
                for label, category in (
                    ("plastic", "plastic"),
                    ("glass", "glass"),
                    ("glass", "glass"),
                )
            ]
            detection_queries.record_run(
                db_session=session, image=image, model_version_id=mv.id, detections=boxes
            )
    engine.dispose()
    out = stored / "share" / "map.html"
    result = runner.invoke(app, ["export", "map", "--out", str(out), "--category", "glass"])
    assert result.exit_code == 0, result.output
    assert "heatmap of 4 detections" in result.output
    html = out.read_text()
    assert "categories glass" in html
    assert "cdn." not in html and "unpkg.com" not in html  # works without internet
    recyclable = runner.invoke(app, ["export", "map", "--out", str(out), "--not-recyclable"])
    assert recyclable.exit_code == 0 and "heatmap of 0 detections" in recyclable.output
    bad = runner.invoke(app, ["export", "map", "--out", str(out), "--category", "spaceship"])
    assert bad.exit_code == 2 and "spaceship" in bad.output


def test_detections_export_takes_the_filters_and_the_reviews(stored: Path) -> None:
    import os

    import sqlalchemy as sa

    from db import detections as detection_queries
    from db import model_versions, reviews
    from db.engine import create_engine, transaction
    from db.schema import Detection, Image

    engine = create_engine(os.environ["WASTEMAP_DATABASE_URL"])
    with transaction(engine) as session:
        mv = model_versions.get_or_create(db_session=session, version="test-model")
        for image in session.scalars(sa.select(Image).order_by(Image.id)):
            boxes = [
                {"label": label, "category": category, "score": score, "x1": 1, "y1": 1}
                | {"x2": 9, "y2": 9}
                for label, category, score in (
                    ("plastic", "plastic", 0.9),
                    ("glass", "glass", 0.4),
                    ("paper", "paper", 0.8),
                )
            ]
            detection_queries.record_run(
                db_session=session, image=image, model_version_id=mv.id, detections=boxes
            )
    with transaction(engine) as session:
        ids = dict(
            session.execute(
                sa.select(Detection.label, sa.func.min(Detection.id)).group_by(Detection.label)
            ).all()
        )
        reviews.review(
            db_session=session,
            detection_ids=[ids["plastic"]],
            status="relabelled",
            reviewer="rita",
            label="battery",
            category="hazardous",
        )
        reviews.review(
            db_session=session, detection_ids=[ids["paper"]], status="rejected", reviewer="rita"
        )
    engine.dispose()

    def export(*args: str) -> pd.DataFrame:
        out = stored / "detections.csv"
        result = runner.invoke(app, ["export", "detections", "--out", str(out), *args])
        assert result.exit_code == 0, result.output
        return pd.read_csv(out)

    every = export()
    assert len(every) == 5  # 6 boxes, the rejected one left out as on the map
    relabelled = every[every["detection_id"] == ids["plastic"]].iloc[0]
    assert (relabelled["label"], relabelled["category"]) == ("battery", "hazardous")
    assert (relabelled["model_label"], relabelled["model_category"]) == ("plastic", "plastic")
    assert set(export("--category", "glass")["label"]) == {"glass"}
    assert len(export("--min-score", "0.5")) == 3
    assert len(export("--review-status", "rejected")) == 1
    # days are UTC: the Sydney photo (20 Nov 09:30 +10:00) was taken on 19 November
    assert len(export("--until", "2026-11-18")) == 0
    assert len(export("--until", "2026-11-19")) == 3
    assert len(export("--since", "2026-11-20", "--survey", "s1")) == 2
    bad = runner.invoke(
        app, ["export", "detections", "--out", str(stored / "d.csv"), "--review-status", "maybe"]
    )
    assert bad.exit_code != 0 and "--review-status 'maybe'" in bad.output
    images = runner.invoke(
        app, ["export", "images", "--out", str(stored / "i.csv"), "--min-score", "0.5"]
    )
    assert images.exit_code != 0 and "--min-score select detections" in images.output
    dated = runner.invoke(
        app, ["export", "images", "--out", str(stored / "i.csv"), "--since", "2026-11-21"]
    )
    assert dated.exit_code == 0 and "wrote 0 images" in dated.output


@pytest.mark.parametrize("fmt", ["gpx", "kml"])
def test_points_as_gpx_waypoints_and_kml_placemarks(stored: Path, fmt: str) -> None:
    out = stored / f"images.{fmt}"
    result = runner.invoke(app, ["export", "images", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if fmt == "gpx":
        import gpxpy

        gpx = gpxpy.parse(text)
        points = [(w.latitude, w.longitude, w.name, w.description) for w in gpx.waypoints]
    else:
        import xml.etree.ElementTree as ET

        ns = {"k": "http://www.opengis.net/kml/2.2"}
        root = ET.fromstring(text)
        points = []
        for mark in root.iter(f"{{{ns['k']}}}Placemark"):
            lon, lat = map(float, mark.find(".//k:coordinates", ns).text.split(",")[:2])
            points.append(
                (lat, lon, mark.find("k:name", ns).text, mark.find("k:description", ns).text)
            )
    assert sorted((round(lat, 4), round(lon, 4)) for lat, lon, _, _ in points) == [
        (-33.8688, 151.2093),
        (60.1699, 24.9384),
    ]
    assert all(name.startswith("image ") for _, _, name, _ in points)
    assert all("survey: s1" in description for _, _, _, description in points)
