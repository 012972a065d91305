"""The map: heatmap, H3 hexagons and individual detections, filtered; a click shows the photo."""

from __future__ import annotations

import re
from typing import Any

import folium
import pandas as pd
import streamlit as st

from analytics import maps
from dashboard import state
from dashboard.assets import asset_urls
from dashboard.drawing import PhotoUnavailableError, draw_boxes, open_upright
from dashboard.filters import describe, sidebar_filter
from db import map_queries
from db.engine import transaction
from db.map_queries import MapFilter

#: H3 resolutions offered for the hexagon layer, with their edge length.
HEX_RESOLUTIONS = {8: "large (~460 m)", 9: "medium (~175 m)", 10: "small (~65 m)"}
MAX_POINTS = 1000
#: Most hexagons drawn at once; beyond this the next larger size is drawn (browser memory).
MAX_HEXAGONS = 4000


def heat_resolution(cells_r9: int) -> int:
    """The H3 resolution of the heat layer for a view with ``cells_r9`` ~175 m cells: fine
    (~65 m) for a district, coarser for the whole city, so the page stays fast."""
    if cells_r9 <= 2500:
        return 10
    return 9 if cells_r9 <= 25000 else 8


LAYERS = ("Heatmap", "Hexagons", "Detections", "Streets")
PICK_KEY = "map_pick"
LAST_CLICK_KEY = "map_last_click"


@st.cache_resource(show_spinner="Loading the street network…")
def street_network() -> Any:
    """The road network for the street backdrop and top streets, or ``None`` if unavailable."""
    from analytics.network import load_road_network

    try:
        return load_road_network()
    except Exception:  # no network file, parser missing: the map works without streets
        return None


def _bounds(points: pd.DataFrame, cells: pd.DataFrame) -> tuple[float, float, float, float]:
    import h3

    lats = list(points["latitude"]) + [h3.cell_to_latlng(c)[0] for c in cells["cell"]]
    lons = list(points["longitude"]) + [h3.cell_to_latlng(c)[1] for c in cells["cell"]]
    pad = 0.003
    return min(lats) - pad, min(lons) - pad, max(lats) + pad, max(lons) + pad


def build_map(
    *,
    heat_cells: pd.DataFrame,
    hex_cells: pd.DataFrame,
    hex_mix: pd.DataFrame | None,
    points: pd.DataFrame,
    layers: tuple[str, ...],
    streets: Any = None,
    tiles: str | None = None,
) -> folium.Map:
    """The folium map with the chosen layers, a legend and a layer switcher."""
    south, west, north, east = _bounds(points, heat_cells)
    m = maps.base_map(((south + north) / 2, (west + east) / 2), tiles=tiles)
    if "Streets" in layers and streets is not None:
        maps.add_streets(m, maps.network_lines(streets, bounds=(south, west, north, east)))
    bins: list[int] = []
    if "Hexagons" in layers:
        bins = maps.add_hexagons(m, hex_cells, categories=hex_mix)
    if "Heatmap" in layers:
        maps.add_heatmap(m, heat_cells)
    categories: list[str] = []
    if "Detections" in layers and not points.empty:
        maps.add_points(m, points)
        categories = [c for c in maps.CATEGORY_COLOURS if c in set(points["category"])]
    folium.LayerControl(collapsed=True).add_to(m)
    m.fit_bounds([[south, west], [north, east]])
    maps.add_legend(m, maps.legend_html(bins=bins, categories=categories, heat="Heatmap" in layers))
    return maps.use_assets(m, asset_urls())


def _clicked_detection(out: Any, filt: MapFilter) -> int | None:
    """The detection under a new click on the map (``None`` when nothing new was clicked).

    A click on a point carries its tooltip ("Detection 123: ..."); a click elsewhere (on a
    hexagon) is resolved to the nearest matching detection within ~50 m.
    """
    if not isinstance(out, dict):
        return None
    clicked = out.get("last_object_clicked")
    if not clicked or clicked.get("lat") is None:
        return None
    tooltip = str(out.get("last_object_clicked_tooltip") or "")
    where = (round(float(clicked["lat"]), 7), round(float(clicked["lng"]), 7), tooltip)
    if st.session_state.get(LAST_CLICK_KEY) == where:
        return None
    st.session_state[LAST_CLICK_KEY] = where
    named = re.match(r"\s*Detection (\d+):", tooltip)
    if named:
        return int(named.group(1))
    with transaction(state.engine()) as session:
        return map_queries.detection_at(
            db_session=session,
            latitude=float(clicked["lat"]),
            longitude=float(clicked["lng"]),
            filt=filt,
        )


def shareable_map_html(filt: MapFilter, survey_names: dict[int, str]) -> str:
    """The standalone, offline heatmap of ``filt`` as one HTML document."""
    with transaction(state.engine()) as session:
        cells = map_queries.cell_counts(db_session=session, filt=filt, resolution=10)
        hexagons = map_queries.cell_counts(db_session=session, filt=filt, resolution=9)
    streets = None
    network = street_network()
    if network is not None and not cells.empty:
        no_points = pd.DataFrame({"latitude": [], "longitude": []})
        streets = maps.network_lines(network, bounds=_bounds(no_points, cells))
    m = maps.standalone_heatmap(
        cells,
        title="WasteMap: litter detections",
        subtitle=maps.filters_text(describe(filt, survey_names)),
        hexagons=hexagons,
        streets=streets,
    )
    return m.get_root().render()


