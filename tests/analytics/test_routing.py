"""Route planning on the Helsinki road network: depot to depot, capacity, shift, streets."""

# ruff: noqa: N802, N803  (G for a graph, as in osmnx and networkx)

from __future__ import annotations

import itertools
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from analytics.errors import InfeasibleRouteError, InvalidCoordinatesError
from analytics.network import edge_index, load_road_network
from analytics.routing import (
    RoutePlan,
    SolverSettings,
    VrpInstance,
    parse_lat_lon,
    plan_routes,
    solve_vrp,
    street_legs,
)

FAST = SolverSettings(time_limit_s=0.5)
DEPOT = (60.1700, 24.9410)
GEOD = pyproj.Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def G() -> nx.MultiDiGraph:
    return load_road_network()


@pytest.fixture(scope="module")
def index(G: nx.MultiDiGraph):
    return edge_index(G)


def street_sites(G: nx.MultiDiGraph, n: int, *, seed: int = 0, **columns) -> pd.DataFrame:
    """``n`` sites at random points of random streets, a few metres off the kerb."""
    rng = np.random.default_rng(seed)
    edges = list(G.edges(keys=True, data="geometry"))
    points = [
        edges[i][3].interpolate(rng.random(), normalized=True)
        for i in rng.integers(len(edges), size=n)
    ]
    frame = pd.DataFrame(
        {
            "site": np.arange(1, n + 1),
            "latitude": [p.y + rng.normal(0, 3e-5) for p in points],
            "longitude": [p.x + rng.normal(0, 5e-5) for p in points],
            "estimated_amount_l": rng.uniform(2, 40, size=n).round(1),
            "hazardous": False,
        }
    )
    for name, value in columns.items():
        frame[name] = value
    return frame


def check_plan(
    plan: RoutePlan,
    sites: pd.DataFrame,
    G: nx.MultiDiGraph,
    *,
    capacity: float,
    max_minutes: float | None,
) -> None:
    """Every route starts and ends at the depot, respects capacity and shift, follows edges."""
    served = [s.site for r in plan.routes for s in r.stops]
    assert len(served) == len(set(served))
    assert set(served) | set(plan.unserved["site"]) == set(sites["site"])
    assert not set(served) & set(plan.unserved["site"])
    depot_street = (plan.depot_street[1], plan.depot_street[0])
    index = edge_index(G)
    for route in plan.routes:
        coords = list(route.geometry.coords)
        assert coords[0] == pytest.approx(depot_street, abs=1e-9)
        assert coords[-1] == pytest.approx(depot_street, abs=1e-9)
        assert [s.sequence for s in route.stops] == list(range(1, len(route.stops) + 1))
        assert route.load_l <= capacity + 1e-9
        assert route.load_l == pytest.approx(sum(s.amount_l for s in route.stops))
        if max_minutes is not None:
            assert route.duration_s <= max_minutes * 60 + 1e-9
        arrivals = [s.arrival_min for s in route.stops]
        assert arrivals == sorted(arrivals)
        # Follows the streets: each leg's nodes are joined by edges of G, and every vertex of
        # the line lies on an edge geometry.
        for nodes in route.nodes:
            for u, v in itertools.pairwise(nodes):
                assert G.has_edge(u, v)
        x, y = index.to_metric.transform(*np.asarray(coords).T)
        _, off = index.edge_tree.query_nearest(
            shapely.points(np.column_stack([x, y])), return_distance=True, all_matches=False
        )
        assert off.max() < 0.5
        # Its length is the distance reported.
        assert GEOD.geometry_length(route.geometry) == pytest.approx(
            route.distance_m, rel=0.02, abs=5
        )
        # Stops are where the line passes.
        line_m = shapely.transform(
            route.geometry, lambda c: np.column_stack(index.to_metric.transform(c[:, 0], c[:, 1]))
        )
        for stop in route.stops:
            sx, sy = index.to_metric.transform(stop.street_longitude, stop.street_latitude)
            assert line_m.distance(shapely.Point(sx, sy)) < 0.5


