"""The drive: a route chained along the road graph, the camera's position and heading along
it, and how fast the survey vehicle drives on each street.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pyproj
import shapely
from shapely.geometry import LineString

from pipeline.simulate._noise import _seed_of
from pipeline.simulate._scene import _View

_SURVEY_SPEED_KMH = 30.0  # the vehicle never drives faster than this while surveying


@dataclass(frozen=True)
class _Route:
    line_m: LineString  # in a local UTM zone (metres)
    to_lonlat: pyproj.Transformer
    edges: tuple[dict[str, Any], ...]
    piece_end_m: np.ndarray  # distance along the route at the end of each edge
    node_m: np.ndarray  # distance along the route of each node passed (after the first)
    node_is_cross: np.ndarray  # that node joins three or more streets
    node_turn_deg: np.ndarray  # how much the route turns there


def _plan_route(
    G: nx.MultiDiGraph,  # noqa: N803 (networkx's name for a graph)
    length_m: float,
    rng: np.random.Generator,
) -> _Route:
    """Chain shortest paths between far-apart nodes until the drive is ``length_m`` long."""
    from analytics.errors import RoadNetworkError
    from analytics.network import utm_crs_for

    nodes = sorted(G.nodes)
    if len(nodes) < 2:
        raise RoadNetworkError("the road network has fewer than two nodes; cannot plan a drive")
    lon = np.array([G.nodes[n]["x"] for n in nodes])
    lat = np.array([G.nodes[n]["y"] for n in nodes])
    crs = utm_crs_for(float(lon.mean()), float(lat.mean()))
    to_m = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs, ys = to_m.transform(lon, lat)
    pos = {n: (x, y) for n, x, y in zip(nodes, xs, ys, strict=True)}
    path = [nodes[int(rng.integers(len(nodes)))]]
    total = 0.0
    for _leg in range(1000):
        if total >= length_m:
            break
        here = path[-1]
        picks = [
            nodes[int(i)] for i in rng.choice(len(nodes), size=min(12, len(nodes)), replace=False)
        ]
        picks.sort(key=lambda n: -math.dist(pos[n], pos[here]))
        for target in picks:
            if target == here:
                continue
            try:
                leg = nx.shortest_path(G, here, target, weight="length_m")
            except nx.NetworkXNoPath:
                continue
            if len(path) >= 2 and leg[1] == path[-2]:
                continue  # no U-turns
            break
        else:
            leg = nx.shortest_path(G, here, picks[0], weight="length_m")
        for u, v in itertools.pairwise(leg):
            total += min(d["length_m"] for d in G[u][v].values())
        path.extend(leg[1:])
    coords: list[tuple[float, float]] = []
    edges: list[dict[str, Any]] = []
    ends: list[float] = []
    node_m: list[float] = []
    run = 0.0
    for u, v in itertools.pairwise(path):
        data = min(G[u][v].values(), key=lambda d: d["length_m"])
        gx, gy = to_m.transform(*np.asarray(data["geometry"].coords).T)
        piece = list(zip(gx, gy, strict=True))
        if coords:
            piece = piece[1:]
        coords.extend(piece)
        run = LineString(coords).length if len(coords) > 1 else 0.0
        edges.append(data)
        ends.append(run)
        node_m.append(run)
    turns = []
    for i in range(len(path) - 2):
        a, b, c = pos[path[i]], pos[path[i + 1]], pos[path[i + 2]]
        h1 = math.atan2(b[1] - a[1], b[0] - a[0])
        h2 = math.atan2(c[1] - b[1], c[0] - b[0])
        turns.append(abs(math.degrees((h2 - h1 + math.pi) % (2 * math.pi) - math.pi)))
    turns.append(180.0)  # the drive ends here
    cross = [G.nodes[n].get("street_count", G.degree(n) // 2) >= 3 for n in path[1:]]
    return _Route(
        line_m=LineString(coords),
        to_lonlat=to_lonlat,
        edges=tuple(edges),
        piece_end_m=np.asarray(ends),
        node_m=np.asarray(node_m),
        node_is_cross=np.asarray(cross, bool),
        node_turn_deg=np.asarray(turns),
    )


def _view_at(route: _Route, s: float, heading: float) -> _View:
    ahead = route.node_m - s
    turn_at = [d for d, t in zip(ahead, route.node_turn_deg, strict=True) if d > 0 and t > 40]
    next_turn = min(turn_at) if turn_at else 400.0
    cross = tuple(
        float(d)
        for d, c in zip(ahead, route.node_is_cross, strict=True)
        if c and -6 < d <= next_turn + 1e-6 and d < 200
    )
    return _View(
        s_m=s, heading_deg=heading, cross_m=cross, end_m=float(np.clip(next_turn + 14, 30, 300))
    )


_GEOD = pyproj.Geod(ellps="WGS84")


def _sample_route(
    route: _Route, distances_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lon, lat, heading (degrees from true north) and edge index at each distance."""
    line = route.line_m
    pts = shapely.line_interpolate_point(line, distances_m)
    before = shapely.line_interpolate_point(line, np.maximum(distances_m - 3.0, 0))
    after = shapely.line_interpolate_point(line, np.minimum(distances_m + 3.0, line.length))
    lon, lat = route.to_lonlat.transform(shapely.get_x(pts), shapely.get_y(pts))
    lon_a, lat_a = route.to_lonlat.transform(shapely.get_x(before), shapely.get_y(before))
    lon_b, lat_b = route.to_lonlat.transform(shapely.get_x(after), shapely.get_y(after))
    az, _, _ = _GEOD.inv(lon_a, lat_a, lon_b, lat_b)
    edge = np.minimum(
        np.searchsorted(route.piece_end_m, distances_m, side="left"), len(route.edges) - 1
    )
    return np.asarray(lon), np.asarray(lat), np.mod(np.asarray(az), 360.0), edge


def _street_name(edge: dict[str, Any]) -> str | None:
    name = edge.get("name")
    if isinstance(name, list):
        name = next((n for n in name if isinstance(n, str)), None)
    return name if isinstance(name, str) else None


def _speed_kmh(edge: dict[str, Any], seed: int) -> float:
    """The survey vehicle's speed on an edge: below the limit and at most 30 km/h."""
    limit = float(edge.get("speed_kmh") or 30.0)
    factor = 0.7 + 0.25 * (_seed_of("speed", edge.get("osmid"), seed) % 1000) / 1000
    return round(min(limit, _SURVEY_SPEED_KMH) * factor, 2)
