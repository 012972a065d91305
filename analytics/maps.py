"""Folium maps of detections that work without internet.

Folium loads Leaflet and its plugins from CDNs by default. Here every map uses copies installed
with the Python packages instead: Leaflet 1.9.4 from ``django-js-lib-leaflet`` (the unmodified
Leaflet distribution, no Django needed) and Leaflet.heat from folium's own templates. A map is
either given URLs where the dashboard serves those files (:func:`use_assets`), or has them inlined
into its HTML (:func:`standalone_heatmap`), so a file mailed to a council opens offline.

No background tiles are requested unless a tile URL is given: the layers sit on a plain
background (optionally with the streets of a road network drawn in), so missing tiles can never
break them.

Plain functions over data frames: cells (``cell``, ``detections``) and points (``latitude``,
``longitude`` in degrees, EPSG:4326).
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import folium.plugins
import h3
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from jinja2 import Template

from analytics.exports import ROUTE_COLOURS  # the routes keep their colours in the files

__all__ = [
    "CATEGORY_COLOURS",
    "AssetUrls",
    "add_heatmap",
    "add_hexagons",
    "add_legend",
    "add_points",
    "add_routes",
    "add_sites",
    "add_streets",
    "base_map",
    "count_bins",
    "leaflet_files",
    "standalone_heatmap",
    "use_assets",
]

#: One colour per waste category (map points, charts, legends).
CATEGORY_COLOURS: dict[str, str] = {
    "plastic": "#2563eb",
    "paper": "#b45309",
    "metal": "#475569",
    "glass": "#0d9488",
    "organic": "#16a34a",
    "e-waste": "#7c3aed",
    "hazardous": "#dc2626",
    "other": "#d97706",
}
#: Sequential colours (light to dark) for counts per hexagon.
COUNT_COLOURS: tuple[str, ...] = ("#fff3b0", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
HEAT_GRADIENT = {0.2: "#2c7bb6", 0.45: "#abd9e9", 0.65: "#ffffbf", 0.85: "#fdae61", 1.0: "#d7191c"}
BACKGROUND = "#eef0f3"


@dataclass(frozen=True)
class AssetUrls:
    """Where a browser can fetch Leaflet's files (URLs, relative or absolute)."""

    leaflet_js: str
    leaflet_css: str
    heat_js: str


