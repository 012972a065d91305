"""Patterns: category mix, trends, the worst cells and streets, Gi* hotspots, before/after."""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import folium
import h3
import pandas as pd
import streamlit as st

from analytics import maps
from analytics.hotspots import COLD, HOT, NOT_SIGNIFICANT, NotEnoughCellsError, getis_ord_hotspots
from analytics.hotspots import top_streets as streets_from_cells
from dashboard import state
from dashboard.assets import asset_urls
from dashboard.filters import sidebar_filter
from dashboard.views.map_page import street_network
from db.map_queries import MapFilter
from models.taxonomy import CATEGORIES

HOTSPOT_COLOURS = {HOT: "#d7191c", COLD: "#2c7bb6", NOT_SIGNIFICANT: "#d1d5db"}
_CATEGORY_SCALE = alt.Scale(
    domain=list(CATEGORIES), range=[maps.CATEGORY_COLOURS[c] for c in CATEGORIES]
)


def category_mix(url: str, filt: MapFilter) -> None:
    counts = state.category_counts(url, filt)
    if counts.empty:
        st.info("No detections match these filters.")
        return
    total = int(counts["detections"].sum())
    counts = counts.assign(share=counts["detections"] / total)
    left, right = st.columns([3, 2])
    chart = (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("detections:Q", title="detections"),
            y=alt.Y("category:N", sort="-x", title=None),
            color=alt.Color("category:N", scale=_CATEGORY_SCALE, legend=None),
            tooltip=["category", "detections", alt.Tooltip("share:Q", format=".0%")],
        )
        .properties(height=max(160, 34 * len(counts)))
    )
    left.altair_chart(chart, width="stretch")
    right.dataframe(
        counts,
        hide_index=True,
        column_config={
            "share": st.column_config.ProgressColumn(
                "share", format="percent", min_value=0, max_value=1
            )
        },
        width="stretch",
    )


def trend(url: str, filt: MapFilter) -> None:
    period = (
        st.segmented_control("Group by", ["day", "week"], default="day", key="patterns_period")
        or "day"
    )
    frame = state.trend(url, filt, period)
    if frame.empty:
        st.info("No detections with a capture time match these filters.")
        return
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "period_start:T",
                title=f"{period} (UTC)" if period == "day" else "week starting (Monday, UTC)",
                timeUnit="yearmonthdate",
            ),
            y=alt.Y("sum(detections):Q", title="detections"),
            color=alt.Color("category:N", scale=_CATEGORY_SCALE, title="category"),
            tooltip=["period_start:T", "category", "detections"],
        )
        .properties(height=300)
    )
    st.altair_chart(chart, width="stretch")
    wide = frame.pivot_table(
        index="period_start", columns="category", values="detections", aggfunc="sum", fill_value=0
    )
    wide["total"] = wide.sum(axis=1)
    first_column = "day" if period == "day" else "week of (Monday)"
    st.dataframe(
        wide.reset_index().rename(columns={"period_start": first_column}),
        hide_index=True,
        width="stretch",
    )


def top_places(url: str, filt: MapFilter) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Top hexagons** (~175 m)")
        cells = state.top_cells(url, filt, 9, 10)
        if cells.empty:
            st.info("No detections match these filters.")
        else:
            st.dataframe(
                cells[["cell", "detections", "images", "latitude", "longitude"]],
                hide_index=True,
                column_config={
                    "images": "photos",
                    "latitude": st.column_config.NumberColumn(format="%.5f"),
                    "longitude": st.column_config.NumberColumn(format="%.5f"),
                },
                width="stretch",
            )
    with right:
        st.markdown("**Top streets**")
        network = street_network()
        if network is None:
            st.info("No road network is available on this server, so streets cannot be named.")
            return
        fine = state.top_cells(url, filt, 10, 2000)
        streets = streets_from_cells(fine, network, limit=10)
        if streets.empty:
            st.info("No detections match these filters.")
        else:
            st.dataframe(
                streets.rename(columns={"cells": "hexagons (~65 m)"}),
                hide_index=True,
                width="stretch",
            )
            st.caption(
                "Each ~65 m hexagon's detections are given to the street nearest to where they "
                "were found (within 60 m)."
            )


