# ruff: noqa: N803  (G for a graph, as in osmnx and networkx)
"""Collection routes: a capacitated vehicle routing problem over litter sites, on real streets.

:func:`plan_routes` snaps the depot and the sites to the road network (:mod:`analytics.network`),
measures every leg along the streets (:func:`street_legs`: the fastest path by the edges'
``travel_time_s``, with its length in metres), and hands the problem to :func:`solve_vrp`, which
runs PyVRP's iterated local search with :data:`DEFAULT_SOLVER`. The benchmark
(``benchmarks/routing.py``) calls the same :func:`solve_vrp` with the same settings.

The model:

- one depot; ``vehicles`` identical vehicles of ``capacity_l`` litres, each route starting and
  ending at the depot, lasting at most ``max_minutes`` (driving plus ``service_minutes`` at each
  site plus any waiting for a time window);
- a site's demand is its estimated amount in litres (rounded up; at least 1);
- every site is optional with a prize: :data:`PRIORITY_WEIGHTS` times more than any detour it
  could cost, so the solver serves as many sites as the fleet can, hazardous ones first, then
  large ones (``large_amount_l`` litres or more), and among plans that serve the same sites picks
  the shortest in metres;
- optional time windows: ``tw_start_min``/``tw_end_min`` columns, minutes after the shift starts.

Sites that no vehicle could serve (too far from any street, larger than a vehicle, a round trip
longer than the shift, a window that cannot be reached) are left out before solving; the solver
may leave out more when the fleet is too small. Each unserved site is reported with a reason
code and a sentence (:data:`UNSERVED_REASONS`). A request that no plan can meet raises
:class:`~analytics.errors.InfeasibleRouteError`.

Units: metres, seconds, litres internally; minutes and kilometres in summaries. Coordinates are
WGS84 degrees; route geometries are ``LineString`` s (lon, lat) made of the graph's edge
geometries, cut at the snapped depot and sites.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Point
from shapely.ops import substring

from analytics.errors import InfeasibleRouteError, InvalidCoordinatesError
from analytics.network import EdgeIndex, edge_index, snap_points

__all__ = [
    "DEFAULT_SOLVER",
    "PRIORITY_WEIGHTS",
    "UNSERVED_REASONS",
    "Route",
    "RoutePlan",
    "RouteStop",
    "SolverSettings",
    "StreetLegs",
    "VrpInstance",
    "VrpSolution",
    "parse_lat_lon",
    "plan_routes",
    "site_priorities",
    "solve_vrp",
    "street_legs",
]

#: Prize weight of a site by priority class: serving one hazardous site is worth more than
#: serving 99 ordinary ones, one large site more than 9.
PRIORITY_WEIGHTS: dict[str, int] = {"hazardous": 100, "large": 10, "normal": 1}
#: Sites with at least this estimated amount (litres) are "large".
DEFAULT_LARGE_AMOUNT_L = 50.0
#: Minutes a crew spends at a site (stop, load, go) unless the site says otherwise.
DEFAULT_SERVICE_MINUTES = 2.0
#: Sites and depots farther than this from any street (metres) cannot be reached.
DEFAULT_MAX_SNAP_M = 250.0

#: Why a site is left out of the plan.
UNSERVED_REASONS: dict[str, str] = {
    "off_network": "farther from any drivable street than the snapping limit",
    "exceeds_capacity": "its estimated amount is more than one vehicle holds",
    "beyond_shift": "driving there and back takes longer than the shift",
    "time_window": "its time window closes before a vehicle can get there",
    "fleet_full": "the vehicles' capacity and shift time went to higher-priority or nearer sites",
}


# --------------------------------------------------------------------------------------------
# The solver


@dataclass(frozen=True)
class SolverSettings:
    """How PyVRP is run; shared by ``wastemap routes plan`` and ``benchmarks/routing.py``.

    Parameters
    ----------
    time_limit_s : float
        Wall-clock seconds the search runs.
    seed : int
        Seed of the search's random numbers (the same seed and time give similar plans; the
        search is time-bound, so not always identical ones).
    max_no_improvement : int, optional
        Also stop after this many iterations without a better solution.
    """

    time_limit_s: float = 10.0
    seed: int = 0
    max_no_improvement: int | None = None

    def with_time_limit(self, seconds: float) -> SolverSettings:
        return SolverSettings(
            time_limit_s=seconds, seed=self.seed, max_no_improvement=self.max_no_improvement
        )


#: The settings ``wastemap routes plan`` uses (its ``--seconds`` changes only the time limit).
DEFAULT_SOLVER = SolverSettings()


@dataclass(frozen=True)
class VrpInstance:
    """A capacitated VRP in integers: location 0 is the depot, 1..n the stops.

    Parameters
    ----------
    distance : numpy.ndarray
        (n+1, n+1) integer cost of each leg (metres on streets, or the instance's own unit).
    demand : numpy.ndarray
        (n+1,) integer demand; ``demand[0]`` (the depot) is ignored.
    capacity : int
        Capacity of each vehicle, in the unit of ``demand``.
    vehicles : int
        Number of identical vehicles.
    duration : numpy.ndarray, optional
        (n+1, n+1) integer seconds of each leg; default zero.
    service_s : numpy.ndarray, optional
        (n+1,) integer seconds spent at each stop.
    shift_s : int, optional
        Longest route (driving, service and waiting) in seconds.
    tw_early_s, tw_late_s : numpy.ndarray, optional
        (n+1,) earliest and latest start of service at each stop, seconds after the shift starts.
    prize : numpy.ndarray, optional
        (n+1,) prize of each stop; given, every stop is optional and the solver minimises cost
        minus collected prizes. Not given, every stop must be served.
    xy : numpy.ndarray, optional
        (n+1, 2) coordinates (for the solver's bookkeeping only; costs come from ``distance``).
    """

    distance: np.ndarray
    demand: np.ndarray
    capacity: int
    vehicles: int
    duration: np.ndarray | None = None
    service_s: np.ndarray | None = None
    shift_s: int | None = None
    tw_early_s: np.ndarray | None = None
    tw_late_s: np.ndarray | None = None
    prize: np.ndarray | None = None
    xy: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of stops (the depot not counted)."""
        return int(self.distance.shape[0]) - 1


@dataclass(frozen=True)
class VrpSolution:
    """What :func:`solve_vrp` found.

    ``routes`` holds, per used vehicle, the stops (1..n) in visiting order; ``arrival_s`` the
    start of service at each of them (seconds after the shift starts); ``cost`` the total of
    ``distance`` over the legs driven; ``unvisited`` the optional stops left out.
    """

    routes: list[list[int]]
    arrival_s: list[list[int]]
    route_duration_s: list[int]
    cost: int
    unvisited: list[int]
    feasible: bool
    seconds: float
    iterations: int


_INT_MAX = np.iinfo(np.int64).max


def solve_vrp(instance: VrpInstance, *, settings: SolverSettings = DEFAULT_SOLVER) -> VrpSolution:
    """Solve ``instance`` with PyVRP's iterated local search under ``settings``.

    Raises
    ------
    InfeasibleRouteError
        The best solution found breaks a constraint (only possible when stops are required:
        too few vehicles for the demand, or a stop no route can reach in time).
    """
    import pyvrp
    from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement

    n = instance.size
    dist = np.ascontiguousarray(instance.distance, dtype=np.int64)
    dur = (
        np.zeros_like(dist)
        if instance.duration is None
        else np.ascontiguousarray(instance.duration, dtype=np.int64)
    )
    xy = instance.xy if instance.xy is not None else np.zeros((n + 1, 2))
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in xy]

    def at(values: np.ndarray | None, i: int, default: int) -> int:
        return default if values is None else int(values[i])

    clients = [
        pyvrp.Client(
            location=i,
            delivery=[int(instance.demand[i])],
            service_duration=at(instance.service_s, i, 0),
            tw_early=at(instance.tw_early_s, i, 0),
            tw_late=at(instance.tw_late_s, i, _INT_MAX),
            prize=at(instance.prize, i, 0),
            required=instance.prize is None,
        )
        for i in range(1, n + 1)
    ]
    shift = _INT_MAX if instance.shift_s is None else int(instance.shift_s)
    depot = pyvrp.Depot(location=0, tw_early=0, tw_late=shift)
    vehicle = pyvrp.VehicleType(
        num_available=int(instance.vehicles),
        capacity=[int(instance.capacity)],
        tw_early=0,
        tw_late=shift,
        shift_duration=shift,
    )
    data = pyvrp.ProblemData(locations, clients, [depot], [vehicle], [dist], [dur])
    stop: Any = MaxRuntime(settings.time_limit_s)
    if settings.max_no_improvement is not None:
        stop = MultipleCriteria([stop, NoImprovement(settings.max_no_improvement)])
    started = time.perf_counter()
    result = pyvrp.solve(data, stop, seed=settings.seed, collect_stats=False, display=False)
    seconds = time.perf_counter() - started
    best = result.best
    routes: list[list[int]] = []
    arrivals: list[list[int]] = []
    durations: list[int] = []
    for route in best.routes():
        visits = [a for a in route.schedule() if a.type == pyvrp.ActivityType.CLIENT]
        routes.append([a.idx + 1 for a in visits])
        arrivals.append([int(a.start_time) for a in visits])
        durations.append(int(route.duration()))
    served = {s for r in routes for s in r}
    return VrpSolution(
        routes=routes,
        arrival_s=arrivals,
        route_duration_s=durations,
        cost=int(best.distance()),
        unvisited=[i for i in range(1, n + 1) if i not in served],
        feasible=bool(best.is_feasible()),
        seconds=seconds,
        iterations=int(result.num_iterations),
    )


# --------------------------------------------------------------------------------------------
# Street legs


@dataclass
class _Graph:
    """The fastest edge between each pair of adjacent nodes, as arrays for scipy."""

    nodes: list[Any]
    pos: dict[Any, int]
    csr: csr_matrix
    edge_keys: np.ndarray  # sorted row * N + col
    edge_m: np.ndarray  # metres of the fastest edge, in edge_keys order
    best: dict[tuple[Any, Any], tuple[Any, float, float]]  # (u, v) -> (key, seconds, metres)


def _graph_arrays(G: nx.MultiDiGraph) -> _Graph:
    best: dict[tuple[Any, Any], tuple[Any, float, float]] = {}
    for u, v, k, d in G.edges(keys=True, data=True):
        t, m = float(d["travel_time_s"]), float(d["length_m"])
        current = best.get((u, v))
        if u != v and (current is None or t < current[1]):
            best[(u, v)] = (k, t, m)
    nodes = list(G.nodes)
    pos = {node: i for i, node in enumerate(nodes)}
    n = len(nodes)
    rows = np.fromiter((pos[u] for u, _ in best), dtype=np.int64, count=len(best))
    cols = np.fromiter((pos[v] for _, v in best), dtype=np.int64, count=len(best))
    secs = np.fromiter((max(b[1], 1e-6) for b in best.values()), dtype=float, count=len(best))
    metres = np.fromiter((b[2] for b in best.values()), dtype=float, count=len(best))
    keys = rows * n + cols
    order = np.argsort(keys)
    return _Graph(
        nodes=nodes,
        pos=pos,
        csr=csr_matrix((secs, (rows, cols)), shape=(n, n)),
        edge_keys=keys[order],
        edge_m=metres[order],
        best=best,
    )


def _tree_metres(pred: np.ndarray, graph: _Graph) -> np.ndarray:
    """Metres from each row's source to every node along its shortest-time tree
    (``pred`` from scipy's dijkstra), by pointer jumping."""
    n = pred.shape[1]
    has = pred >= 0
    rows, cols = np.nonzero(has)
    acc = np.zeros(pred.shape, dtype=float)
    acc[rows, cols] = graph.edge_m[
        np.searchsorted(graph.edge_keys, pred[rows, cols].astype(np.int64) * n + cols)
    ]
    anc = np.where(has, pred, -1).astype(np.int64)
    while True:
        rows, cols = np.nonzero(anc >= 0)
        if len(rows) == 0:
            return acc
        up = anc[rows, cols]
        new_acc = acc[rows, cols] + acc[rows, up]
        new_anc = anc[rows, up]
        acc[rows, cols] = new_acc
        anc[rows, cols] = new_anc


#: Ways to leave (and to reach) a point on an edge: along it either way, or from the node it
#: sits on.
_WAYS = 3
#: A point this close to a node (metres) is at the node.
_AT_NODE_M = 0.5


@dataclass
class _Anchor:
    """A point snapped onto an edge, and the ways to leave it and reach it."""

    edge: tuple[Any, Any, Any]
    frac: float  # along the edge from u, by length
    frac_ll: float  # the same, along the lon/lat geometry
    geometry: LineString  # the edge's, u -> v (lon/lat)
    exits: list[tuple[Any, float, float, str]]  # (node, seconds, metres, fwd|rev|here)
    entries: list[tuple[Any, float, float, str]]


class StreetLegs:
    """Travel between points along the streets of a graph: matrices and leg geometries.

    Build it with :func:`street_legs`. Point ``i`` is snapped onto its nearest edge; a leg from
    ``i`` to ``j`` leaves ``i`` along its edge (either way on a two-way street), follows the
    fastest path between nodes (by ``travel_time_s``) and arrives along ``j``'s edge.

    Attributes
    ----------
    duration_s : numpy.ndarray
        (n, n) seconds of each leg; ``inf`` where ``j`` cannot be reached from ``i``.
    distance_m : numpy.ndarray
        (n, n) metres of each leg (along the same fastest path).
    snap : pandas.DataFrame
        :func:`analytics.network.snap_points` of the points (``distance_m`` from each point to
        its street, ``snapped_lon``/``snapped_lat``).
    """

    _CHUNK = 64  # dijkstra sources per block (memory: CHUNK x nodes floats)

    def __init__(self, G: nx.MultiDiGraph, lons: Any, lats: Any, *, index: EdgeIndex | None):
        self.G = G
        self.snap = snap_points(G, lons, lats, index=index)
        self._graph = _graph_arrays(G)
        self._anchors = [self._anchor(row) for row in self.snap.itertuples(index=False)]
        self.duration_s, self.distance_m, self._choice = self._matrices()

    def _anchor(self, row: Any) -> _Anchor:
        u, v, key = row.u, row.v, row.key
        data = self.G.edges[u, v, key]
        length = max(float(row.edge_length_m), 1e-9)
        f = min(max(float(row.position_m) / length, 0.0), 1.0)
        geometry: LineString = data["geometry"]
        f_ll = float(geometry.project(Point(row.snapped_lon, row.snapped_lat), normalized=True))
        t, m = float(data["travel_time_s"]), float(data["length_m"])
        exits = [(v, (1 - f) * t, (1 - f) * m, "fwd")]
        entries = [(u, f * t, f * m, "fwd")]
        reverse = self._reverse_of(u, v, m)
        if reverse is not None:
            t_rev, m_rev = reverse
            exits.append((u, f * t_rev, f * m_rev, "rev"))
            entries.append((v, (1 - f) * t_rev, (1 - f) * m_rev, "rev"))
        # A point at a node leaves and is reached through that node's other streets too.
        if f * m <= _AT_NODE_M:
            exits.append((u, 0.0, 0.0, "here"))
        if (1 - f) * m <= _AT_NODE_M:
            entries.append((v, 0.0, 0.0, "here"))
        return _Anchor((u, v, key), f, f_ll, geometry, exits, entries)

    def _reverse_of(self, u: Any, v: Any, metres: float) -> tuple[float, float] | None:
        """Seconds and metres of the same street driven from ``v`` to ``u``, if it is two-way."""
        best = self._graph.best.get((v, u))
        if best is None or abs(best[2] - metres) > max(1.0, 0.02 * metres):
            return None
        return best[1], best[2]

    def _matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        graph, anchors = self._graph, self._anchors
        n = len(anchors)
        width = _WAYS
        exit_node = np.full((n, width), -1, dtype=np.int64)
        exit_t = np.full((n, width), np.inf)
        exit_m = np.zeros((n, width))
        entry_node = np.full((n, width), -1, dtype=np.int64)
        entry_t = np.full((n, width), np.inf)
        entry_m = np.zeros((n, width))
        for i, a in enumerate(anchors):
            for w, (node, t, m, _) in enumerate(a.exits):
                exit_node[i, w], exit_t[i, w], exit_m[i, w] = graph.pos[node], t, m
            for w, (node, t, m, _) in enumerate(a.entries):
                entry_node[i, w], entry_t[i, w], entry_m[i, w] = graph.pos[node], t, m
        sources = np.unique(exit_node[exit_node >= 0])
        targets = np.unique(entry_node[entry_node >= 0])
        src_row = {int(s): r for r, s in enumerate(sources)}
        tgt_col = {int(t): c for c, t in enumerate(targets)}
        node_t = np.empty((len(sources), len(targets)))
        node_m = np.empty((len(sources), len(targets)))
        for start in range(0, len(sources), self._CHUNK):
            block = sources[start : start + self._CHUNK]
            secs, pred = dijkstra(graph.csr, directed=True, indices=block, return_predecessors=True)
            metres = _tree_metres(pred, graph)
            node_t[start : start + len(block)] = secs[:, targets]
            node_m[start : start + len(block)] = metres[:, targets]

        def rows_of(nodes: np.ndarray) -> np.ndarray:
            return np.array([src_row.get(int(x), 0) for x in nodes.ravel()]).reshape(nodes.shape)

        def cols_of(nodes: np.ndarray) -> np.ndarray:
            return np.array([tgt_col.get(int(x), 0) for x in nodes.ravel()]).reshape(nodes.shape)

        er, ec = rows_of(exit_node), cols_of(entry_node)
        # combos[i, j, a, b]: leave i by exit a, arrive at j by entry b.
        total_t = (
            exit_t[:, None, :, None]
            + node_t[er[:, None, :, None], ec[None, :, None, :]]
            + entry_t[None, :, None, :]
        )
        total_m = (
            exit_m[:, None, :, None]
            + node_m[er[:, None, :, None], ec[None, :, None, :]]
            + entry_m[None, :, None, :]
        )
        flat_t = total_t.reshape(n, n, width * width)
        choice = np.argmin(flat_t, axis=2)
        duration = np.take_along_axis(flat_t, choice[..., None], axis=2)[..., 0]
        distance = np.take_along_axis(total_m.reshape(n, n, -1), choice[..., None], axis=2)[..., 0]
        self._same_edge(duration, distance, choice)
        np.fill_diagonal(duration, 0.0)
        np.fill_diagonal(distance, 0.0)
        return duration, distance, choice

    def _same_edge(self, duration: np.ndarray, distance: np.ndarray, choice: np.ndarray) -> None:
        """Points on the same street: drive straight along it when that is quicker."""
        by_street: dict[frozenset[Any], list[int]] = {}
        for i, a in enumerate(self._anchors):
            by_street.setdefault(frozenset(a.edge[:2]), []).append(i)
        for members in by_street.values():
            for i in members:
                for j in members:
                    direct = self._direct(i, j)
                    if direct is not None and i != j and direct[0] < duration[i, j]:
                        duration[i, j], distance[i, j] = direct
                        choice[i, j] = -1

    def _direct(self, i: int, j: int) -> tuple[float, float] | None:
        """Seconds and metres from ``i`` to ``j`` straight along the street they share."""
        a, b = self._anchors[i], self._anchors[j]
        u, v = a.edge[:2]
        fb = b.frac if b.edge[:2] == (u, v) else 1.0 - b.frac
        forward = self._graph.best.get((u, v))
        backward = self._reverse_of(u, v, forward[2]) if forward else None
        if fb >= a.frac and forward is not None:
            return (fb - a.frac) * forward[1], (fb - a.frac) * forward[2]
        if fb < a.frac and backward is not None:
            return (a.frac - fb) * backward[0], (a.frac - fb) * backward[1]
        return None

    # ---------------------------------------------------------------------------------------
    # Geometry

    def paths(self, legs: Sequence[tuple[int, int]]) -> list[tuple[list[Any], LineString]]:
        """The graph nodes passed and the geometry (lon/lat) of each leg ``(i, j)``."""
        graph = self._graph
        wanted: dict[int, list[tuple[int, int, int]]] = {}
        for n_leg, (i, j) in enumerate(legs):
            c = int(self._choice[i, j])
            if i == j or c < 0:
                continue
            node = graph.pos[self._anchors[i].exits[c // _WAYS][0]]
            wanted.setdefault(node, []).append((n_leg, i, j))
        node_paths: dict[int, list[Any]] = {}
        sources = np.array(sorted(wanted), dtype=np.int64)
        for start in range(0, len(sources), self._CHUNK):
            block = sources[start : start + self._CHUNK]
            _, pred = dijkstra(graph.csr, directed=True, indices=block, return_predecessors=True)
            for r, source in enumerate(block):
                for n_leg, i, j in wanted[int(source)]:
                    c = int(self._choice[i, j])
                    target = graph.pos[self._anchors[j].entries[c % _WAYS][0]]
                    node_paths[n_leg] = _walk_back(pred[r], int(source), target, graph.nodes)
        out = []
        for n_leg, (i, j) in enumerate(legs):
            out.append(self._leg_geometry(i, j, node_paths.get(n_leg)))
        return out

    def _leg_geometry(
        self, i: int, j: int, nodes: list[Any] | None
    ) -> tuple[list[Any], LineString]:
        a, b = self._anchors[i], self._anchors[j]
        start = _point_on(a)
        if i == j:
            return [], LineString([start, start])
        c = int(self._choice[i, j])
        if c < 0:  # straight along the shared street
            u, v = a.edge[:2]
            fb = b.frac_ll if b.edge[:2] == (u, v) else 1.0 - b.frac_ll
            part = substring(a.geometry, a.frac_ll, fb, normalized=True)
            return [], _line(_coords(part) or [start, _point_on(b)])
        exit_kind = a.exits[c // _WAYS][3]
        entry_kind = b.entries[c % _WAYS][3]
        coords: list[tuple[float, float]] = []
        # Leave i along its street: forward to v, or back to u.
        if exit_kind != "here":
            end = 1.0 if exit_kind == "fwd" else 0.0
            coords += _coords(substring(a.geometry, a.frac_ll, end, normalized=True))
        assert nodes is not None
        for u, v in itertools.pairwise(nodes):
            key = self._graph.best[(u, v)][0]
            coords += list(self.G.edges[u, v, key]["geometry"].coords)
        # Arrive at j along its street: from u forward, or from v backwards.
        if entry_kind != "here":
            begin = 0.0 if entry_kind == "fwd" else 1.0
            coords += _coords(substring(b.geometry, begin, b.frac_ll, normalized=True))
        return nodes, _line([start, *coords, _point_on(b)])


def _walk_back(pred_row: np.ndarray, source: int, target: int, nodes: list[Any]) -> list[Any]:
    path = [target]
    while path[-1] != source:
        p = int(pred_row[path[-1]])
        if p < 0:
            raise InfeasibleRouteError(
                f"node {nodes[target]} cannot be reached from node {nodes[source]} on the road "
                "network; load a network whose streets are connected (load_road_network keeps "
                "the largest strongly connected part)"
            )
        path.append(p)
    return [nodes[k] for k in reversed(path)]


def _point_on(anchor: _Anchor) -> tuple[float, float]:
    point = anchor.geometry.interpolate(anchor.frac_ll, normalized=True)
    return (float(point.x), float(point.y))


def _coords(geometry: Any) -> list[tuple[float, float]]:
    if geometry is None or geometry.is_empty:
        return []
    if isinstance(geometry, Point):
        return [(float(geometry.x), float(geometry.y))]
    return [(float(x), float(y)) for x, y, *_ in geometry.coords]


def _line(coords: list[tuple[float, float]]) -> LineString:
    out: list[tuple[float, float]] = []
    for c in coords:
        if not out or (abs(c[0] - out[-1][0]) > 1e-12 or abs(c[1] - out[-1][1]) > 1e-12):
            out.append(c)
    if len(out) == 1:
        out.append(out[0])
    return LineString(out)


def street_legs(
    G: nx.MultiDiGraph, lons: Any, lats: Any, *, index: EdgeIndex | None = None
) -> StreetLegs:
    """Travel times, distances and leg geometries between points along ``G``'s streets.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        From :func:`analytics.network.load_road_network` (edges with ``travel_time_s``,
        ``length_m`` and ``geometry``).
    lons, lats : array_like of float
        The points, in degrees (EPSG:4326).
    index : EdgeIndex, optional
        :func:`analytics.network.edge_index` of ``G``, when it is already built.

    Returns
    -------
    StreetLegs
    """
    return StreetLegs(G, lons, lats, index=index or edge_index(G))


# --------------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True)
class RouteStop:
    """One site on a route: ``sequence`` 1, 2, ... in visiting order; ``arrival_min`` the start
    of service in minutes after the shift starts; ``load_l`` the litres on board after it."""

    site: Any
    sequence: int
    latitude: float
    longitude: float
    street_latitude: float
    street_longitude: float
    amount_l: float
    priority: str
    arrival_min: float
    load_l: float
    categories: str = ""


@dataclass(frozen=True)
class Route:
    """One vehicle's route, from the depot back to the depot.

    ``geometry`` is the line driven (lon/lat), made of the graph's edge geometries; ``nodes``
    the graph nodes passed, leg by leg.
    """

    vehicle: int
    stops: list[RouteStop]
    distance_m: float
    duration_s: float
    service_s: float
    load_l: float
    geometry: LineString
    nodes: list[list[Any]] = field(default_factory=list)

    @property
    def travel_s(self) -> float:
        return self.duration_s - self.service_s


@dataclass
class RoutePlan:
    """Routes for a fleet, and the sites left out with why."""

    routes: list[Route]
    unserved: pd.DataFrame  # site, latitude, longitude, amount_l, priority, reason, detail
    depot: tuple[float, float]  # (lat, lon) as asked
    depot_street: tuple[float, float]  # (lat, lon) snapped to the street
    vehicles: int
    capacity_l: float
    max_minutes: float | None
    solver_seconds: float
    solver_iterations: int

    @property
    def distance_m(self) -> float:
        return float(sum(r.distance_m for r in self.routes))

    @property
    def duration_s(self) -> float:
        return float(sum(r.duration_s for r in self.routes))

    @property
    def served(self) -> int:
        return sum(len(r.stops) for r in self.routes)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: per route stops, km, minutes and litres; totals; unserved."""
        unserved = [
            {
                "site": _plain(row.site),
                "priority": row.priority,
                "reason": row.reason,
                "detail": row.detail,
            }
            for row in self.unserved.itertuples(index=False)
        ]
        return {
            "depot": {"latitude": self.depot[0], "longitude": self.depot[1]},
            "vehicles": self.vehicles,
            "capacity_l": self.capacity_l,
            "max_minutes": self.max_minutes,
            "routes": [
                {
                    "vehicle": r.vehicle,
                    "stops": len(r.stops),
                    "sites": [_plain(s.site) for s in r.stops],
                    "km": round(r.distance_m / 1000, 3),
                    "minutes": round(r.duration_s / 60, 1),
                    "load_l": round(r.load_l, 1),
                }
                for r in self.routes
            ],
            "totals": {
                "routes": len(self.routes),
                "stops": self.served,
                "km": round(self.distance_m / 1000, 3),
                "minutes": round(self.duration_s / 60, 1),
                "load_l": round(sum(r.load_l for r in self.routes), 1),
                "unserved": len(unserved),
            },
            "unserved": unserved,
            "solver": {
                "seconds": round(self.solver_seconds, 2),
                "iterations": self.solver_iterations,
            },
        }

    def routes_frame(self) -> pd.DataFrame:
        """One row per route: ``vehicle``, ``stops``, ``km``, ``minutes``, ``load_l`` and its
        ``geometry`` (a ``LineString``, lon/lat)."""
        return pd.DataFrame(
            [
                {
                    "vehicle": r.vehicle,
                    "name": f"route {r.vehicle}",
                    "stops": len(r.stops),
                    "km": round(r.distance_m / 1000, 3),
                    "minutes": round(r.duration_s / 60, 1),
                    "load_l": round(r.load_l, 1),
                    "geometry": r.geometry,
                }
                for r in self.routes
            ],
            columns=["vehicle", "name", "stops", "km", "minutes", "load_l", "geometry"],
        )

    def stops_frame(self) -> pd.DataFrame:
        """One row per stop in route order: ``vehicle``, ``sequence``, ``site``, ``latitude``,
        ``longitude`` (the site), ``street_latitude``/``street_longitude`` (where the vehicle
        stops), ``amount_l``, ``load_l``, ``arrival_min``, ``priority``, ``categories``."""
        rows = [
            {"vehicle": r.vehicle, **{k: getattr(s, k) for k in RouteStop.__dataclass_fields__}}
            for r in self.routes
            for s in r.stops
        ]
        columns = ["vehicle", *RouteStop.__dataclass_fields__]
        frame = pd.DataFrame(rows, columns=columns)
        return frame[
            ["vehicle", "sequence", *[c for c in columns if c not in ("vehicle", "sequence")]]
        ]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def parse_lat_lon(text: str, *, what: str = "--depot") -> tuple[float, float]:
    """``"LAT,LON"`` in degrees as ``(lat, lon)``, or a named error saying how to write it."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidCoordinatesError(
            f"{what} {text!r}: write the latitude and longitude in degrees separated by a comma, "
            "e.g. 60.1699,24.9384"
        ) from None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        raise InvalidCoordinatesError(
            f"{what} {text!r}: latitude must lie in [-90, 90] and longitude in [-180, 180] "
            "degrees (latitude first)"
        )
    return lat, lon


def site_priorities(
    sites: pd.DataFrame, *, large_amount_l: float = DEFAULT_LARGE_AMOUNT_L
) -> pd.Series:
    """Each site's priority class: ``hazardous``, ``large`` (at least ``large_amount_l``
    litres) or ``normal``; a ``priority`` column in ``sites`` wins when present."""
    if "priority" in sites:
        return sites["priority"].astype(str)
    hazardous = (
        sites["hazardous"].fillna(False).astype(bool)
        if "hazardous" in sites
        else pd.Series(False, index=sites.index)
    )
    large = sites["estimated_amount_l"].astype(float) >= large_amount_l
    return pd.Series(
        np.where(hazardous, "hazardous", np.where(large, "large", "normal")), index=sites.index
    )


@dataclass(frozen=True)
class _Request:
    vehicles: int
    capacity: int
    shift_s: int | None
    service_s: np.ndarray
    tw_early_s: np.ndarray | None
    tw_late_s: np.ndarray | None


def _check_request(
    *, vehicles: int, capacity_l: float, max_minutes: float | None, max_snap_m: float
) -> None:
    if int(vehicles) < 1:
        raise InfeasibleRouteError(f"--vehicles {vehicles}: plan with at least one vehicle")
    if not (math.isfinite(capacity_l) and capacity_l > 0):
        raise InfeasibleRouteError(
            f"--capacity {capacity_l}: give each vehicle's capacity in litres, more than 0"
        )
    if max_minutes is not None and not (math.isfinite(max_minutes) and max_minutes > 0):
        raise InfeasibleRouteError(
            f"--max-minutes {max_minutes}: give the longest shift in minutes, more than 0"
        )
    if not max_snap_m > 0:
        raise InfeasibleRouteError(f"max_snap_m={max_snap_m}: give a positive distance in metres")


def plan_routes(
    sites: pd.DataFrame,
    G: nx.MultiDiGraph,
    *,
    depot: tuple[float, float],
    vehicles: int,
    capacity_l: float,
    max_minutes: float | None = None,
    service_minutes: float = DEFAULT_SERVICE_MINUTES,
    large_amount_l: float = DEFAULT_LARGE_AMOUNT_L,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    solver: SolverSettings = DEFAULT_SOLVER,
    index: EdgeIndex | None = None,
) -> RoutePlan:
    """Plan collection routes from ``depot`` over ``sites`` along the streets of ``G``.

    Parameters
    ----------
    sites : pandas.DataFrame
        One row per site: ``site`` (its id), ``latitude``, ``longitude`` (degrees),
        ``estimated_amount_l``; optionally ``hazardous``, ``priority`` (``hazardous``, ``large``
        or ``normal``), ``service_minutes``, ``tw_start_min`` and ``tw_end_min`` (a time window,
        minutes after the shift starts) and ``categories``.
    G : networkx.MultiDiGraph
        A drivable road network from :func:`analytics.network.load_road_network`.
    depot : (float, float)
        Where routes start and end, ``(latitude, longitude)`` in degrees.
    vehicles : int
        Vehicles available (each drives at most one route).
    capacity_l : float
        Litres each vehicle holds.
    max_minutes : float, optional
        Longest route in minutes (driving, service and waiting); default no limit.
    service_minutes : float
        Minutes spent at each site without a ``service_minutes`` of its own.
    large_amount_l : float
        Sites of at least this many litres are ``large`` (priority after hazardous).
    max_snap_m : float
        Sites (and the depot) farther than this many metres from a street cannot be reached.
    solver : SolverSettings
        Default :data:`DEFAULT_SOLVER`.
    index : EdgeIndex, optional
        :func:`analytics.network.edge_index` of ``G``, when already built.

    Returns
    -------
    RoutePlan

    Raises
    ------
    InfeasibleRouteError
        No vehicle, no capacity, no shift, a depot off the road network, or no site that any
        vehicle could serve (the message says which limit stops each).
    InvalidCoordinatesError
        The depot or a site has impossible coordinates.
    """
    _check_request(
        vehicles=vehicles, capacity_l=capacity_l, max_minutes=max_minutes, max_snap_m=max_snap_m
    )
    lat0, lon0 = parse_lat_lon(f"{depot[0]},{depot[1]}", what="depot")
    sites = sites.reset_index(drop=True)
    if len(sites) == 0:
        raise InfeasibleRouteError(
            "there are no litter sites to visit; run `wastemap sites update` after ingesting "
            "detections, or widen --since"
        )
    index = index or edge_index(G)
    legs = street_legs(
        G,
        np.concatenate([[lon0], sites["longitude"].to_numpy(float)]),
        np.concatenate([[lat0], sites["latitude"].to_numpy(float)]),
        index=index,
    )
    depot_snap = legs.snap.iloc[0]
    if depot_snap["distance_m"] > max_snap_m:
        raise InfeasibleRouteError(
            f"the depot at {lat0:.6f},{lon0:.6f} is {depot_snap['distance_m']:.0f} m from the "
            f"nearest street of the road network (limit {max_snap_m:.0f} m); give a --depot on "
            f"a street of the network, which spans lat {_span(G, 'y')}, lon {_span(G, 'x')}"
        )
    amount = sites["estimated_amount_l"].astype(float).fillna(0.0).to_numpy()
    demand = np.maximum(np.ceil(amount - 1e-9), 1).astype(np.int64)
    priority = site_priorities(sites, large_amount_l=large_amount_l).to_numpy()
    request = _Request(
        vehicles=int(vehicles),
        capacity=math.floor(capacity_l + 1e-9),
        shift_s=None if max_minutes is None else round(max_minutes * 60),
        service_s=np.round(
            60
            * sites.get("service_minutes", pd.Series(service_minutes, index=sites.index))
            .astype(float)
            .fillna(service_minutes)
            .to_numpy()
        ).astype(np.int64),
        tw_early_s=_minutes_column(sites, "tw_start_min", 0.0),
        tw_late_s=_minutes_column(sites, "tw_end_min", None),
    )
    _check_windows(sites, request)
    reasons = _unservable(legs, sites, demand, request, max_snap_m)
    candidates = [i for i in range(len(sites)) if i not in reasons]
    if not candidates:
        raise InfeasibleRouteError(_nothing_servable(reasons, len(sites), request))
    solution = _solve_candidates(legs, candidates, demand, priority, request, solver)
    for i in solution.unvisited:
        site = candidates[i - 1]
        reasons[site] = (
            "fleet_full",
            f"{vehicles} vehicle(s) of {capacity_l:g} L"
            + (f" and {max_minutes:g} min" if max_minutes is not None else "")
            + " could not also fit this site; add vehicles, capacity or minutes",
        )
    routes = _routes(legs, sites, candidates, solution, demand, amount, priority, request)
    return RoutePlan(
        routes=routes,
        unserved=_unserved_frame(sites, reasons, amount, priority),
        depot=(lat0, lon0),
        depot_street=(float(depot_snap["snapped_lat"]), float(depot_snap["snapped_lon"])),
        vehicles=int(vehicles),
        capacity_l=float(capacity_l),
        max_minutes=max_minutes,
        solver_seconds=solution.seconds,
        solver_iterations=solution.iterations,
    )


def _span(G: nx.MultiDiGraph, attr: str) -> str:
    values = [d[attr] for _, d in G.nodes(data=True)]
    return f"{min(values):.4f}..{max(values):.4f}"


def _minutes_column(sites: pd.DataFrame, column: str, default: float | None) -> np.ndarray | None:
    if column not in sites:
        return None
    values = sites[column].astype(float)
    if default is None:
        return np.where(values.isna(), np.nan, np.round(values * 60)).astype(float)
    return np.round(values.fillna(default).to_numpy() * 60).astype(float)


def _check_windows(sites: pd.DataFrame, request: _Request) -> None:
    if request.tw_early_s is None or request.tw_late_s is None:
        return
    bad = np.flatnonzero(request.tw_early_s > request.tw_late_s)  # NaN compares False
    if len(bad):
        i = int(bad[0])
        raise InfeasibleRouteError(
            f"site {sites['site'].iloc[i]}: its time window starts {request.tw_early_s[i] / 60:g}"
            f" min into the shift but ends at {request.tw_late_s[i] / 60:g} min; give "
            "tw_start_min <= tw_end_min"
        )


def _unservable(
    legs: StreetLegs,
    sites: pd.DataFrame,
    demand: np.ndarray,
    request: _Request,
    max_snap_m: float,
) -> dict[int, tuple[str, str]]:
    """Sites no vehicle could serve, whatever the others do: index -> (reason, detail)."""
    reasons: dict[int, tuple[str, str]] = {}
    snap = legs.snap["distance_m"].to_numpy()[1:]
    there = legs.duration_s[0, 1:]
    back = legs.duration_s[1:, 0]
    for i in range(len(sites)):
        if snap[i] > max_snap_m:
            reasons[i] = (
                "off_network",
                f"{snap[i]:.0f} m from the nearest street (limit {max_snap_m:.0f} m)",
            )
        elif not (np.isfinite(there[i]) and np.isfinite(back[i])):
            reasons[i] = ("off_network", "cannot be reached from the depot along the streets")
        elif demand[i] > request.capacity:
            reasons[i] = (
                "exceeds_capacity",
                f"about {demand[i]} L, more than a vehicle's {request.capacity} L; "
                "send a larger vehicle or raise --capacity",
            )
        elif (
            request.shift_s is not None
            and there[i] + request.service_s[i] + back[i] > request.shift_s
        ):
            minutes = (there[i] + request.service_s[i] + back[i]) / 60
            reasons[i] = (
                "beyond_shift",
                f"the round trip takes {minutes:.0f} min, longer than the {request.shift_s / 60:g}"
                "-min shift; raise --max-minutes",
            )
        elif (
            request.tw_late_s is not None
            and np.isfinite(request.tw_late_s[i])
            and there[i] > request.tw_late_s[i]
        ):
            reasons[i] = (
                "time_window",
                f"its window closes {request.tw_late_s[i] / 60:g} min into the shift but the "
                f"drive there takes {there[i] / 60:.0f} min",
            )
    return reasons


def _nothing_servable(reasons: dict[int, tuple[str, str]], n: int, request: _Request) -> str:
    counts: dict[str, int] = {}
    for code, _ in reasons.values():
        counts[code] = counts.get(code, 0) + 1
    fixes = {
        "off_network": "load the road network of the sites' city (--network)",
        "exceeds_capacity": f"raise --capacity (now {request.capacity} L)",
        "beyond_shift": "raise --max-minutes"
        + (f" (now {request.shift_s / 60:g})" if request.shift_s else ""),
        "time_window": "widen the sites' time windows",
    }
    why = "; ".join(f"{k} site(s): {UNSERVED_REASONS[c]}" for c, k in sorted(counts.items()))
    example = next(iter(reasons.values()))[1]
    fix = ", or ".join(fixes[c] for c in sorted(counts))
    return f"none of the {n} sites can be served: {why} (e.g. {example}). To fix: {fix}"


def _solve_candidates(
    legs: StreetLegs,
    candidates: list[int],
    demand: np.ndarray,
    priority: np.ndarray,
    request: _Request,
    solver: SolverSettings,
) -> VrpSolution:
    loc = np.array([0, *[i + 1 for i in candidates]])
    distance = np.round(legs.distance_m[np.ix_(loc, loc)]).astype(np.int64)
    duration = np.round(legs.duration_s[np.ix_(loc, loc)]).astype(np.int64)
    # Any detour costs less than twice the longest leg: a prize above that is always worth it.
    unit = 2 * int(distance.max()) + 1
    weights = np.array([PRIORITY_WEIGHTS.get(str(priority[i]), 1) for i in candidates])
    idx = np.array(candidates)

    def with_depot(values: np.ndarray | None, depot_value: float) -> np.ndarray | None:
        if values is None:
            return None
        return np.concatenate([[depot_value], values[idx]])

    late = None
    if request.tw_late_s is not None:
        values = request.tw_late_s[idx]
        late = np.full(len(idx) + 1, _INT_MAX, dtype=np.int64)
        known = np.isfinite(values)
        late[1:][known] = values[known].astype(np.int64)
        late[0] = request.shift_s if request.shift_s is not None else _INT_MAX
    instance = VrpInstance(
        distance=distance,
        duration=duration,
        demand=np.concatenate([[0], demand[idx]]),
        capacity=request.capacity,
        vehicles=request.vehicles,
        service_s=with_depot(request.service_s, 0),
        shift_s=request.shift_s,
        tw_early_s=None
        if request.tw_early_s is None
        else with_depot(request.tw_early_s, 0).astype(np.int64),
        tw_late_s=late,
        prize=np.concatenate([[0], weights * unit]).astype(np.int64),
        xy=np.column_stack(
            [legs.snap["snapped_lon"].to_numpy()[loc], legs.snap["snapped_lat"].to_numpy()[loc]]
        ),
    )
    return solve_vrp(instance, settings=solver)


def _routes(
    legs: StreetLegs,
    sites: pd.DataFrame,
    candidates: list[int],
    solution: VrpSolution,
    demand: np.ndarray,
    amount: np.ndarray,
    priority: np.ndarray,
    request: _Request,
) -> list[Route]:
    routes = []
    pairs: list[tuple[int, int]] = []
    visits: list[list[int]] = []
    for stops in solution.routes:
        point = [0, *[candidates[s - 1] + 1 for s in stops], 0]  # legs' point indices
        visits.append(point)
        pairs += list(itertools.pairwise(point))
    geometries = iter(legs.paths(pairs))
    categories = sites.get("categories")
    for vehicle, (stops, arrivals, point) in enumerate(
        zip(solution.routes, solution.arrival_s, visits, strict=True), start=1
    ):
        leg_parts = [next(geometries) for _ in range(len(point) - 1)]
        coords: list[tuple[float, float]] = []
        for _, line in leg_parts:
            coords += [(float(x), float(y)) for x, y in line.coords]
        load = 0.0
        route_stops = []
        for seq, (s, arrival) in enumerate(zip(stops, arrivals, strict=True), start=1):
            i = candidates[s - 1]
            load += float(amount[i])
            snap = legs.snap.iloc[i + 1]
            route_stops.append(
                RouteStop(
                    site=_plain(sites["site"].iloc[i]),
                    sequence=seq,
                    latitude=float(sites["latitude"].iloc[i]),
                    longitude=float(sites["longitude"].iloc[i]),
                    street_latitude=float(snap["snapped_lat"]),
                    street_longitude=float(snap["snapped_lon"]),
                    amount_l=round(float(amount[i]), 2),
                    priority=str(priority[i]),
                    arrival_min=round(arrival / 60, 2),
                    load_l=round(load, 2),
                    categories=_categories_text(
                        categories.iloc[i] if categories is not None else ""
                    ),
                )
            )
        service = float(sum(request.service_s[candidates[s - 1]] for s in stops))
        metres = float(sum(legs.distance_m[a, b] for a, b in itertools.pairwise(point)))
        routes.append(
            Route(
                vehicle=vehicle,
                stops=route_stops,
                distance_m=metres,
                duration_s=float(solution.route_duration_s[vehicle - 1]),
                service_s=service,
                load_l=round(load, 2),
                geometry=_line(coords),
                nodes=[nodes for nodes, _ in leg_parts],
            )
        )
    return routes


def _categories_text(value: Any) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return ",".join(str(v) for v in value)
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _unserved_frame(
    sites: pd.DataFrame,
    reasons: dict[int, tuple[str, str]],
    amount: np.ndarray,
    priority: np.ndarray,
) -> pd.DataFrame:
    order = {"hazardous": 0, "large": 1, "normal": 2}
    rows = [
        {
            "site": _plain(sites["site"].iloc[i]),
            "latitude": float(sites["latitude"].iloc[i]),
            "longitude": float(sites["longitude"].iloc[i]),
            "amount_l": round(float(amount[i]), 2),
            "priority": str(priority[i]),
            "reason": code,
            "detail": detail,
        }
        for i, (code, detail) in reasons.items()
    ]
    frame = pd.DataFrame(
        rows, columns=["site", "latitude", "longitude", "amount_l", "priority", "reason", "detail"]
    )
    if len(frame):
        frame = frame.sort_values(
            ["priority", "site"], key=lambda s: s.map(order) if s.name == "priority" else s
        ).reset_index(drop=True)
    return frame
