"""Sites & routes: the litter sites on a map, collection routes planned over them along the
streets, and the files crews load (GPX, KML, GeoJSON, CSV, GeoPackage).

The same functions as ``wastemap sites ...`` and ``wastemap routes plan`` (``pipeline.sites``), on
the road network the Map page already loaded.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import folium
import pandas as pd
import streamlit as st

from analytics import maps
from analytics.errors import InfeasibleRouteError, InvalidCoordinatesError, RoadNetworkError
from analytics.exports import POINT_FORMATS, ROUTE_FORMATS, write_points
from analytics.routing import (
    DEFAULT_SERVICE_MINUTES,
    DEFAULT_SOLVER,
    RoutePlan,
    parse_lat_lon,
    read_time_windows,
)
from dashboard import state
from dashboard.assets import asset_urls
from dashboard.views.map_page import street_network
from pipeline.sites import export_routes, load_sites, plan_site_routes, update_sites

PLAN_KEY = "routes_plan"
DEPOT_KEY = "routes_depot"
STATUSES = {"active": "open", "cleared": "cleared", "all": "all"}
FORMAT_NAMES = {
    "geojson": "GeoJSON",
    "gpx": "GPX",
    "kml": "KML",
    "csv": "CSV",
    "gpkg": "GeoPackage",
}


def _utc_day(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _file_bytes(write: Any, suffix: str) -> bytes:
    """What ``write(path)`` writes to a temporary file named ``*suffix``, as bytes."""
    with tempfile.TemporaryDirectory(prefix="wastemap-export-") as tmp:
        path = Path(tmp) / f"export{suffix}"
        return Path(write(path)).read_bytes()


def site_map(sites: pd.DataFrame, plan: RoutePlan | None) -> folium.Map:
    """The sites, and the planned routes when there are any, on the street backdrop."""
    lats = list(sites["latitude"])
    lons = list(sites["longitude"])
    if plan is not None:
        lats.append(plan.depot_street[0])
        lons.append(plan.depot_street[1])
    pad = 0.002
    south, west, north, east = min(lats) - pad, min(lons) - pad, max(lats) + pad, max(lons) + pad
    m = maps.base_map(((south + north) / 2, (west + east) / 2))
    network = street_network()
    if network is not None:
        maps.add_streets(m, maps.network_lines(network, bounds=(south, west, north, east)))
    maps.add_sites(m, sites)
    if plan is not None and plan.routes:
        maps.add_routes(m, plan.routes_frame(), plan.stops_frame(), depot=plan.depot_street)
    folium.LayerControl(collapsed=True).add_to(m)
    m.fit_bounds([[south, west], [north, east]])
    categories = [c for c in maps.CATEGORY_COLOURS if c in set(sites["category"])]
    maps.add_legend(
        m, maps.legend_html(categories=categories, category_title="Sites by main category")
    )
    return maps.use_assets(m, asset_urls())


def _update_button(user_can_update: bool) -> None:
    if not user_can_update:
        return
    if st.button(
        "Update sites",
        icon=":material/refresh:",
        help="Group detections not yet on a site into sites and mark sites later surveys found "
        "cleared (workers do this after every chunk; this picks up anything stored otherwise).",
        key="routes_update_sites",
    ):
        with st.spinner("Updating litter sites…"):
            report = update_sites(state.engine())
        st.session_state.pop(PLAN_KEY, None)  # planned over the sites as they were
        st.success(
            f"{report.sightings} new sightings: {report.new_sites} new sites, "
            f"{report.grown_sites} seen again, {report.cleared} cleared, {report.reopened} "
            f"reopened. Open sites: {report.active} of {report.total}."
        )


def _plan_form(sites: pd.DataFrame, since: dt.datetime | None, survey: str | None) -> None:
    st.subheader("Plan collection routes")
    default_depot = st.session_state.get(
        DEPOT_KEY, f"{sites['latitude'].mean():.5f}, {sites['longitude'].mean():.5f}"
    )
    with st.form("routes_form"):
        c1, c2, c3 = st.columns([2, 1, 1])
        depot_text = c1.text_input(
            "Depot (latitude, longitude)",
            value=default_depot,
            help="Where the vehicles start and end, e.g. 60.1699, 24.9384",
            key="routes_depot_input",
        )
        vehicles = c2.number_input("Vehicles", min_value=1, max_value=100, value=2, step=1)
        capacity = c3.number_input("Capacity per vehicle (litres)", min_value=1, value=500, step=50)
        c4, c5, c6 = st.columns(3)
        max_minutes = c4.number_input(
            "Longest route (minutes, 0 = no limit)", min_value=0, value=240, step=15
        )
        service = c5.number_input(
            "Minutes at each site", min_value=0.0, value=DEFAULT_SERVICE_MINUTES, step=0.5
        )
        seconds = c6.number_input(
            "Search time (seconds)",
            min_value=1,
            max_value=120,
            value=5,
            step=1,
            help="Longer searches find shorter routes for many sites.",
            key="routes_seconds",
        )
        c7, c8 = st.columns([1, 3])
        shift_start = c7.time_input(
            "Shift starts",
            value=dt.time(6, 0),
            step=dt.timedelta(minutes=15),
            help="When the vehicles leave the depot: stops get arrival times from it.",
            key="routes_shift_start",
        )
        windows_file = c8.file_uploader(
            "Time windows (optional CSV: site, opens, closes as HH:MM)",
            type=["csv"],
            help="Sites that may only be served at certain hours, e.g. a market square before "
            "the stalls open: one row per site id (the sites table below), e.g. 12,06:00,08:30.",
            key="routes_windows",
        )
        submitted = st.form_submit_button("Plan routes", type="primary", icon=":material/route:")
    if not submitted:
        return
    st.session_state[DEPOT_KEY] = depot_text
    try:
        depot = parse_lat_lon(depot_text, what="Depot")
        windows = (
            read_time_windows(windows_file.getvalue(), name=windows_file.name)
            if windows_file is not None
            else None
        )
        graph = street_network()
        if graph is None:
            raise RoadNetworkError(
                "the road network could not be loaded on the dashboard's server; plan with "
                "`wastemap routes plan --network FILE` or install the network (see README)"
            )
        with st.spinner(f"Planning routes ({seconds:g} s of search)…"):
            plan = plan_site_routes(
                state.engine(),
                depot=depot,
                vehicles=int(vehicles),
                capacity_l=float(capacity),
                max_minutes=float(max_minutes) or None,
                since=since,
                survey=survey,
                service_minutes=float(service),
                solver=DEFAULT_SOLVER.with_time_limit(float(seconds)),
                graph=graph,
                windows=windows,
                shift_start=shift_start,
            )
    except (InvalidCoordinatesError, InfeasibleRouteError, RoadNetworkError, ValueError) as exc:
        st.session_state.pop(PLAN_KEY, None)
        st.error(str(exc))
        return
    st.session_state[PLAN_KEY] = (plan, (since, survey))
    st.rerun()  # draw the routes on the map above


def show_plan(plan: RoutePlan) -> None:
    """Totals, the routes, their stops, the sites left out with why, and the downloads."""
    summary = plan.summary()
    totals = summary["totals"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Routes", totals["routes"])
    c2.metric("Sites served", f"{totals['stops']} of {totals['stops'] + totals['unserved']}")
    c3.metric("Distance", f"{totals['km']:.2f} km")
    c4.metric("Time", f"{totals['minutes']:.0f} min")
    routes = plan.routes_frame().drop(columns=["geometry", "name"])
    st.dataframe(
        routes,
        hide_index=True,
        column_config={
            "vehicle": st.column_config.NumberColumn("route", format="%d"),
            "load_l": st.column_config.NumberColumn("litres", format="%.0f"),
        },
        key="routes_table",
    )
    for note in plan.notes:
        st.info(note, icon=":material/info:")
    stops = plan.stops_frame()
    if not stops.empty:
        shown = ["vehicle", "sequence", "site", "categories", "amount_l", "arrival", "arrival_min"]
        with st.expander(f"Stops in order ({len(stops)})"):
            st.dataframe(
                stops[[c for c in shown if c in stops]],
                hide_index=True,
                column_config={
                    "vehicle": st.column_config.NumberColumn("route", format="%d"),
                    "sequence": st.column_config.NumberColumn("stop", format="%d"),
                    "amount_l": st.column_config.NumberColumn("litres", format="%.0f"),
                    "arrival": st.column_config.TextColumn("arrive at"),
                    "arrival_min": st.column_config.NumberColumn(
                        "minutes into the shift", format="%.0f"
                    ),
                },
            )
    if len(plan.unserved):
        st.warning(f"{len(plan.unserved)} sites are left out of every route:")
        st.dataframe(
            plan.unserved[["site", "priority", "reason", "detail"]],
            hide_index=True,
            key="routes_unserved",
        )
    st.caption(
        "Download the routes for the crews' navigation (GPX, KML), GIS (GeoJSON, GeoPackage) "
        "or a spreadsheet (CSV, one row per stop):"
    )
    columns = st.columns(len(ROUTE_FORMATS))
    for column, (fmt, suffix) in zip(columns, ROUTE_FORMATS.items(), strict=True):
        column.download_button(
            FORMAT_NAMES[fmt],
            data=lambda suffix=suffix: _file_bytes(lambda p: export_routes(plan, p), suffix),
            file_name=f"wastemap-routes{suffix}",
            icon=":material/download:",
            key=f"routes_download_{fmt}",
        )


def _sites_table(sites: pd.DataFrame) -> None:
    with st.expander(f"Sites ({len(sites)})"):
        shown = sites[
            [
                "site",
                "status",
                "categories",
                "estimated_amount_l",
                "sightings",
                "surveys",
                "last_seen_at",
                "latitude",
                "longitude",
            ]
        ]
        st.dataframe(
            shown,
            hide_index=True,
            column_config={
                "estimated_amount_l": st.column_config.NumberColumn("litres", format="%.0f"),
                "last_seen_at": st.column_config.DatetimeColumn(
                    "last seen (UTC)", format="YYYY-MM-DD HH:mm"
                ),
            },
        )
        columns = st.columns(len(POINT_FORMATS))
        for column, (fmt, suffix) in zip(columns, POINT_FORMATS.items(), strict=True):
            column.download_button(
                f"Sites as {FORMAT_NAMES[fmt]}",
                data=lambda suffix=suffix: _file_bytes(
                    lambda p: write_points(sites, p, layer="sites"), suffix
                ),
                file_name=f"wastemap-sites{suffix}",
                icon=":material/download:",
                key=f"sites_download_{fmt}",
            )


def render() -> None:
    user = state.require("viewer")
    st.title("Litter sites and collection routes")
    st.caption(
        "A site is one piece or pile of litter seen in one or more frames or surveys; a later "
        "survey that passes it without seeing it marks it cleared. Routes visit the open sites "
        "along the streets, hazardous and large ones first."
    )
    options = state.filter_options(state.database_url())
    surveys = [s["name"] for s in options["surveys"]]
    f1, f2, f3 = st.columns([1, 2, 1])
    status = f1.segmented_control(
        "Sites",
        list(STATUSES),
        format_func=STATUSES.get,
        default="active",
        key="routes_status",
    )
    survey = f2.selectbox(
        "Seen by survey", surveys, index=None, placeholder="All surveys", key="routes_survey"
    )
    since_day = f3.date_input("Last seen since (UTC)", value=None, key="routes_since")
    since = _utc_day(since_day)
    _update_button(user.can("reviewer"))

    sites = load_sites(
        state.engine(),
        since=since,
        survey=survey,
        status=None if status in (None, "all") else status,
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("Sites", f"{len(sites):,}")
    c2.metric("Estimated litter", f"{sites['estimated_amount_l'].sum():,.0f} l")
    c3.metric("Hazardous sites", f"{int(sites['hazardous'].sum()) if len(sites) else 0}")
    if sites.empty:
        st.info(
            "No litter sites match. Sites are made from stored detections scoring at least "
            f"{state.settings().site_min_score:g} (WASTEMAP_SITE_MIN_SCORE); "
            + (
                "press Update sites after ingesting, or widen the filters."
                if user.can("reviewer")
                else "ask a reviewer to update the sites, or widen the filters."
            )
        )
        return

    plan = current_plan(since, survey) if status == "active" else None
    from streamlit_folium import st_folium

    st_folium(
        site_map(sites, plan),
        height=520,
        use_container_width=True,
        returned_objects=[],
        key="routes_map",
    )
    _sites_table(sites)
    if status != "active":
        st.caption("Routes visit open sites only: choose open sites to plan.")
        return
    _plan_form(sites, since, survey)
    if plan is not None:
        show_plan(plan)


def current_plan(since: dt.datetime | None, survey: str | None) -> RoutePlan | None:
    """The plan made on this page for these filters; one made for others is dropped."""
    stored = st.session_state.get(PLAN_KEY)
    if stored is None:
        return None
    plan, made_for = stored
    if made_for != (since, survey):
        st.session_state.pop(PLAN_KEY, None)
        return None
    return plan
