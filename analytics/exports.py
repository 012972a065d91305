"""Writing points (images, detections, sites), lines and routes to files GIS tools read.

Formats: GeoJSON (RFC 7946: WGS84, longitude before latitude), CSV (``latitude``/``longitude``
columns, or ``wkt`` for lines), GeoPackage, and for points and routes also GPX 1.1 (gpxpy) and
KML (simplekml). Functions take plain data frames; callers load the rows.

- :func:`write_points`: one point per row (GeoJSON, CSV, GeoPackage, GPX waypoints, KML
  placemarks);
- :func:`write_lines`: one line per row of a ``geometry`` column (GeoJSON, CSV, GeoPackage);
- :func:`write_routes`: vehicle routes (lines along the streets), their stops in order and the
  depot (GeoJSON, GPX, KML, CSV, GeoPackage).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from analytics.errors import ExportError

#: Formats :func:`write_points` writes, by name, with their file extension.
POINT_FORMATS = {
    "geojson": ".geojson",
    "csv": ".csv",
    "gpkg": ".gpkg",
    "gpx": ".gpx",
    "kml": ".kml",
}


def points_frame(
    frame: pd.DataFrame, *, lon_col: str = "longitude", lat_col: str = "latitude"
) -> gpd.GeoDataFrame:
    """A GeoDataFrame (EPSG:4326) with a point per row from its longitude/latitude columns."""
    geometry = gpd.points_from_xy(frame[lon_col], frame[lat_col], crs="EPSG:4326")
    return gpd.GeoDataFrame(frame.copy(), geometry=geometry, crs="EPSG:4326")


def _iso_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """Timezone-aware datetime columns as ISO 8601 strings in UTC (GeoJSON and CSV have no
    datetime type that every reader agrees on); list and dict values (a site's categories) as
    JSON text, which every format can hold."""
    out = _json_values(frame)
    for column in out.columns:
        if column == "geometry":
            continue
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series) or (
            series.dtype == object and series.map(lambda v: hasattr(v, "isoformat")).any()
        ):
            out[column] = series.map(
                lambda v: v.isoformat() if v is not None and not pd.isna(v) else None
            )
    return out


def write_points(
    frame: pd.DataFrame,
    out: Path,
    *,
    file_format: str | None = None,
    layer: str = "points",
    lon_col: str = "longitude",
    lat_col: str = "latitude",
) -> Path:
    """Write one point per row of ``frame`` to ``out``.

    Parameters
    ----------
    frame
        Rows with ``lon_col``/``lat_col`` in WGS84 degrees.
    out
        The file to write (its folder is created).
    file_format
        ``geojson``, ``csv``, ``gpkg``, ``gpx`` (a waypoint per row) or ``kml`` (a placemark
        per row); default: from the file extension. GPX and KML name each point after the
        layer and its ``site``/``detection_id``/``image_id`` and describe it with the other
        columns.
    layer
        Layer name inside a GeoPackage; the document's name in GPX and KML.
    """
    out = Path(out)
    file_format = file_format or _format_from_suffix(out)
    if file_format not in POINT_FORMATS:
        raise ExportError(
            f"cannot write {out}: unknown format {file_format!r}; "
            f"use one of {', '.join(POINT_FORMATS)}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "csv":
        _iso_datetimes(frame).to_csv(out, index=False)
        return out
    if file_format in ("gpx", "kml"):
        _points_gpx_kml(frame, out, file_format, layer=layer, lon_col=lon_col, lat_col=lat_col)
        return out
    gdf = points_frame(frame, lon_col=lon_col, lat_col=lat_col)
    if file_format == "geojson":
        if out.exists():
            out.unlink()
        _iso_datetimes(gdf).to_file(
            out, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"}
        )
    else:
        gdf = _iso_datetimes(gdf)
        gdf.to_file(out, driver="GPKG", layer=layer, engine="pyogrio")
    return out


_NAME_COLUMNS = ("name", "site", "detection_id", "image_id")


def _points_gpx_kml(
    frame: pd.DataFrame, out: Path, file_format: str, *, layer: str, lon_col: str, lat_col: str
) -> None:
    """A GPX waypoint or KML placemark per row, named and described from its columns."""
    key = next((c for c in _NAME_COLUMNS if c in frame.columns), None)
    singular = layer[:-1] if layer.endswith("s") else layer
    rows = _iso_datetimes(frame).to_dict("records")
    points = []
    for number, row in enumerate(rows, start=1):
        lat, lon = float(row[lat_col]), float(row[lon_col])
        name = f"{singular} {row[key]}" if key and key != "name" else str(row.get("name", number))
        text = "; ".join(
            f"{k}: {v}"
            for k, v in row.items()
            if k not in (lat_col, lon_col, key) and v is not None and not _is_missing(v)
        )
        points.append((lat, lon, name, text))
    if file_format == "gpx":
        import gpxpy.gpx

        gpx = gpxpy.gpx.GPX()
        gpx.name = f"WasteMap {layer}"
        gpx.creator = "WasteMap"
        gpx.waypoints = [
            gpxpy.gpx.GPXWaypoint(latitude=lat, longitude=lon, name=name, description=text)
            for lat, lon, name, text in points
        ]
        out.write_text(gpx.to_xml(version="1.1"), encoding="utf-8")
        return
    import simplekml

    kml = simplekml.Kml(name=f"WasteMap {layer}")
    for lat, lon, name, text in points:
        kml.newpoint(name=name, description=text, coords=[(lon, lat)])
    kml.save(str(out))


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays
        return False


def _format_from_suffix(out: Path) -> str:
    suffix = out.suffix.lower()
    for name, ext in POINT_FORMATS.items():
        if suffix == ext or (name == "geojson" and suffix == ".json"):
            return name
    raise ExportError(
        f"cannot tell the format of {out} from its extension; "
        f"use --format {'|'.join(POINT_FORMATS)}"
    )


def _json_values(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if column == "geometry" or out[column].dtype != object:
            continue
        if out[column].map(lambda v: isinstance(v, list | tuple | dict | np.ndarray)).any():
            out[column] = out[column].map(
                lambda v: (
                    json.dumps(v.tolist() if isinstance(v, np.ndarray) else v)
                    if isinstance(v, list | tuple | dict | np.ndarray)
                    else v
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# Lines and routes

#: Formats :func:`write_lines` writes, by name, with their file extension.
LINE_FORMATS = {"geojson": ".geojson", "csv": ".csv", "gpkg": ".gpkg"}
#: Formats :func:`write_routes` writes, by name, with their file extension.
ROUTE_FORMATS = {
    "geojson": ".geojson",
    "gpx": ".gpx",
    "kml": ".kml",
    "csv": ".csv",
    "gpkg": ".gpkg",
}
#: Colours of successive routes in KML (aabbggrr) and in GeoJSON properties (#rrggbb).
ROUTE_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
)


def format_for(out: Path, file_format: str | None, formats: dict[str, str]) -> str:
    """``file_format``, else the one of ``formats`` (name -> extension) that ``out``'s
    extension picks (``.json`` for GeoJSON); :class:`ExportError` naming the extensions if none
    does. Callers check ``--out`` with it before reading anything."""
    name = file_format or next(
        (
            n
            for n, ext in formats.items()
            if out.suffix.lower() == ext or (n == "geojson" and out.suffix.lower() == ".json")
        ),
        None,
    )
    if name is None:
        *others, last = (f"*{ext}" for ext in formats.values())
        raise ExportError(
            f"cannot tell the format of {out} from its extension; "
            f"name the file {', '.join(others)} or {last} to pick the format"
        )
    if name not in formats:
        raise ExportError(
            f"cannot write {out}: unknown format {name!r}; use one of {', '.join(formats)}"
        )
    return name


def _geo(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        _iso_datetimes(frame.drop(columns="geometry")),
        geometry=list(frame["geometry"]),
        crs="EPSG:4326",
    )


def _write_geojson(gdf: gpd.GeoDataFrame, out: Path) -> None:
    if out.exists():
        out.unlink()
    gdf.to_file(out, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"})


def write_lines(
    frame: pd.DataFrame, out: Path, *, file_format: str | None = None, layer: str = "lines"
) -> Path:
    """Write one line per row of ``frame`` (a ``geometry`` column of shapely ``LineString``s,
    lon/lat degrees) to ``out``: GeoJSON, CSV (the line as ``wkt``) or GeoPackage."""
    out = Path(out)
    file_format = format_for(out, file_format, LINE_FORMATS)
    out.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "csv":
        flat = _iso_datetimes(frame.drop(columns="geometry"))
        flat["wkt"] = [g.wkt for g in frame["geometry"]]
        flat.to_csv(out, index=False)
    elif file_format == "geojson":
        _write_geojson(_geo(frame), out)
    else:
        _geo(frame).to_file(out, driver="GPKG", layer=layer, engine="pyogrio")
    return out


def write_routes(
    routes: pd.DataFrame,
    stops: pd.DataFrame,
    out: Path,
    *,
    file_format: str | None = None,
    depot: tuple[float, float] | None = None,
    title: str = "WasteMap collection routes",
) -> Path:
    """Write vehicle routes, their stops and the depot to ``out``.

    Parameters
    ----------
    routes
        One row per route: ``vehicle``, ``name``, ``geometry`` (``LineString``, lon/lat, along
        the streets) and any summary columns (``stops``, ``km``, ``minutes``, ``load_l``).
    stops
        One row per stop: ``vehicle``, ``sequence``, ``site``, ``latitude``, ``longitude`` and
        any other columns (``amount_l``, ``arrival_min``, ``priority``, ...).
    out
        The file; its extension picks the format unless ``file_format`` is given.
    file_format
        ``geojson`` (one FeatureCollection: route lines, stop and depot points, told apart by a
        ``kind`` property), ``gpx`` (GPX 1.1: a track along the streets and a route through the
        stops per vehicle, stops and depot as waypoints), ``kml`` (a folder per vehicle with its
        line and numbered stops), ``csv`` (the crews' stop list, one row per stop in order, the
        depot first and last on each route) or ``gpkg`` (layers ``routes`` and ``stops``).
    depot
        ``(latitude, longitude)`` of the depot.
    title
        Name of the document (GPX, KML).
    """
    out = Path(out)
    file_format = format_for(out, file_format, ROUTE_FORMATS)
    out.parent.mkdir(parents=True, exist_ok=True)
    stops = stops.sort_values(["vehicle", "sequence"]).reset_index(drop=True)
    writer = {
        "geojson": _routes_geojson,
        "gpx": _routes_gpx,
        "kml": _routes_kml,
        "csv": _routes_csv,
        "gpkg": _routes_gpkg,
    }[file_format]
    writer(routes, stops, out, depot, title)
    return out


def _colour(vehicle: int) -> str:
    return ROUTE_COLOURS[(int(vehicle) - 1) % len(ROUTE_COLOURS)]


def _route_features(
    routes: pd.DataFrame, stops: pd.DataFrame, depot: tuple[float, float] | None
) -> gpd.GeoDataFrame:
    from shapely.geometry import Point

    lines = routes.assign(kind="route", colour=[_colour(v) for v in routes["vehicle"]])
    points = stops.assign(
        kind="stop",
        name=[
            f"route {v} stop {s}" for v, s in zip(stops["vehicle"], stops["sequence"], strict=True)
        ],
        geometry=[Point(x, y) for x, y in zip(stops["longitude"], stops["latitude"], strict=True)],
    )
    parts = [lines, points]
    if depot is not None:
        parts.append(
            pd.DataFrame(
                [
                    {
                        "kind": "depot",
                        "name": "depot",
                        "latitude": depot[0],
                        "longitude": depot[1],
                        "geometry": Point(depot[1], depot[0]),
                    }
                ]
            )
        )
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return _geo(frame)


def _routes_geojson(
    routes: pd.DataFrame,
    stops: pd.DataFrame,
    out: Path,
    depot: tuple[float, float] | None,
    title: str,
) -> None:
    _write_geojson(_route_features(routes, stops, depot), out)


def _routes_gpkg(
    routes: pd.DataFrame,
    stops: pd.DataFrame,
    out: Path,
    depot: tuple[float, float] | None,
    title: str,
) -> None:
    from shapely.geometry import Point

    if out.exists():
        out.unlink()
    if len(routes):
        _geo(routes).to_file(out, driver="GPKG", layer="routes", engine="pyogrio")
    points = stops.assign(kind="stop")
    if depot is not None:
        points = pd.concat(
            [
                pd.DataFrame([{"kind": "depot", "latitude": depot[0], "longitude": depot[1]}]),
                points,
            ],
            ignore_index=True,
        )
    points = points.assign(
        geometry=[Point(x, y) for x, y in zip(points["longitude"], points["latitude"], strict=True)]
    )
    _geo(points).to_file(out, driver="GPKG", layer="stops", engine="pyogrio")


def _routes_csv(
    routes: pd.DataFrame,
    stops: pd.DataFrame,
    out: Path,
    depot: tuple[float, float] | None,
    title: str,
) -> None:
    rows: list[dict[str, Any]] = []
    columns = [c for c in stops.columns if c not in ("vehicle", "sequence")]
    for vehicle, group in stops.groupby("vehicle", sort=True):
        if depot is not None:
            rows.append(
                {
                    "vehicle": vehicle,
                    "sequence": 0,
                    "kind": "depot",
                    "latitude": depot[0],
                    "longitude": depot[1],
                }
            )
        for row in group.to_dict("records"):
            rows.append(
                {
                    "vehicle": vehicle,
                    "sequence": row["sequence"],
                    "kind": "stop",
                    **{c: row[c] for c in columns},
                }
            )
        if depot is not None:
            rows.append(
                {
                    "vehicle": vehicle,
                    "sequence": len(group) + 1,
                    "kind": "depot",
                    "latitude": depot[0],
                    "longitude": depot[1],
                }
            )
    frame = pd.DataFrame(rows, columns=["vehicle", "sequence", "kind", *columns])
    _iso_datetimes(frame).to_csv(out, index=False)


def _stop_description(row: dict[str, Any]) -> str:
    parts = [f"site {row.get('site')}"]
    if "amount_l" in row and pd.notna(row["amount_l"]):
        parts.append(f"about {row['amount_l']:g} L")
    if row.get("categories"):
        parts.append(str(row["categories"]))
    if row.get("priority"):
        parts.append(f"priority {row['priority']}")
    if row.get("arrival"):
        parts.append(f"arrive at {row['arrival']}")
    elif "arrival_min" in row and pd.notna(row["arrival_min"]):
        parts.append(f"arrive {row['arrival_min']:.0f} min into the shift")
    return ", ".join(parts)


def _routes_gpx(
    routes: pd.DataFrame,
    stops: pd.DataFrame,
    out: Path,
    depot: tuple[float, float] | None,
    title: str,
) -> None:
    import gpxpy.gpx

    gpx = gpxpy.gpx.GPX()
    gpx.name = title
    gpx.creator = "WasteMap"
    if depot is not None:
        gpx.waypoints.append(
            gpxpy.gpx.GPXWaypoint(latitude=depot[0], longitude=depot[1], name="depot", type="depot")
        )
    for row in stops.to_dict("records"):
        gpx.waypoints.append(
            gpxpy.gpx.GPXWaypoint(
                latitude=float(row["latitude"]),
                longitude=float(row["longitude"]),
                name=f"R{row['vehicle']}-{int(row['sequence']):02d} site {row['site']}",
                description=_stop_description(row),
                type="stop",
            )
        )
    for route in routes.to_dict("records"):
        name = str(route.get("name") or f"route {route['vehicle']}")
        track = gpxpy.gpx.GPXTrack(name=name, description=_route_description(route))
        segment = gpxpy.gpx.GPXTrackSegment()
        segment.points = [
            gpxpy.gpx.GPXTrackPoint(latitude=y, longitude=x) for x, y in route["geometry"].coords
        ]
        track.segments.append(segment)
        gpx.tracks.append(track)
        through = gpxpy.gpx.GPXRoute(name=name, description="stops in order")
        mine = stops[stops["vehicle"] == route["vehicle"]]
        ends = [] if depot is None else [gpxpy.gpx.GPXRoutePoint(depot[0], depot[1], name="depot")]
        through.points = [
            *ends,
            *(
                gpxpy.gpx.GPXRoutePoint(
                    float(r["latitude"]), float(r["longitude"]), name=f"site {r['site']}"
                )
                for r in mine.to_dict("records")
            ),
            *[gpxpy.gpx.GPXRoutePoint(p.latitude, p.longitude, name=p.name) for p in ends],
        ]
        gpx.routes.append(through)
    out.write_text(gpx.to_xml(version="1.1"), encoding="utf-8")


def _route_description(route: dict[str, Any]) -> str:
    keys = [("stops", "stops"), ("km", "km"), ("minutes", "min"), ("load_l", "L")]
    return ", ".join(f"{route[k]} {unit}" for k, unit in keys if k in route)


def _routes_kml(
    routes: pd.DataFrame,
    stops: pd.DataFrame,
    out: Path,
    depot: tuple[float, float] | None,
    title: str,
) -> None:
    import simplekml

    kml = simplekml.Kml(name=title)
    if depot is not None:
        point = kml.newpoint(name="depot", coords=[(depot[1], depot[0])])
        point.style.iconstyle.icon.href = "http://maps.google.com/mapfiles/kml/shapes/truck.png"
    for route in routes.to_dict("records"):
        folder = kml.newfolder(name=str(route.get("name") or f"route {route['vehicle']}"))
        line = folder.newlinestring(
            name=folder.name,
            description=_route_description(route),
            coords=[(x, y) for x, y in route["geometry"].coords],
        )
        line.style.linestyle.color = _kml_colour(_colour(route["vehicle"]))
        line.style.linestyle.width = 4
        for row in stops[stops["vehicle"] == route["vehicle"]].to_dict("records"):
            folder.newpoint(
                name=f"{int(row['sequence'])}: site {row['site']}",
                description=_stop_description(row),
                coords=[(float(row["longitude"]), float(row["latitude"]))],
            )
    kml.save(str(out))


def _kml_colour(hex_rgb: str) -> str:
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"ff{b}{g}{r}"