def leaflet_files() -> dict[str, Path]:
    """The installed files: ``leaflet_js``, ``leaflet_css``, ``leaflet_images`` (a folder) and
    ``heat_js``. Raises ``FileNotFoundError`` naming the package to install when missing."""
    try:
        leaflet_dir = Path(str(resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"))
    except ModuleNotFoundError:
        raise FileNotFoundError(
            "Leaflet is not installed; run `pip install django-js-lib-leaflet` (it ships the "
            "Leaflet files the offline maps use)"
        ) from None
    files = {
        "leaflet_js": leaflet_dir / "leaflet.js",
        "leaflet_css": leaflet_dir / "leaflet.css",
        "leaflet_images": leaflet_dir / "images",
        "heat_js": Path(folium.__file__).parent / "templates" / "leaflet_heat.min.js",
    }
    for name, path in files.items():
        if not path.exists():
            raise FileNotFoundError(f"{name}: {path} is missing; reinstall the package")
    return files


def use_assets(m: folium.Map, urls: AssetUrls) -> folium.Map:
    """Point ``m`` and its plugins at ``urls`` instead of CDNs; drop the CDN extras folium adds
    by default (jQuery, Bootstrap, Font Awesome), which these maps do not use."""
    m.default_js = [("leaflet", urls.leaflet_js)]
    m.default_css = [("leaflet_css", urls.leaflet_css)]
    for child in _walk(m):
        if isinstance(child, folium.plugins.HeatMap):
            child.default_js = [("leaflet-heat.js", urls.heat_js)]
        elif child is not m and hasattr(child, "default_js"):
            child.default_js = []
            child.default_css = []
    return m


def _walk(element: Any) -> Iterable[Any]:
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def base_map(
    center: tuple[float, float],
    *,
    zoom_start: int = 14,
    tiles: str | None = None,
    attribution: str | None = None,
) -> folium.Map:
    """A Leaflet map at ``center`` (latitude, longitude in degrees) without background tiles,
    unless ``tiles`` (an ``{z}/{x}/{y}`` URL, e.g. a local tile server) is given."""
    m = folium.Map(
        location=list(center),
        zoom_start=zoom_start,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,  # SVG: every point is an element a user (or a test) can click
    )
    m.get_root().header.add_child(
        Element(f"<style>.leaflet-container {{ background: {BACKGROUND}; }}</style>"),
        name="wastemap_background",
    )
    if tiles:
        folium.TileLayer(
            tiles=tiles, attr=attribution or "map tiles", name="background map", overlay=False
        ).add_to(m)
    return m


def add_heatmap(
    m: folium.Map, cells: pd.DataFrame, *, name: str = "heatmap", radius_px: int = 18
) -> folium.plugins.HeatMap | None:
    """A heat layer with one weighted point per H3 cell centre (``cell``, ``detections``)."""
    if cells.empty:
        return None
    centres = np.array([h3.cell_to_latlng(c) for c in cells["cell"]])
    counts = cells["detections"].to_numpy(dtype=float)
    weights = np.log1p(counts) / math.log1p(max(counts.max(), 1.0))
    data = np.column_stack([centres, weights]).round(6).tolist()
    heat = folium.plugins.HeatMap(
        data,
        name=name,
        radius=radius_px,
        blur=radius_px * 0.8,
        min_opacity=0.35,
        max_zoom=16,
        gradient=HEAT_GRADIENT,
    )
    heat.add_to(m)
    return heat


def count_bins(counts: Sequence[float] | np.ndarray, *, n: int = len(COUNT_COLOURS)) -> list[int]:
    """Lower edges of up to ``n`` count classes (roughly equal on a log scale), first is 1."""
    values = np.asarray(counts, dtype=float)
    top = float(values.max()) if values.size else 1.0
    if top <= 1:
        return [1]
    edges = np.unique(np.round(np.geomspace(1, top, n + 1)[:-1]).astype(int))
    return [int(e) for e in edges]


def _colour_for(count: float, bins: Sequence[int]) -> str:
    index = max(i for i, edge in enumerate(bins) if count >= edge) if count >= bins[0] else 0
    return COUNT_COLOURS[min(index, len(COUNT_COLOURS) - 1)]


def add_hexagons(
    m: folium.Map,
    cells: pd.DataFrame,
    *,
    name: str = "H3 hexagons",
    categories: pd.DataFrame | None = None,
) -> list[int]:
    """Hexagons coloured by detections (``cell``, ``detections``); returns the count bins.

    ``categories`` (``cell``, ``category``, ``detections``) adds the category mix to each
    hexagon's tooltip.
    """
    if cells.empty:
        return []
    bins = count_bins(cells["detections"].to_numpy())
    mix: dict[str, str] = {}
    if categories is not None and not categories.empty:
        for cell, group in categories.sort_values("detections", ascending=False).groupby("cell"):
            mix[str(cell)] = ", ".join(
                f"{c} {int(n)}" for c, n in zip(group["category"], group["detections"], strict=True)
            )
    features = []
    for cell, count in zip(cells["cell"], cells["detections"], strict=True):
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "cell": cell,
                    "detections": int(count),
                    "mix": mix.get(str(cell), ""),
                    "colour": _colour_for(count, bins),
                },
            }
        )
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=name,
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": "#7a3b00",
            "weight": 0.6,
            "fillOpacity": 0.55,
        },
        highlight_function=lambda f: {"weight": 2, "color": "#111827"},
        tooltip=folium.GeoJsonTooltip(
            fields=["detections", "mix", "cell"],
            aliases=["detections", "categories", "H3 cell"],
        ),
    ).add_to(m)
    return bins


def add_points(
    m: folium.Map,
    points: pd.DataFrame,
    *,
    name: str = "detections",
    radius_px: float = 5,
) -> None:
    """One circle per detection (``detection_id``, ``latitude``, ``longitude``, ``category``,
    ``label``, ``score``), coloured by category, with a tooltip."""
    group = folium.FeatureGroup(name=name)
    for row in points.itertuples(index=False):
        colour = CATEGORY_COLOURS.get(str(row.category), "#111827")
        tip = (
            f"Detection {int(row.detection_id)}: {html.escape(str(row.label))} "
            f"({html.escape(str(row.category))}), score {float(row.score):.2f}"
        )
        folium.CircleMarker(
            location=[float(row.latitude), float(row.longitude)],
            radius=radius_px,
            color="#ffffff",
            weight=1,
            fill=True,
            fill_color=colour,
            fill_opacity=0.9,
            tooltip=tip,
        ).add_to(group)
    group.add_to(m)


