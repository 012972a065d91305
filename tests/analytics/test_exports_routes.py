"""Route, line and site exports, each read back with GDAL (pyogrio) and GPX with gpxpy."""

from __future__ import annotations

import json
from pathlib import Path

import gpxpy
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import LineString

from analytics.errors import ExportError
from analytics.exports import write_lines, write_points, write_routes
from analytics.network import load_road_network
from analytics.routing import RoutePlan, SolverSettings, plan_routes

DEPOT = (60.1700, 24.9410)


@pytest.fixture(scope="module")
def plan() -> RoutePlan:
    graph = load_road_network()
    rng = np.random.default_rng(11)
    edges = list(graph.edges(data="geometry"))
    points = [
        edges[i][2].interpolate(0.5, normalized=True) for i in rng.integers(len(edges), size=9)
    ]
    sites = pd.DataFrame(
        {
            "site": np.arange(101, 110),
            "latitude": [p.y for p in points],
            "longitude": [p.x for p in points],
            "estimated_amount_l": rng.uniform(5, 30, 9).round(1),
            "hazardous": [True] + [False] * 8,
            "categories": [["hazardous"]] + [["plastic", "paper"]] * 8,
        }
    )
    result = plan_routes(
        sites, graph, depot=DEPOT, vehicles=2, capacity_l=100, solver=SolverSettings(0.3)
    )
    assert len(result.routes) == 2 and result.served == 9
    return result


def _write(plan: RoutePlan, out: Path) -> Path:
    return write_routes(plan.routes_frame(), plan.stops_frame(), out, depot=plan.depot_street)


def test_geojson_is_rfc7946_with_routes_stops_and_depot(plan: RoutePlan, tmp_path: Path) -> None:
    out = _write(plan, tmp_path / "routes.geojson")
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds.count("route") == 2 and kinds.count("stop") == 9 and kinds.count("depot") == 1
    route = next(f for f in doc["features"] if f["properties"]["kind"] == "route")
    assert route["geometry"]["type"] == "LineString"
    lon, lat = route["geometry"]["coordinates"][0]  # longitude first
    assert lon == pytest.approx(plan.depot_street[1], abs=1e-6)
    assert lat == pytest.approx(plan.depot_street[0], abs=1e-6)
    frame = pyogrio.read_dataframe(out)
    assert len(frame) == 12 and frame.crs.to_epsg() == 4326
    assert set(frame.geometry.geom_type) == {"LineString", "Point"}
    stops = frame[frame["kind"] == "stop"].sort_values(["vehicle", "sequence"])
    assert sorted(stops["site"].astype(int)) == list(range(101, 110))


def test_gpx_is_version_1_1_with_tracks_routes_and_waypoints(
    plan: RoutePlan, tmp_path: Path
) -> None:
    out = _write(plan, tmp_path / "routes.gpx")
    gpx = gpxpy.parse(out.read_text())
    assert gpx.version == "1.1" and gpx.creator == "WasteMap"
    assert len(gpx.tracks) == 2 and len(gpx.routes) == 2
    names = [w.name for w in gpx.waypoints]
    assert names[0] == "depot" and len(names) == 10
    assert any(n.startswith("R1-01 site ") for n in names)
    for track, route in zip(gpx.tracks, plan.routes, strict=True):
        points = track.segments[0].points
        assert len(points) == len(route.geometry.coords)
        assert points[0].latitude == pytest.approx(plan.depot_street[0], abs=1e-6)
        assert points[-1].longitude == pytest.approx(plan.depot_street[1], abs=1e-6)
    for gpx_route, route in zip(gpx.routes, plan.routes, strict=True):
        assert [p.name for p in gpx_route.points] == [
            "depot",
            *[f"site {s.site}" for s in route.stops],
            "depot",
        ]
    hazardous = next(w for w in gpx.waypoints if "priority hazardous" in (w.description or ""))
    assert "hazardous" in hazardous.description
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert {"waypoints", "routes", "tracks"} <= layers
    tracks = pyogrio.read_dataframe(out, layer="tracks")
    assert len(tracks) == 2 and set(tracks.geometry.geom_type) == {"MultiLineString"}
    assert len(pyogrio.read_dataframe(out, layer="waypoints")) == 10