@st.cache_data(ttl=state.QUERY_TTL_S, show_spinner="Testing every hexagon (Gi*)…")
def _hotspots(cells: pd.DataFrame, per: str | None, fdr: bool, k_ring: int) -> pd.DataFrame:
    return getis_ord_hotspots(cells, per=per, fdr=fdr, k_ring=k_ring)


def hotspot_map(result: pd.DataFrame) -> folium.Map:
    features = []
    for row in result.itertuples(index=False):
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(row.cell)]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "hotspot": row.hotspot,
                    "detections": int(row.detections),
                    "images": int(row.images),
                    "z": round(float(row.z), 2),
                    "p": round(float(row.p), 3),
                },
            }
        )
    m = maps.base_map((float(result["latitude"].mean()), float(result["longitude"].mean())))
    network = street_network()
    if network is not None:
        bounds = (
            result["latitude"].min() - 0.003,
            result["longitude"].min() - 0.003,
            result["latitude"].max() + 0.003,
            result["longitude"].max() + 0.003,
        )
        maps.add_streets(m, maps.network_lines(network, bounds=bounds))
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name="Gi* hotspots",
        style_function=lambda f: {
            "fillColor": HOTSPOT_COLOURS[f["properties"]["hotspot"]],
            "color": "#374151",
            "weight": 0.6,
            "fillOpacity": 0.65,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["hotspot", "detections", "images", "z", "p"],
            aliases=["", "detections", "photos", "Gi* z", "p"],
        ),
    ).add_to(m)
    m.fit_bounds(
        [
            [float(result["latitude"].min()), float(result["longitude"].min())],
            [float(result["latitude"].max()), float(result["longitude"].max())],
        ]
    )
    legend = "<h4>Getis-Ord Gi*</h4>" + "".join(
        f'<div><span class="sw" style="background:{c}"></span>{name}</div>'
        for name, c in HOTSPOT_COLOURS.items()
    )
    maps.add_legend(m, legend)
    return maps.use_assets(m, asset_urls())


def hotspots(url: str, filt: MapFilter) -> None:
    c1, c2, c3 = st.columns(3)
    resolution = c1.selectbox(
        "Hexagon size",
        [10, 9, 8],
        format_func={8: "large (~460 m)", 9: "medium (~175 m)", 10: "small (~65 m)"}.get,
        key="patterns_hot_resolution",
    )
    measure = c2.radio(
        "Measure",
        ["detections per photo", "detections"],
        key="patterns_hot_measure",
        help="Per photo: a street photographed twice as often does not look twice as dirty.",
    )
    fdr = c3.checkbox(
        "Control false discoveries",
        value=True,
        key="patterns_hot_fdr",
        help="Benjamini-Hochberg across all hexagons (esda.fdr) instead of p ≤ 0.05 each.",
    )
    cells = state.hotspot_input(url, filt, resolution)
    try:
        result = _hotspots(cells, "images" if measure.endswith("photo") else None, fdr, 1)
    except NotEnoughCellsError as exc:
        message = str(exc)
        st.info(message[:1].upper() + message[1:] + ".")
        return
    counts = result["hotspot"].value_counts()
    m1, m2, m3 = st.columns(3)
    m1.metric("Hot spots", int(counts.get(HOT, 0)))
    m2.metric("Cold spots", int(counts.get(COLD, 0)))
    m3.metric("Hexagons tested", len(result))
    from streamlit_folium import st_folium

    st_folium(
        hotspot_map(result),
        height=440,
        use_container_width=True,
        returned_objects=[],
        key="patterns_hot_map",
    )
    significant = result[result["hotspot"] != NOT_SIGNIFICANT].sort_values("z", ascending=False)
    st.dataframe(
        significant[["cell", "hotspot", "detections", "images", "rate", "z", "p"]],
        hide_index=True,
        column_config={
            "images": "photos",
            "rate": st.column_config.NumberColumn("measure", format="%.2f"),
            "z": st.column_config.NumberColumn("Gi* z", format="%.2f"),
            "p": st.column_config.NumberColumn("p (999 permutations)", format="%.3f"),
        },
        width="stretch",
    )
    st.caption(
        "Getis-Ord Gi* (PySAL esda) over the surveyed hexagons and their six neighbours: a hot "
        "spot is a hexagon whose neighbourhood has significantly more litter than the surveyed "
        "area as a whole. Hexagons nobody photographed are left out."
    )