def add_sites(m: folium.Map, sites: pd.DataFrame, *, name: str = "litter sites") -> None:
    """One circle per litter site (``site``, ``latitude``, ``longitude``, ``category``,
    ``categories``, ``estimated_amount_l``, ``sightings``, ``hazardous``), coloured by its main
    category and sized by its estimated litres; hazardous sites get a red ring."""
    group = folium.FeatureGroup(name=name)
    for row in sites.itertuples(index=False):
        litres = float(row.estimated_amount_l or 0)
        what = ", ".join(row.categories or [row.category])
        tip = (
            f"Site {int(row.site)}: {html.escape(what)}, about {litres:g} l, "
            f"{int(row.sightings)} sightings"
        )
        folium.CircleMarker(
            location=[float(row.latitude), float(row.longitude)],
            radius=float(min(14.0, 5.0 + 2.0 * np.sqrt(litres))),
            color="#dc2626" if row.hazardous else "#ffffff",
            weight=3 if row.hazardous else 1.5,
            fill=True,
            fill_color=CATEGORY_COLOURS.get(str(row.category), "#111827"),
            fill_opacity=0.85,
            tooltip=tip,
        ).add_to(group)
    group.add_to(m)


def add_routes(
    m: folium.Map,
    routes: pd.DataFrame,
    stops: pd.DataFrame,
    *,
    depot: tuple[float, float],
) -> None:
    """Collection routes: each route's line (``vehicle``, ``geometry`` as a lon/lat
    ``LineString``, from :meth:`RoutePlan.routes_frame`) in its own colour, its stops numbered
    in the order driven (``vehicle``, ``sequence``, ``site``, ``street_latitude``,
    ``street_longitude``, ``arrival_min``) and the depot (latitude, longitude)."""
    for route in routes.itertuples(index=False):
        colour = ROUTE_COLOURS[(int(route.vehicle) - 1) % len(ROUTE_COLOURS)]
        group = folium.FeatureGroup(name=f"route {int(route.vehicle)}")
        folium.PolyLine(
            [(lat, lon) for lon, lat in route.geometry.coords],
            color=colour,
            weight=5,
            opacity=0.8,
            tooltip=f"Route {int(route.vehicle)}: {route.stops} stops, {route.km:.2f} km, "
            f"{route.minutes:.0f} min",
        ).add_to(group)
        for stop in stops[stops["vehicle"] == route.vehicle].itertuples(index=False):
            folium.Marker(
                location=[float(stop.street_latitude), float(stop.street_longitude)],
                icon=folium.DivIcon(
                    html=(
                        f'<div class="wastemap-stop" style="background:{colour}">'
                        f"{int(stop.sequence)}</div>"
                    ),
                    icon_size=(20, 20),
                    icon_anchor=(10, 10),
                ),
                tooltip=f"Route {int(route.vehicle)}, stop {int(stop.sequence)}: site "
                f"{int(stop.site)}, arrive after {float(stop.arrival_min):.0f} min",
            ).add_to(group)
        group.add_to(m)
    folium.Marker(
        location=list(depot),
        icon=folium.DivIcon(
            html='<div class="wastemap-depot">D</div>', icon_size=(24, 24), icon_anchor=(12, 12)
        ),
        tooltip="Depot: routes start and end here",
    ).add_to(m)
    m.get_root().header.add_child(Element(ROUTE_CSS), name="wastemap_route_css")


def add_streets(
    m: folium.Map,
    lines: Iterable[Sequence[tuple[float, float]]],
    *,
    name: str = "streets",
) -> None:
    """Thin grey street lines (each a sequence of ``(latitude, longitude)``) as a backdrop."""
    group = folium.FeatureGroup(name=name, control=True)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[lng, lat] for lat, lng in line]},
            "properties": {},
        }
        for line in lines
    ]
    if features:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            style_function=lambda _f: {"color": "#9aa3ad", "weight": 2, "opacity": 0.9},
            interactive=False,
        ).add_to(group)
    group.add_to(m)


