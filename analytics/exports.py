"""Writing points (images, detections, sites) to files GIS tools read.

Formats: GeoJSON (RFC 7946: WGS84, longitude before latitude), CSV (``latitude``/``longitude``
columns), GeoPackage. Functions take plain data frames; callers load the rows.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from analytics.errors import ExportError

#: Formats :func:`write_points` writes, by name, with their file extension.
POINT_FORMATS = {"geojson": ".geojson", "csv": ".csv", "gpkg": ".gpkg"}


def points_frame(
    frame: pd.DataFrame, *, lon_col: str = "longitude", lat_col: str = "latitude"
) -> gpd.GeoDataFrame:
    """A GeoDataFrame (EPSG:4326) with a point per row from its longitude/latitude columns."""
    geometry = gpd.points_from_xy(frame[lon_col], frame[lat_col], crs="EPSG:4326")
    return gpd.GeoDataFrame(frame.copy(), geometry=geometry, crs="EPSG:4326")


def _iso_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """Timezone-aware datetime columns as ISO 8601 strings in UTC (GeoJSON and CSV have no
    datetime type that every reader agrees on)."""
    out = frame.copy()
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
        ``geojson``, ``csv`` or ``gpkg``; default: from the file extension.
    layer
        Layer name inside a GeoPackage.
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


def _format_from_suffix(out: Path) -> str:
    suffix = out.suffix.lower()
    for name, ext in POINT_FORMATS.items():
        if suffix == ext or (name == "geojson" and suffix == ".json"):
            return name
    raise ExportError(
        f"cannot tell the format of {out} from its extension; "
        f"use --format {'|'.join(POINT_FORMATS)}"
    )