def _default_periods(first: dt.date, last: dt.date) -> tuple[tuple[dt.date, dt.date], ...]:
    middle = first + (last - first) / 2
    return (first, middle), (
        middle + dt.timedelta(days=1),
        max(last, middle + dt.timedelta(days=1)),
    )


def _as_range(value: Any, fallback: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    return fallback


def compare(url: str, filt: MapFilter, options: dict[str, Any]) -> None:
    first, last = options.get("first_day"), options.get("last_day")
    if not first or not last:
        st.info("No dated detections yet.")
        return
    before_default, after_default = _default_periods(first, last)
    c1, c2 = st.columns(2)
    before = _as_range(
        c1.date_input("Before (e.g. the clean-up)", value=before_default, key="patterns_before"),
        before_default,
    )
    after = _as_range(
        c2.date_input("After", value=after_default, key="patterns_after"), after_default
    )
    result = state.period_comparison(url, filt, before, after)
    images = result["images"].set_index("period")["images"]
    categories = result["categories"]
    n_before, n_after = int(images.get("before", 0)), int(images.get("after", 0))
    total_before, total_after = int(categories["before"].sum()), int(categories["after"].sum())
    m1, m2, m3 = st.columns(3)
    m1.metric("Detections before", f"{total_before:,}", help=f"{n_before:,} photos")
    m2.metric(
        "Detections after",
        f"{total_after:,}",
        delta=f"{total_after - total_before:+,}",
        delta_color="inverse",
        help=f"{n_after:,} photos",
    )
    rate_before = total_before / n_before if n_before else None
    rate_after = total_after / n_after if n_after else None
    m3.metric(
        "Per photo (after)",
        f"{rate_after:.2f}" if rate_after is not None else "–",
        delta=(
            f"{(rate_after - rate_before) / rate_before:+.0%} vs before"
            if rate_before and rate_after is not None
            else None
        ),
        delta_color="inverse",
        help="Detections per photo corrects for how much was photographed in each period.",
    )
    if categories.empty:
        st.info("No detections in either period.")
        return
    long = categories.melt(id_vars="category", var_name="period", value_name="detections")
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("category:N", title=None),
            yOffset=alt.YOffset("period:N", sort=["before", "after"]),
            x=alt.X("detections:Q"),
            color=alt.Color(
                "period:N",
                scale=alt.Scale(domain=["before", "after"], range=["#9ca3af", "#2563eb"]),
            ),
            tooltip=["category", "period", "detections"],
        )
        .properties(height=max(180, 44 * len(categories)))
    )
    st.altair_chart(chart, width="stretch")
    cells = result["cells"].assign(change=lambda f: f["after"] - f["before"])
    st.markdown("**Hexagons that changed most** (~175 m)")
    st.dataframe(
        cells.sort_values("change").head(10),
        hide_index=True,
        column_config={"change": st.column_config.NumberColumn(format="%+d")},
        width="stretch",
    )


def render() -> None:
    state.require("viewer")
    url = state.database_url()
    options = state.filter_options(url)
    filt = sidebar_filter(options, state.settings().recyclable_overrides)
    st.title("Patterns")
    tabs = st.tabs(["Category mix", "Trend", "Top places", "Hotspots", "Before / after"])
    with tabs[0]:
        category_mix(url, filt)
    with tabs[1]:
        trend(url, filt)
    with tabs[2]:
        top_places(url, filt)
    with tabs[3]:
        hotspots(url, filt)
    with tabs[4]:
        compare(url, filt, options)