ROUTE_CSS = """<style>
.wastemap-stop { width: 20px; height: 20px; border-radius: 10px; color: #fff; font: bold 11px/20px
  sans-serif; text-align: center; border: 1.5px solid #fff; box-shadow: 0 0 2px rgba(0,0,0,.6); }
.wastemap-depot { width: 24px; height: 24px; border-radius: 4px; background: #111827; color: #fff;
  font: bold 13px/24px sans-serif; text-align: center; border: 2px solid #fff; }
</style>"""


class _Legend(MacroElement):
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "wastemap-legend");
                div.innerHTML = {{ this.html_json }};
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, legend_html: str) -> None:
        super().__init__()
        self._name = "Legend"
        import json

        self.html_json = json.dumps(legend_html)


LEGEND_CSS = """<style>
.wastemap-legend { background: rgba(255,255,255,0.94); padding: 8px 10px; border-radius: 6px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.25); font: 12px/1.45 system-ui, sans-serif; color: #1f2937;
  max-width: 220px; }
.wastemap-legend h4 { margin: 0 0 4px; font-size: 12px; font-weight: 600; }
.wastemap-legend .sw { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
  vertical-align: -2px; border: 1px solid rgba(0,0,0,0.25); }
.wastemap-legend .dot { border-radius: 50%; }
.wastemap-legend .bar { display: block; height: 10px; border-radius: 3px; margin: 2px 0; }
</style>"""


def legend_html(
    *,
    bins: Sequence[int] = (),
    categories: Iterable[str] = (),
    heat: bool = False,
    title: str | None = None,
    category_title: str = "Detections by category",
) -> str:
    """The legend's HTML: hexagon count classes, category dots and the heat scale."""
    parts = [f"<h4>{html.escape(title)}</h4>"] if title else []
    if bins:
        parts.append("<h4>Detections per hexagon</h4>")
        for i, edge in enumerate(bins):
            upper = f"–{bins[i + 1] - 1}" if i + 1 < len(bins) and bins[i + 1] - 1 > edge else ""
            more = "+" if i + 1 == len(bins) else ""
            parts.append(
                f'<div><span class="sw" style="background:{COUNT_COLOURS[i]}"></span>'
                f"{edge}{upper}{more}</div>"
            )
    cats = list(categories)
    if cats:
        parts.append(f"<h4>{html.escape(category_title)}</h4>")
        parts.extend(
            f'<div><span class="sw dot" style="background:{CATEGORY_COLOURS.get(c, "#111827")}">'
            f"</span>{html.escape(c)}</div>"
            for c in cats
        )
    if heat:
        stops = ", ".join(f"{c} {int(k * 100)}%" for k, c in sorted(HEAT_GRADIENT.items()))
        parts.append(
            "<h4>Heatmap density</h4>"
            f'<span class="bar" style="background: linear-gradient(to right, {stops})"></span>'
            '<div style="display:flex;justify-content:space-between"><span>fewer</span>'
            "<span>more</span></div>"
        )
    return "".join(parts)


def add_legend(m: folium.Map, legend: str) -> None:
    """Put ``legend`` (HTML from :func:`legend_html`) in the map's bottom-right corner."""
    m.get_root().header.add_child(Element(LEGEND_CSS), name="wastemap_legend_css")
    m.add_child(_Legend(legend))


def fit_to(m: folium.Map, latitudes: Sequence[float], longitudes: Sequence[float]) -> None:
    """Zoom ``m`` to the points (degrees)."""
    if len(latitudes):
        m.fit_bounds(
            [
                [float(np.min(latitudes)), float(np.min(longitudes))],
                [float(np.max(latitudes)), float(np.max(longitudes))],
            ],
            padding=(20, 20),
        )


# --------------------------------------------------------------------------------------------
# A standalone HTML file


def _inline_css(css: str, images: Path) -> str:
    def data_uri(match: re.Match[str]) -> str:
        path = images / match.group(1)
        if not path.exists():
            return match.group(0)
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{encoded})"

    return re.sub(r"url\(images/([\w\-.]+\.png)\)", data_uri, css)