def test_routes_start_and_end_at_the_depot_within_capacity_and_shift(G, index) -> None:
    sites = street_sites(G, 30, seed=1)
    plan = plan_routes(
        sites, G, depot=DEPOT, vehicles=3, capacity_l=150, max_minutes=30, solver=FAST, index=index
    )
    assert plan.routes and plan.served >= 10
    check_plan(plan, sites, G, capacity=150, max_minutes=30)
    assert set(plan.unserved["reason"]) <= {"fleet_full"}  # total demand exceeds 3 x 150 L
    summary = plan.summary()
    assert summary["totals"]["stops"] == plan.served
    assert summary["totals"]["unserved"] == len(plan.unserved)
    assert summary["totals"]["km"] == pytest.approx(plan.distance_m / 1000, abs=1e-3)


def test_enough_fleet_serves_every_site(G, index) -> None:
    sites = street_sites(G, 25, seed=2)
    plan = plan_routes(sites, G, depot=DEPOT, vehicles=4, capacity_l=1000, solver=FAST, index=index)
    assert plan.served == 25 and plan.unserved.empty
    check_plan(plan, sites, G, capacity=1000, max_minutes=None)


def test_hazardous_and_large_sites_come_first(G, index) -> None:
    sites = street_sites(G, 12, seed=3)
    sites["estimated_amount_l"] = 10.0
    sites.loc[[2, 7], "hazardous"] = True
    sites.loc[[4, 9], "estimated_amount_l"] = 60.0  # large
    # Room for 140 L: both hazardous (20 L) and both large (120 L), nothing else.
    plan = plan_routes(sites, G, depot=DEPOT, vehicles=1, capacity_l=140, solver=FAST, index=index)
    served = {s.site for r in plan.routes for s in r.stops}
    assert served == set(sites.loc[[2, 7, 4, 9], "site"])
    assert {s.priority for r in plan.routes for s in r.stops} == {"hazardous", "large"}
    assert (plan.unserved["reason"] == "fleet_full").all()
    assert (plan.unserved["priority"] == "normal").all()


def test_sites_no_vehicle_can_serve_are_reported_with_why(G, index) -> None:
    sites = street_sites(G, 6, seed=4)
    sites.loc[0, "estimated_amount_l"] = 900.0  # bigger than a vehicle
    sites.loc[1, ["latitude", "longitude"]] = (60.20, 24.90)  # 3 km from any street of G
    sites.loc[2, ["tw_start_min", "tw_end_min"]] = (0.0, 0.05)  # closes before anyone arrives
    plan = plan_routes(
        sites, G, depot=DEPOT, vehicles=2, capacity_l=500, max_minutes=60, solver=FAST, index=index
    )
    reasons = dict(zip(plan.unserved["site"], plan.unserved["reason"], strict=True))
    assert reasons == {1: "exceeds_capacity", 2: "off_network", 3: "time_window"}
    details = dict(zip(plan.unserved["site"], plan.unserved["detail"], strict=True))
    assert "raise --capacity" in details[1] and "m from the nearest street" in details[2]
    check_plan(plan, sites, G, capacity=500, max_minutes=60)


def test_a_short_shift_leaves_far_sites_out(G, index) -> None:
    sites = street_sites(G, 10, seed=5)
    plan = plan_routes(
        sites,
        G,
        depot=DEPOT,
        vehicles=5,
        capacity_l=1000,
        max_minutes=3,
        service_minutes=1,
        solver=FAST,
        index=index,
    )
    assert "beyond_shift" in set(plan.unserved["reason"])
    assert (
        "raise --max-minutes"
        in plan.unserved.loc[plan.unserved["reason"] == "beyond_shift", "detail"].iloc[0]
    )
    check_plan(plan, sites, G, capacity=1000, max_minutes=3)


def test_time_windows_are_kept(G, index) -> None:
    sites = street_sites(G, 8, seed=6)
    sites["tw_start_min"] = np.nan
    sites["tw_end_min"] = np.nan
    sites.loc[3, ["tw_start_min", "tw_end_min"]] = (20.0, 25.0)
    plan = plan_routes(
        sites, G, depot=DEPOT, vehicles=2, capacity_l=1000, max_minutes=60, solver=FAST, index=index
    )
    assert plan.served == 8
    stop = next(s for r in plan.routes for s in r.stops if s.site == sites.loc[3, "site"])
    assert 20.0 <= stop.arrival_min <= 25.0
    check_plan(plan, sites, G, capacity=1000, max_minutes=60)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vehicles": 0}, "at least one vehicle"),
        ({"capacity_l": 0}, "capacity in litres"),
        ({"max_minutes": -5}, "--max-minutes"),
        ({"depot": (-33.8688, 151.2093)}, "the depot at -33.868800,151.209300 is"),
        ({"capacity_l": 0.5}, "raise --capacity"),
        ({"max_minutes": 0.01}, "raise --max-minutes"),
    ],
)
def test_infeasible_requests_get_a_clear_message(G, index, kwargs, message) -> None:
    sites = street_sites(G, 4, seed=7)
    request = {"depot": DEPOT, "vehicles": 2, "capacity_l": 100.0, "max_minutes": None} | kwargs
    with pytest.raises(InfeasibleRouteError, match=message):
        plan_routes(sites, G, solver=FAST, index=index, **request)