def test_kml_has_a_folder_per_route(plan: RoutePlan, tmp_path: Path) -> None:
    out = _write(plan, tmp_path / "routes.kml")
    layers = [name for name, _ in pyogrio.list_layers(out)]
    assert layers[1:] == ["route 1", "route 2"]
    total_stops = 0
    for layer in layers[1:]:
        frame = pyogrio.read_dataframe(out, layer=layer)
        assert (frame.geometry.geom_type == "LineString").sum() == 1
        total_stops += int((frame.geometry.geom_type == "Point").sum())
    assert total_stops == 9
    depot = pyogrio.read_dataframe(out, layer=layers[0])
    assert depot["Name"].tolist() == ["depot"]


def test_csv_is_the_crews_stop_list(plan: RoutePlan, tmp_path: Path) -> None:
    out = _write(plan, tmp_path / "routes.csv")
    frame = pd.read_csv(out)
    for _, rows in frame.groupby("vehicle"):
        assert rows["kind"].iloc[0] == "depot" and rows["kind"].iloc[-1] == "depot"
        assert rows["sequence"].tolist() == list(range(len(rows)))
    assert (frame["kind"] == "stop").sum() == 9
    assert {"site", "amount_l", "arrival_min", "load_l", "priority"} <= set(frame.columns)
    gdal = pyogrio.read_dataframe(out)
    assert len(gdal) == len(frame)


def test_geopackage_has_routes_and_stops_layers(plan: RoutePlan, tmp_path: Path) -> None:
    out = _write(plan, tmp_path / "routes.gpkg")
    assert dict(pyogrio.list_layers(out)) == {"routes": "LineString", "stops": "Point"}
    routes = pyogrio.read_dataframe(out, layer="routes")
    assert routes.crs.to_epsg() == 4326 and routes["vehicle"].tolist() == [1, 2]
    assert routes["km"].tolist() == pytest.approx(
        [r.distance_m / 1000 for r in plan.routes], abs=1e-3
    )
    stops = pyogrio.read_dataframe(out, layer="stops")
    assert (stops["kind"] == "depot").sum() == 1 and (stops["kind"] == "stop").sum() == 9


@pytest.mark.parametrize("suffix", ["geojson", "csv", "gpkg"])
def test_lines(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(
        {
            "name": ["a", "b"],
            "geometry": [
                LineString([(24.93, 60.16), (24.94, 60.17)]),
                LineString([(24.95, 60.17), (24.95, 60.18)]),
            ],
        }
    )
    out = write_lines(frame, tmp_path / f"lines.{suffix}")
    back = pyogrio.read_dataframe(out) if suffix != "csv" else pd.read_csv(out)
    assert back["name"].tolist() == ["a", "b"]
    if suffix == "csv":
        assert back["wkt"].iloc[0].startswith("LINESTRING (24.93 60.16")
    else:
        assert back.geometry.iloc[1].coords[0] == pytest.approx((24.95, 60.17))


@pytest.mark.parametrize("suffix", ["geojson", "csv", "gpkg"])
def test_sites_with_category_lists_export_as_points(tmp_path: Path, suffix: str) -> None:
    sites = pd.DataFrame(
        {
            "site": [1, 2],
            "categories": [["plastic", "paper"], ["hazardous"]],
            "category_counts": [{"plastic": 2, "paper": 1}, {"hazardous": 1}],
            "latitude": [60.17, 60.171],
            "longitude": [24.94, 24.941],
            "last_seen_at": pd.to_datetime(["2026-11-20T09:00:00Z", "2026-11-21T09:00:00Z"]),
        }
    )
    out = write_points(sites, tmp_path / f"sites.{suffix}", layer="sites")
    back = pd.read_csv(out) if suffix == "csv" else pyogrio.read_dataframe(out)

    def value(v: object) -> object:  # JSON text, or the parsed value where GDAL reads JSON
        if isinstance(v, str):
            return json.loads(v)
        return v if isinstance(v, dict) else list(v)  # type: ignore[call-overload]

    assert value(back["categories"].iloc[0]) == ["plastic", "paper"]
    assert value(back["category_counts"].iloc[1]) == {"hazardous": 1}
    assert str(back["last_seen_at"].iloc[0]).startswith("2026-11-20")


def test_unknown_extension_is_explained(plan: RoutePlan, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"\*\.gpx"):
        _write(plan, tmp_path / "routes.shp")
    with pytest.raises(ExportError, match="unknown format 'gpx'"):
        write_lines(plan.routes_frame(), tmp_path / "x.gpx", file_format="gpx")