def inline_assets(m: folium.Map) -> folium.Map:
    """Put Leaflet and Leaflet.heat into ``m``'s HTML itself (no external file at all)."""
    files = leaflet_files()
    css = _inline_css(files["leaflet_css"].read_text(encoding="utf-8"), files["leaflet_images"])
    js = files["leaflet_js"].read_text(encoding="utf-8")
    heat = files["heat_js"].read_text(encoding="utf-8")
    m.default_js = []
    m.default_css = []
    for child in _walk(m):
        if hasattr(child, "default_js"):
            child.default_js = []
            child.default_css = []
    header = m.get_root().header
    header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline", index=0)
    header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline", index=1)
    header.add_child(Element(f"<script>{heat}</script>"), name="leaflet_heat_inline", index=2)
    return m


def standalone_heatmap(
    cells: pd.DataFrame,
    *,
    title: str = "WasteMap: litter detections",
    subtitle: str = "",
    hexagons: pd.DataFrame | None = None,
    streets: Iterable[Sequence[tuple[float, float]]] | None = None,
    tiles: str | None = None,
) -> folium.Map:
    """A heatmap that works as a single HTML file without internet (``m.save("map.html")``).

    Parameters
    ----------
    cells : pandas.DataFrame
        ``cell`` (H3, e.g. resolution 10) and ``detections``: the heat layer.
    title, subtitle : str
        Shown in a box at the top of the map (e.g. the filters that made it).
    hexagons : pandas.DataFrame, optional
        ``cell`` and ``detections`` at a coarser resolution (e.g. 9): a hexagon layer.
    streets : iterable of sequences of (lat, lon), optional
        Street lines drawn as a backdrop.
    tiles : str, optional
        A tile URL for a background map; none by default (offline).
    """
    if cells.empty:
        centre = (60.1699, 24.9384)
        lats, lons = np.array([]), np.array([])
    else:
        centres = np.array([h3.cell_to_latlng(c) for c in cells["cell"]])
        lats, lons = centres[:, 0], centres[:, 1]
        centre = (float(lats.mean()), float(lons.mean()))
    m = base_map(centre, tiles=tiles)
    if streets is not None:
        add_streets(m, streets)
    bins: list[int] = []
    if hexagons is not None and not hexagons.empty:
        bins = add_hexagons(m, hexagons)
    add_heatmap(m, cells)
    folium.LayerControl(collapsed=False).add_to(m)
    fit_to(m, lats, lons)
    add_legend(m, legend_html(bins=bins, heat=not cells.empty))
    total = int(cells["detections"].sum()) if not cells.empty else 0
    box = (
        '<div style="position:fixed;top:10px;left:60px;z-index:1000;'
        "background:rgba(255,255,255,.94);"
        "padding:8px 12px;border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.25);"
        'font:13px/1.4 system-ui,sans-serif;color:#111827;max-width:60%">'
        f"<b>{html.escape(title)}</b><br>{total:,} detections"
        + (f" · {html.escape(subtitle)}" if subtitle else "")
        + "</div>"
    )
    m.get_root().html.add_child(Element(box))
    return inline_assets(m)


def network_lines(
    G: Any,  # noqa: N803 - networkx's name for a graph
    *,
    bounds: tuple[float, float, float, float] | None = None,
) -> list[list[tuple[float, float]]]:
    """Street lines of a road network (``analytics.network``) as lists of (lat, lon), keeping
    one direction of two-way streets and only edges inside ``bounds`` (south, west, north, east)
    when given."""
    seen: set[tuple[Any, Any]] = set()
    lines: list[list[tuple[float, float]]] = []
    for u, v, data in G.edges(data=True):
        if (v, u) in seen or (u, v) in seen:
            continue
        seen.add((u, v))
        geometry = data.get("geometry")
        if geometry is None:
            continue
        coords = [(float(y), float(x)) for x, y in geometry.coords]
        if bounds is not None:
            south, west, north, east = bounds
            if not any(south <= la <= north and west <= lo <= east for la, lo in coords):
                continue
        lines.append(coords)
    return lines


def filters_text(parts: Mapping[str, Any]) -> str:
    """``"dates 2026-11-01 – 2026-11-20 · categories plastic, glass"`` from the set filters."""
    return " · ".join(f"{k} {v}" for k, v in parts.items() if v not in (None, "", [], ()))
