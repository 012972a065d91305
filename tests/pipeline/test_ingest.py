"""Ingestion into a real database (each test runs on PostGIS and on SQLite)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from db.engine import transaction
from db.schema import Image, Quarantine
from pipeline.batches import ingest_files
from pipeline.cli import app
from pipeline.ingest import IngestOptions, discover
from pipeline.tracks import read_track
from tests.helpers import make_exif, write_image
from tests.pipeline.test_exif import readme_truth
from tests.pipeline.test_tracks import write_gpx

runner = CliRunner()
T0 = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.UTC)


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json", "--no-detect"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_shared_photos_positions_and_idempotency(
    cli_env: str, db_engine: sa.Engine, shared_dir: Path
) -> None:
    folder = shared_dir / "datasets" / "geotagged-photos"
    first = run_json("ingest", str(folder), "--survey", "arezzo")
    assert len(first.pop("batch")) == 32
    assert first == {
        "survey": "arezzo",
        "ingested": 13,
        "duplicates": 0,
        "quarantined": {},
        "detections": 0,
        "skipped_not_images": 1,
    }
    truth = readme_truth(folder)
    with transaction(db_engine) as session:
        rows = {i.file_name: i for i in session.scalars(sa.select(Image))}
        assert set(rows) == set(truth)
        for name, (lat, lon, _taken, _camera) in truth.items():
            assert rows[name].latitude == pytest.approx(lat, abs=1e-6), name
            assert rows[name].longitude == pytest.approx(lon, abs=1e-6), name
            assert rows[name].captured_at.tzinfo is not None
        assert rows["HMD_Nokia_8.3_5G.heif"].image_format == "heif"
        assert rows["Kodak_CX7530.jpg"].latitude < 0
        assert rows["iphone_hdr_NO.jpg"].heading_deg == pytest.approx(212.872068, abs=1e-5)
        if db_engine.dialect.name == "postgresql":
            # The generated PostGIS point agrees with the plain columns.
            x, y, srid = session.execute(
                sa.text(
                    "SELECT ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM images "
                    "WHERE file_name = 'HMD_Nokia_8.3_5G.jpg'"
                )
            ).one()
            assert (x, y, srid) == (
                pytest.approx(24.906772, abs=1e-6),
                pytest.approx(60.146706, abs=1e-6),
                4326,
            )
    again = run_json("ingest", str(folder), "--survey", "arezzo")
    assert again["ingested"] == 0 and again["duplicates"] == 13
    with transaction(db_engine) as session:
        assert session.scalar(sa.select(sa.func.count(Image.id))) == 13


def _quarantine_folder(root: Path) -> dict[str, str]:
    """One file per quarantine reason (and a good one). Returns file name -> expected reason."""
    future = dt.datetime.now() + dt.timedelta(days=3)
    write_image(
        root / "good.jpg", exif=make_exif(lat=60.17, lon=24.94, taken=T0.replace(tzinfo=None))
    )
    (root / "notes.jpg").write_text("this is not an image")
    write_image(
        root / "cut.jpg", size=(300, 300), color=(1, 2, 3), exif=make_exif(lat=60.1, lon=24.9)
    )
    data = (root / "cut.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(data[: len(data) // 2])
    write_image(
        root / "huge.png",
        size=(300, 200),
        color=(9, 9, 9),
        fmt="PNG",
        exif=make_exif(lat=60.1, lon=24.9),
    )
    write_image(root / "nogps.jpg", color=(3, 3, 3), exif=make_exif(taken=T0.replace(tzinfo=None)))
    write_image(root / "null_island.jpg", color=(4, 4, 4), exif=make_exif(lat=0.0, lon=0.0))
    write_image(
        root / "sub" / "future.jpg",
        color=(5, 5, 5),
        exif=make_exif(lat=60.1, lon=24.9, taken=future, offset="+00:00"),
    )
    from fractions import Fraction

    from PIL import ExifTags

    write_image(
        root / "sub" / "range.jpg",
        color=(6, 6, 6),
        exif=make_exif(
            gps_override={
                ExifTags.GPS.GPSLatitudeRef: "N",
                ExifTags.GPS.GPSLatitude: (Fraction(95), Fraction(0), Fraction(0)),
                ExifTags.GPS.GPSLongitudeRef: "E",
                ExifTags.GPS.GPSLongitude: (Fraction(24), Fraction(0), Fraction(0)),
            }
        ),
    )
    return {
        "notes.jpg": "not_an_image",
        "cut.jpg": "corrupt",
        "huge.png": "too_large",
        "nogps.jpg": "no_position",
        "null_island.jpg": "bad_position",
        "future.jpg": "future_timestamp",
        "range.jpg": "bad_position",
    }


def test_every_quarantine_reason(
    cli_env: str, db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _quarantine_folder(tmp_path / "in")
    unreadable = write_image(
        tmp_path / "in" / "locked.jpg", color=(7, 7, 7), exif=make_exif(lat=60.1, lon=24.9)
    )
    unreadable.chmod(0)
    if os.access(unreadable, os.R_OK):  # root reads anything: make it a dangling symlink instead
        unreadable.unlink()
        unreadable.symlink_to(tmp_path / "gone.jpg")
    expected["locked.jpg"] = "unreadable"
    monkeypatch.setenv("WASTEMAP_MAX_IMAGE_PIXELS", "50000")
    summary = run_json("ingest", str(tmp_path / "in"), "--survey", "bad-batch")
    assert summary["ingested"] == 1
    assert summary["quarantined"] == {
        "bad_position": 2,
        "corrupt": 1,
        "future_timestamp": 1,
        "no_position": 1,
        "not_an_image": 1,
        "too_large": 1,
        "unreadable": 1,
    }
    with transaction(db_engine) as session:
        rows = session.scalars(sa.select(Quarantine)).all()
        by_name = {Path(q.path).name: q for q in rows}
        assert {n: q.reason for n, q in by_name.items()} == expected
        for name, row in by_name.items():
            assert name in row.message  # every message names the file
    # Seeing the same bad files again adds no rows and loses nothing.
    again = run_json("ingest", str(tmp_path / "in"), "--survey", "bad-batch")
    assert again["duplicates"] == 1 and sum(again["quarantined"].values()) == 8
    with transaction(db_engine) as session:
        assert session.scalar(sa.select(sa.func.count(Quarantine.id))) == 8
        assert session.scalar(sa.select(sa.func.max(Quarantine.seen_count))) == 2
        assert session.scalar(sa.select(sa.func.count(Image.id))) == 1


def test_track_geotagging_resolves_quarantine(
    db_engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    for i in range(5):
        taken = (T0 + dt.timedelta(seconds=5 * i)).astimezone(dt.timezone(dt.timedelta(hours=2)))
        write_image(
            photos / f"frame{i}.jpg",
            color=(10 * i, 50, 60),
            exif=make_exif(taken=taken.replace(tzinfo=None), offset="+02:00"),
        )
    options = IngestOptions(max_track_gap_s=30)
    files, _ = discover(photos)
    without = ingest_files(files, engine=db_engine, survey="tram", options=options)
    assert without.quarantined == {"no_position": 5}
    gpx = write_gpx(
        tmp_path / "drive.gpx",
        [
            (T0 - dt.timedelta(seconds=10), 60.0, 24.0),
            (T0 + dt.timedelta(seconds=10), 60.002, 24.0),
            (T0 + dt.timedelta(seconds=100), 60.02, 24.0),  # a 90 s gap: frames 3 and 4 fall in it
        ],
    )
    report = ingest_files(
        files, engine=db_engine, survey="tram", options=options, track=read_track(gpx)
    )
    assert report.ingested == 3
    assert report.quarantined == {"no_position": 2}
    assert all("gap" in p.message for p in report.problems)
    with transaction(db_engine) as session:
        images = session.scalars(sa.select(Image).order_by(Image.file_name)).all()
        assert [i.position_source for i in images] == ["track"] * 3
        # frame1 is 5 s after T0: 15 s into a 20 s leg from 60.0 to 60.002
        assert images[1].latitude == pytest.approx(60.0015, abs=1e-9)
        assert images[1].heading_deg == pytest.approx(0.0, abs=1e-6)
        open_rows = session.scalars(
            sa.select(Quarantine).where(Quarantine.resolved_at.is_(None))
        ).all()
        assert sorted(Path(q.path).name for q in open_rows) == ["frame3.jpg", "frame4.jpg"]


def test_duplicate_content_under_two_names(db_engine: sa.Engine, tmp_path: Path) -> None:
    original = write_image(tmp_path / "a.jpg", exif=make_exif(lat=60.1, lon=24.9))
    shutil.copy(original, tmp_path / "copy_of_a.jpg")
    report = ingest_files(
        sorted(tmp_path.glob("*.jpg")), engine=db_engine, survey="s", options=IngestOptions()
    )
    assert (report.ingested, report.duplicates) == (1, 1)


def test_commands_refuse_a_database_not_at_head(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    (tmp_path / "photos").mkdir()
    write_image(tmp_path / "photos" / "a.jpg", exif=make_exif(lat=60.1, lon=24.9))
    result = runner.invoke(app, ["ingest", str(tmp_path / "photos")])
    assert result.exit_code == 2
    assert "wastemap db upgrade" in result.output
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert "latest" in runner.invoke(app, ["db", "current"]).output
    assert runner.invoke(app, ["db", "downgrade", "base"]).exit_code == 0
    result = runner.invoke(app, ["export", "images", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "wastemap db upgrade" in result.output


def test_missing_source_and_bad_track_are_clear(cli_env: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["ingest", str(tmp_path), "--track", str(tmp_path / "t.kml")])
    assert result.exit_code == 2 and "t.kml" in result.output