def show_detection(detection_id: int) -> None:
    """The photo of a detection with every box found on it, and the boxes as a table."""
    with transaction(state.engine()) as session:
        found = map_queries.image_of_detection(db_session=session, detection_id=detection_id)
    if found is None:
        st.warning(f"Detection {detection_id} no longer exists.")
        return
    boxes: pd.DataFrame = found["detections"]
    left, right = st.columns([3, 2])
    with left:
        try:
            image = open_upright(found["original_path"])
        except PhotoUnavailableError as exc:
            st.warning(str(exc))
        else:
            st.image(
                draw_boxes(image, boxes.to_dict("records"), highlight=detection_id),
                caption=f"{found['file_name']} · detection {detection_id} drawn thicker",
                width="stretch",
            )
    with right:
        st.markdown(f"**{found['file_name']}**")
        when = found["captured_at"]
        taken = f"{when:%Y-%m-%d %H:%M} UTC" if when is not None else "capture time unknown"
        st.caption(f"Survey {found['survey']} · {taken}")
        st.caption(f"Photo taken at {found['latitude']:.5f}, {found['longitude']:.5f}")
        st.dataframe(
            boxes[["detection_id", "label", "category", "score", "review_status"]],
            hide_index=True,
            column_config={
                "detection_id": st.column_config.NumberColumn("id", format="%d", width="small"),
                "label": st.column_config.TextColumn("label", width="small"),
                "category": st.column_config.TextColumn("category", width="small"),
                "score": st.column_config.ProgressColumn(
                    "confidence", min_value=0.0, max_value=1.0, format="%.2f"
                ),
                "review_status": st.column_config.TextColumn("review", width="small"),
            },
            width="stretch",
        )


def _point_label(row: pd.Series) -> str:
    when = row["captured_at"]
    day = f" · {when:%Y-%m-%d}" if when is not None and not pd.isna(when) else ""
    what = f"{row['label']} ({row['category']})"
    return f"#{int(row['detection_id'])} · {what} · {row['score']:.2f}{day}"


def render() -> None:
    state.require("viewer")
    url = state.database_url()
    cfg = state.settings()
    options = state.filter_options(url)
    filt = sidebar_filter(options, cfg.recyclable_overrides)
    survey_names = {s["id"]: s["name"] for s in options["surveys"]}

    st.title("Where litter is found")
    summary = state.summary(url, filt)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Detections", f"{summary['detections']:,}")
    c2.metric("Photos", f"{summary['images']:,}")
    cells_r9 = state.cell_counts(url, filt, 9)
    c3.metric("Hexagons (~175 m)", f"{len(cells_r9):,}")
    first, last = summary["first"], summary["last"]
    c4.metric(
        "Period (UTC)",
        f"{first:%-d %b} – {last:%-d %b}" if first and last else "–",
        help=f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC" if first and last else None,
    )
    described = describe(filt, survey_names)
    if described:
        st.caption("Filters: " + maps.filters_text(described))

    if summary["detections"] == 0:
        st.info(
            "No detections match these filters. Widen the date range, lower the minimum "
            "confidence or clear the category and survey filters."
        )
        return

    controls = st.columns([3, 2])
    layers = controls[0].pills(
        "Layers",
        LAYERS,
        selection_mode="multi",
        default=["Heatmap", "Hexagons", "Detections", "Streets"],
        key="map_layers",
    )
    resolution = controls[1].selectbox(
        "Hexagon size",
        list(HEX_RESOLUTIONS),
        index=1,
        format_func=lambda r: HEX_RESOLUTIONS[r],
        key="map_resolution",
    )
    heat_cells = state.cell_counts(url, filt, heat_resolution(len(cells_r9)))
    hex_cells = state.cell_counts(url, filt, resolution)
    while len(hex_cells) > MAX_HEXAGONS and resolution > min(HEX_RESOLUTIONS):
        resolution -= 1
        hex_cells = state.cell_counts(url, filt, resolution)
        st.caption(
            f"Too many hexagons to draw at the chosen size; showing {HEX_RESOLUTIONS[resolution]}."
        )
    hex_mix = state.cell_category_counts(url, filt, resolution)
    points = state.detection_points(url, filt, MAX_POINTS)
    if summary["detections"] > len(points) and "Detections" in (layers or []):
        st.caption(
            f"Showing the {len(points):,} most confident of {summary['detections']:,} detections "
            "as points; the heatmap and hexagons count all of them."
        )
    streets = street_network() if "Streets" in (layers or []) else None
    m = build_map(
        heat_cells=heat_cells,
        hex_cells=hex_cells,
        hex_mix=hex_mix,
        points=points,
        layers=tuple(layers or ()),
        streets=streets,
    )
    from streamlit_folium import st_folium

    out = st_folium(
        m,
        height=560,
        use_container_width=True,
        returned_objects=["last_object_clicked", "last_object_clicked_tooltip"],
        key="map_folium",
    )
    clicked = _clicked_detection(out, filt)

    st.subheader("Detection")
    labels = [_point_label(r) for _, r in points.iterrows()]
    if clicked is not None:
        clicked_label = next(
            (label for label in labels if label.startswith(f"#{clicked} ")),
            f"#{clicked} · clicked on the map",
        )
        st.session_state[PICK_KEY] = clicked_label
    picked = st.session_state.get(PICK_KEY)
    if picked is not None and picked not in labels:
        labels = [picked, *labels]
    choice = st.selectbox("Click a point on the map, or pick a detection", labels, key=PICK_KEY)
    if choice is not None:
        show_detection(int(choice.split(" ", 1)[0].lstrip("#")))

    with st.expander("Share this map"):
        st.write(
            "A single HTML file with the heatmap and hexagons for these filters. It opens in any "
            "browser without internet, so it can be mailed to the council."
        )
        st.download_button(
            "Download map (HTML)",
            data=lambda: shareable_map_html(filt, survey_names),
            file_name="wastemap-heatmap.html",
            mime="text/html",
            icon=":material/download:",
            key="map_download",
        )