def test_no_sites_is_explained(G) -> None:
    with pytest.raises(InfeasibleRouteError, match="no litter sites"):
        plan_routes(
            pd.DataFrame(columns=["site", "latitude", "longitude", "estimated_amount_l"]),
            G,
            depot=DEPOT,
            vehicles=1,
            capacity_l=10,
        )


@pytest.mark.parametrize("text", ["60.17", "a,b", "95,24", "60.1,24.9,3"])
def test_depot_text_is_checked(text: str) -> None:
    with pytest.raises(InvalidCoordinatesError, match="--depot"):
        parse_lat_lon(text)
    assert parse_lat_lon(" 60.1699, 24.9384 ") == (60.1699, 24.9384)


def test_street_legs_match_shortest_paths_between_nodes(G, index) -> None:
    nodes = list(G.nodes)[:: max(1, len(G) // 12)][:12]
    lons = [G.nodes[n]["x"] for n in nodes]
    lats = [G.nodes[n]["y"] for n in nodes]
    legs = street_legs(G, lons, lats, index=index)
    times = dict(nx.all_pairs_dijkstra_path_length(G, weight="travel_time_s"))
    for (i, a), (j, b) in itertools.product(enumerate(nodes), repeat=2):
        assert legs.duration_s[i, j] == pytest.approx(times[a][b], abs=1e-6)
    assert (legs.distance_m >= 0).all() and np.isfinite(legs.distance_m).all()
    # The metres of a leg are those of the path it drives.
    ((_, line),) = legs.paths([(0, 5)])
    assert GEOD.geometry_length(line) == pytest.approx(legs.distance_m[0, 5], rel=0.01, abs=1)


def test_points_on_one_street_drive_straight_along_it(G, index) -> None:
    data = next(d for _, _, d in G.edges(data=True) if d["length_m"] > 100)
    line = data["geometry"]
    a, b = line.interpolate(0.2, normalized=True), line.interpolate(0.7, normalized=True)
    legs = street_legs(G, [a.x, b.x], [a.y, b.y], index=index)
    assert legs.distance_m[0, 1] == pytest.approx(0.5 * data["length_m"], rel=0.02)
    assert legs.duration_s[0, 1] == pytest.approx(0.5 * data["travel_time_s"], rel=0.02)


def test_solver_finds_the_optimum_of_a_small_cvrp() -> None:
    # Four customers at the corners of a square around the depot, two per vehicle.
    xy = np.array([[0, 0], [10, 10], [10, -10], [-10, -10], [-10, 10]], dtype=float)
    distance = np.round(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(int)
    instance = VrpInstance(
        distance=distance, demand=np.array([0, 1, 1, 1, 1]), capacity=2, vehicles=4, xy=xy
    )
    solution = solve_vrp(instance, settings=FAST)
    assert solution.feasible and solution.unvisited == []
    assert len(solution.routes) == 2
    assert solution.cost == 2 * (14 + 20 + 14)
    assert sorted(s for r in solution.routes for s in r) == [1, 2, 3, 4]


def test_benchmark_reads_cvrplib_with_the_planner_solver(shared_dir: Path) -> None:
    import importlib.util

    folder = shared_dir / "datasets" / "cvrplib"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing")
    spec = importlib.util.spec_from_file_location(
        "routing_benchmark", Path(__file__).resolve().parents[2] / "benchmarks" / "routing.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    instance, bks = module.read_cvrplib(folder / "X-n101-k25.vrp")
    assert instance.size == 100 and bks == 27591
    solution = solve_vrp(instance, settings=FAST)
    assert solution.feasible and solution.unvisited == []
    assert math.isfinite(solution.cost) and solution.cost >= bks
