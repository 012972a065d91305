# ruff: noqa: N803  (G for a graph, as in osmnx and networkx)
"""Street legs: travel times, distances and geometries between points along a graph's streets.

:func:`street_legs` snaps each point onto its nearest edge (:func:`analytics.network.snap_points`)
and measures every leg by the fastest path (the edges' ``travel_time_s``), with its length in
metres, in whole-matrix scipy Dijkstra runs over the graph as arrays. :meth:`StreetLegs.paths`
draws legs as ``LineString`` s (lon, lat) made of the graph's edge geometries, cut at the
snapped points.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Point
from shapely.ops import substring

from analytics.errors import InfeasibleRouteError
from analytics.network import EdgeIndex, edge_index, snap_points

__all__ = ["StreetLegs", "street_legs"]


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
