"""``wastemap sites update|list`` and ``wastemap routes plan`` on PostGIS and SQLite, and the
incremental site update that runs after each chunk."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import gpxpy
import h3
import numpy as np
import pyogrio
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from analytics.ground import DASH_CAMERA
from analytics.network import load_road_network
from db import detections as detection_queries
from db import images as image_queries
from db import model_versions
from db import surveys as survey_queries
from db.engine import transaction
from db.schema import H3_RESOLUTIONS, Site
from pipeline import cli_routes
from pipeline.sites import demo_routes, rebuild_sites, update_sites

runner = CliRunner()
DEPOT = "60.1700,24.9410"
START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
M_PER_DEG = 111_320.0


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    cli_routes.register(app)
    return app


@pytest.fixture(scope="module")
def objects() -> list[tuple[float, float]]:
    """Four litter objects on streets of the Helsinki network, at least 150 m apart."""
    graph = load_road_network()
    chosen: list[tuple[float, float]] = []
    for _, _, line in sorted(graph.edges(data="geometry"), key=lambda e: e[2].wkt):
        p = line.interpolate(0.5, normalized=True)
        if all(_metres((p.y, p.x), q) > 150 for q in chosen):
            chosen.append((p.y, p.x))
        if len(chosen) == 4:
            return chosen
    raise AssertionError("the Helsinki network has fewer than four streets 150 m apart")


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * M_PER_DEG
    dx = (a[1] - b[1]) * M_PER_DEG * np.cos(np.radians(a[0]))
    return float(np.hypot(dx, dy))


#: A frame: latitude, longitude, capture time, categories seen, and how far ahead of the camera
#: (due north) the litter lies; None: no heading, the box says nothing about where it is.
Frame = tuple[float, float, dt.datetime, list[str], float | None]
FRAME_SIZE = (640, 480)


def box_ahead(distance_m: float | None) -> dict[str, float]:
    """A box whose bottom centre is ``distance_m`` straight ahead of the dash camera."""
    if distance_m is None:
        return {"x1": 1, "y1": 1, "x2": 9, "y2": 9}
    width, height = FRAME_SIZE
    f = float(DASH_CAMERA.focal_length_px(width))
    u = DASH_CAMERA.principal_x * width
    v = DASH_CAMERA.horizon * height + f * DASH_CAMERA.height_m / distance_m
    return {"x1": u - 6, "y1": v - 9, "x2": u + 6, "y2": v}


def store_frames(engine: sa.Engine, *, survey: str, frames: Sequence[Frame]) -> list[int]:
    """Store frames as images with their detections."""
    ids = []
    with transaction(engine) as session:
        model = model_versions.get_or_create(db_session=session, version="test-detector")
        survey_row = survey_queries.get_or_create(db_session=session, name=survey)
        for lat, lon, when, categories, ahead_m in frames:
            sha = hashlib.sha256(f"{survey}{lat}{lon}{when}".encode()).hexdigest()
            row = {
                "sha256": sha,
                "original_path": f"/photos/{sha[:8]}.jpg",
                "file_name": f"{sha[:8]}.jpg",
                "survey_id": survey_row.id,
                "captured_at": when,
                "latitude": lat,
                "longitude": lon,
                "position_source": "exif",
                "width": FRAME_SIZE[0],
                "height": FRAME_SIZE[1],
                "heading_deg": None if ahead_m is None else 0.0,
                "image_format": "JPEG",
                **{f"h3_r{r}": h3.latlng_to_cell(lat, lon, r) for r in H3_RESOLUTIONS},
            }
            image_queries.create_many(db_session=session, rows=[row])
            image = image_queries.get_by_sha256(db_session=session, sha256=sha)
            assert image is not None
            found = [
                {"label": c, "category": c, "score": 0.8, **box_ahead(ahead_m)} for c in categories
            ]
            detection_queries.record_run(
                db_session=session, image=image, model_version_id=model.id, detections=found
            )
            ids.append(image.id)
    return ids


def passes(
    objects: list[tuple[float, float]],
    *,
    start: dt.datetime,
    seen: bool = True,
    which: Sequence[int] | None = None,
    heading: bool = False,
) -> list[Frame]:
    """Frames of a vehicle driving north past each object: 4 frames from 12 m before it to
    beside it, with no heading; or, with ``heading``, 4 frames from 18 m to 6 m before it, the
    litter in view ahead."""
    frames = []
    for k, (lat, lon) in enumerate(objects):
        if which is not None and k not in which:
            continue
        category = ["plastic"] if k != 3 else ["hazardous"]
        for f, back in enumerate((12.0, 8.0, 4.0, 0.0)):
            ahead = back + 6.0 if heading else None
            frames.append(
                (
                    lat - (ahead or back) / M_PER_DEG,
                    lon,
                    start + dt.timedelta(minutes=5 * k, seconds=2 * f),
                    category if seen else [],
                    ahead,
                )
            )
    return frames


def _sites(engine: sa.Engine) -> list[Site]:
    with transaction(engine) as session:
        return list(session.scalars(sa.select(Site).order_by(Site.id)))


def test_sites_update_groups_sightings_once(
    cli_env: str, db_engine: sa.Engine, app: typer.Typer, objects
) -> None:
    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    result = runner.invoke(app, ["sites", "update", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["new_sites"] == 4 and report["sightings"] == 16 and report["active"] == 4
    again = json.loads(runner.invoke(app, ["sites", "update", "--json"]).stdout)
    assert again["sightings"] == 0 and again["new_sites"] == 0 and again["total"] == 4
    listed = runner.invoke(app, ["sites", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    sites = json.loads(listed.stdout)
    assert len(sites) == 4
    assert all(s["sightings"] == 4 and s["surveys"] == 1 for s in sites)
    assert sum(s["hazardous"] for s in sites) == 1
    for site in sites:
        assert min(_metres((site["latitude"], site["longitude"]), o) for o in objects) < 10


def test_reviews_reach_the_sites(db_engine: sa.Engine, objects) -> None:
    """Rejecting every sighting of a site deletes it; a relabel to hazardous makes its site
    hazardous; rejecting one of several sightings shrinks the site; un-rejecting brings it back."""
    from db import reviews
    from db.schema import Detection, SiteDetection
    from pipeline.sites import apply_reviews

    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    update_sites(db_engine)
    with transaction(db_engine) as session:
        links = session.execute(
            sa.select(SiteDetection.site_id, SiteDetection.detection_id).order_by(
                SiteDetection.detection_id
            )
        ).all()
        hazardous = {s.id for s in session.scalars(sa.select(Site).where(Site.hazardous))}
    by_site: dict[int, list[int]] = {}
    for site, detection in links:
        by_site.setdefault(site, []).append(detection)
    plain = sorted(set(by_site) - hazardous)
    gone, relabelled, shrunk = plain[0], plain[1], plain[2]

    def review(ids: list[int], status: str, **kw: str) -> None:
        with transaction(db_engine) as session:
            reviews.review(
                db_session=session, detection_ids=ids, status=status, reviewer="rita", **kw
            )
        apply_reviews(db_engine, ids)

    review(by_site[gone], "rejected")
    review(by_site[relabelled][:1], "relabelled", label="battery", category="hazardous")
    review(by_site[shrunk][:1], "rejected")
    sites = {s.id: s for s in _sites(db_engine)}
    assert gone not in sites and len(sites) == 3
    assert sites[relabelled].hazardous and "hazardous" in sites[relabelled].categories
    assert sites[shrunk].sightings == 3 and sites[shrunk].detections == 3
    # a reviewer changes their mind: the detection is a sighting again
    review(by_site[gone][:1], "accepted")
    with transaction(db_engine) as session:
        back = session.scalar(
            sa.select(SiteDetection.site_id).where(SiteDetection.detection_id == by_site[gone][0])
        )
        assert (
            session.scalar(
                sa.select(Detection.review_status).where(Detection.id == by_site[gone][0])
            )
            == "accepted"
        )
    assert back is not None and len(_sites(db_engine)) == 4


@pytest.mark.parametrize("heading", [False, True], ids=["camera", "ground"])
def test_sites_follow_chunks_and_clearing_surveys(
    db_engine: sa.Engine, objects, heading: bool
) -> None:
    drive = functools.partial(passes, heading=heading)
    frames = drive(objects, start=START)
    for chunk in (frames[:5], frames[5:11], frames[11:]):  # batches land chunk by chunk
        ids = store_frames(db_engine, survey="drive-1", frames=chunk)
        update_sites(db_engine, image_ids=ids)
    sites = _sites(db_engine)
    assert len(sites) == 4 and all(s.sightings == 4 for s in sites)
    # Frames with a heading put the litter on the ground where it lies; without one the site
    # is the mean camera position, 6 m short of it.
    off_m = sorted(min(_metres((s.latitude, s.longitude), o) for o in objects) for s in sites)
    assert all(m < 0.1 for m in off_m) if heading else all(5.9 < m < 6.1 for m in off_m)
    by_object = {
        min(range(4), key=lambda k: _metres((s.latitude, s.longitude), objects[k])): s.id
        for s in sites
    }
    # A week later a second drive passes objects 0 and 1: 0 was cleaned up, 1 is still there.
    week = START + dt.timedelta(days=7)
    ids = store_frames(
        db_engine, survey="drive-2", frames=drive(objects, start=week, seen=False, which=[0])
    )
    ids += store_frames(db_engine, survey="drive-2", frames=drive(objects, start=week, which=[1]))
    report = update_sites(db_engine, image_ids=ids)
    assert report.cleared == 1 and report.new_sites == 0 and report.grown_sites == 1
    status = {s.id: (s.status, s.cleared_by_survey_id) for s in _sites(db_engine)}
    assert status[by_object[0]][0] == "cleared" and status[by_object[1]][0] == "active"
    # The second drive's next chunk does see object 0 after all (it was behind a car): reopened.
    late = [
        (lat, lon, when + dt.timedelta(minutes=1), ["plastic"], ahead)
        for lat, lon, when, _, ahead in drive(objects, start=week, which=[0])[:2]
    ]
    report = update_sites(
        db_engine, image_ids=store_frames(db_engine, survey="drive-2", frames=late)
    )
    assert report.reopened == 1 and report.new_sites == 0
    # Litter dumped at object 0 again after its clean-up is a new site.
    month = START + dt.timedelta(days=30)
    ids = store_frames(
        db_engine,
        survey="drive-3",  # after the clean-up of objects 0 and 2
        frames=drive(objects, start=month, seen=False, which=[0, 2]),
    )
    assert update_sites(db_engine, image_ids=ids).cleared == 2
    ids = store_frames(
        db_engine,
        survey="drive-4",
        frames=drive(objects, start=month + dt.timedelta(days=2), which=[0]),
    )
    report = update_sites(db_engine, image_ids=ids)
    assert report.new_sites == 1 and report.total == 5

    # Clustering everything again, all at once, gives the same sites.
    def fingerprint() -> list[tuple]:
        return sorted(
            (s.status, s.sightings, s.surveys, round(s.latitude, 6), round(s.longitude, 6))
            for s in _sites(db_engine)
        )

    before = fingerprint()
    rebuilt = rebuild_sites(db_engine)
    assert rebuilt.total == 5 and fingerprint() == before


def test_site_updates_read_the_camera_from_the_settings(
    db_engine: sa.Engine, objects, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Boxes drawn for a camera 1.7 m up, read as seen from 3.4 m: twice as far ahead.
    monkeypatch.setenv("WASTEMAP_CAMERA_HEIGHT_M", "3.4")
    store_frames(db_engine, survey="drive-1", frames=passes(objects[:1], start=START, heading=True))
    update_sites(db_engine)
    (site,) = _sites(db_engine)
    lat, lon = objects[0]
    assert (site.latitude - lat) * M_PER_DEG == pytest.approx(12.0, abs=0.1)  # mean of 18..6 m
    assert site.longitude == pytest.approx(lon, abs=1e-7)


def test_site_min_score_comes_from_the_settings_and_the_cli_overrides_it(
    cli_env: str,
    db_engine: sa.Engine,
    app: typer.Typer,
    objects,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every stored detection scores 0.8
    monkeypatch.setenv("WASTEMAP_SITE_MIN_SCORE", "0.9")
    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    report = update_sites(db_engine)  # what a batch does after each chunk
    assert report.sightings == 0 and _sites(db_engine) == []
    result = runner.invoke(app, ["sites", "update", "--json"])
    assert json.loads(result.stdout)["sightings"] == 0
    result = runner.invoke(app, ["sites", "update", "--min-score", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new_sites"] == 4


def test_concurrent_updates_never_duplicate_sites(db_engine: sa.Engine, objects) -> None:
    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            update_sites(db_engine)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(_sites(db_engine)) == 4


@pytest.mark.parametrize("suffix", ["geojson", "gpx", "csv", "kml"])
def test_routes_plan_writes_routes_on_the_streets(
    cli_env: str, db_engine: sa.Engine, app: typer.Typer, objects, tmp_path: Path, suffix: str
) -> None:
    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    out = tmp_path / f"routes.{suffix}"
    result = runner.invoke(
        app,
        [
            "routes",
            "plan",
            "--depot",
            DEPOT,
            "--vehicles",
            "2",
            "--capacity",
            "100",
            "--max-minutes",
            "90",
            "--out",
            str(out),
            "--json",
            "--seconds",
            "0.3",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["totals"]["stops"] == 4 and summary["unserved"] == []
    assert summary["out"] == str(out)
    assert sum(r["stops"] for r in summary["routes"]) == 4
    assert all(r["km"] > 0 and 0 < r["minutes"] <= 90 for r in summary["routes"])
    if suffix == "gpx":
        gpx = gpxpy.parse(out.read_text())
        assert len(gpx.tracks) == len(summary["routes"])
    else:
        layer = "route 1" if suffix == "kml" else None
        assert len(pyogrio.read_dataframe(out, layer=layer)) > 0


def test_routes_plan_prints_a_summary(
    cli_env: str, db_engine: sa.Engine, app: typer.Typer, objects, tmp_path: Path
) -> None:
    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    result = runner.invoke(
        app,
        [
            "routes",
            "plan",
            "--depot",
            DEPOT,
            "--vehicles",
            "1",
            "--capacity",
            "3",
            "--out",
            str(tmp_path / "r.geojson"),
            "--seconds",
            "0.3",
            "--since",
            "2026-11-01",
        ],
    )
    assert result.exit_code == 0, result.output
    # 2 L plastic sites fit one at a time: the hazardous one (5 L) is larger than the van.
    assert "sites left unserved" in result.output and "exceeds_capacity" in result.output
    assert "wrote" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--capacity", "0.5"], "raise --capacity"),
        (["--depot", "abc"], "--depot 'abc'"),
        (["--depot", "-33.86,151.21"], "from the nearest street"),
        (["--out", "routes.shp"], "*.gpx"),
        (["--since", "2030-01-01"], "no open litter sites"),
        (["--vehicles", "0"], "at least one vehicle"),
    ],
)
def test_routes_plan_refuses_infeasible_requests_clearly(
    cli_env: str, db_engine: sa.Engine, app: typer.Typer, objects, tmp_path: Path, args, message
) -> None:
    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    base = {
        "--depot": DEPOT,
        "--vehicles": "2",
        "--capacity": "100",
        "--out": str(tmp_path / "r.geojson"),
        "--seconds": "0.2",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = runner.invoke(app, ["routes", "plan", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_routes_plan_keeps_the_sites_time_windows(
    cli_env: str, db_engine: sa.Engine, app: typer.Typer, objects, tmp_path: Path
) -> None:
    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    runner.invoke(app, ["sites", "update"])
    ids = [s.id for s in _sites(db_engine)]
    windows = tmp_path / "windows.csv"
    # the first site opens an hour into the shift (07:00); the second closed a minute after the
    # crews left, before any vehicle can get there; the third closed before the shift started
    # (its next opening is after the 3-hour shift); 999 is no site
    windows.write_text(
        f"site,opens,closes\n{ids[0]},07:00,08:00\n{ids[1]},05:00,06:01\n"
        f"{ids[2]},05:00,05:30\n999,10:00,11:00\n"
    )
    out = tmp_path / "routes.csv"
    base = ["routes", "plan", "--depot", DEPOT, "--vehicles", "1", "--capacity", "100"]
    args = [*base, "--out", str(out), "--seconds", "0.3", "--windows", str(windows)]
    args += ["--max-minutes", "180"]
    result = runner.invoke(app, [*args, "--shift-start", "06:00", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["shift_start"] == "06:00"
    assert sorted(u["site"] for u in summary["unserved"]) == [ids[1], ids[2]]
    assert {u["reason"] for u in summary["unserved"]} == {"time_window"}
    assert "999" in summary["notes"][0] and str(windows) in summary["notes"][0]
    stops = pyogrio.read_dataframe(out)
    stops = stops[stops["kind"] == "stop"]
    first = stops[stops["site"].astype(float).astype(int) == ids[0]].iloc[0]
    assert float(first["arrival_min"]) >= 60 and first["arrival"] >= "07:00"
    assert first["arrival"] <= "08:00"
    assert sorted(stops["site"].astype(float).astype(int)) == sorted(set(ids) - set(ids[1:3]))

    missing_start = runner.invoke(app, args)
    assert missing_start.exit_code == 2
    assert "--shift-start" in " ".join(missing_start.output.split())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("site,opens\n1,06:00\n", "no column closes"),
        ("site,opens,closes\nabc,06:00,07:00\n", "line 2: site 'abc' is not a site id"),
        ("site,opens,closes\n1,06:00,07:00\n2,6h,07:00\n", "line 3: opens '6h'"),
        ("site,opens,closes\n1,06:00,06:00\n", "opens and closes at 06:00"),
        ("site,opens,closes\n1,06:00,07:00\n1,08:00,09:00\n", "already given a window"),
    ],
)
def test_routes_plan_names_the_line_of_a_bad_windows_file(
    cli_env: str, db_engine: sa.Engine, app: typer.Typer, tmp_path: Path, text: str, message: str
) -> None:
    windows = tmp_path / "w.csv"
    windows.write_text(text)
    result = runner.invoke(
        app,
        [
            "routes",
            "plan",
            "--depot",
            DEPOT,
            "--vehicles",
            "1",
            "--capacity",
            "100",
            "--out",
            str(tmp_path / "r.csv"),
            "--windows",
            str(windows),
            "--shift-start",
            "06:00",
        ],
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert str(windows) in said.replace(" ", "") or "w.csv" in said
    assert message in said


def test_sites_list_exports_points(
    cli_env: str, db_engine: sa.Engine, app: typer.Typer, objects, tmp_path: Path
) -> None:
    store_frames(db_engine, survey="drive-1", frames=passes(objects, start=START))
    update_sites(db_engine)
    out = tmp_path / "sites.gpkg"
    result = runner.invoke(app, ["sites", "list", "--status", "all", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pyogrio.read_dataframe(out, layer="sites")
    assert len(frame) == 4 and frame.crs.to_epsg() == 4326
    assert "4 sites (all)" in result.output


def test_sites_list_names_the_formats_it_writes(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "sites.xlsx"
    result = runner.invoke(app, ["sites", "list", "--out", str(out)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "sites.xlsx" in said and "--format" not in said
    assert "name the file *.geojson, *.csv, *.gpkg, *.gpx or *.kml" in said
    assert not out.exists()


def test_demo_routes_exports_the_survey(db_engine: sa.Engine, objects, tmp_path: Path) -> None:
    store_frames(db_engine, survey="sample", frames=passes(objects, start=START))
    plan, paths = demo_routes(db_engine, survey="sample", out_dir=tmp_path, seconds=0.3)
    assert plan.served == 4
    assert sorted(p.name for p in paths) == [
        "routes.csv",
        "routes.geojson",
        "routes.gpx",
        "routes.kml",
    ]
    assert all(p.stat().st_size > 0 for p in paths)
