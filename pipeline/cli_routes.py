"""``wastemap sites update|list`` and ``wastemap routes plan``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

# The options' defaults come from analytics.defaults, which imports nothing: the routing and site
# modules (pandas, SciPy, NetworkX, PyVRP) are imported by the commands that use them.
from analytics.defaults import (
    DEFAULT_DISTANCE_M,
    DEFAULT_SERVICE_MINUTES,
    DEFAULT_SOLVER_TIME_LIMIT_S,
)
from pipeline._cli_common import database, err_console, fail, reports_errors

if TYPE_CHECKING:
    from analytics.routing import RoutePlan
    from pipeline.sites import SitesUpdate

sites_app = typer.Typer(
    help="Litter sites: the sightings of the same litter as one place.", no_args_is_help=True
)
routes_app = typer.Typer(help="Collection routes over the litter sites.", no_args_is_help=True)

_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@sites_app.command("update")
@reports_errors
def sites_update(
    rebuild: bool = typer.Option(
        False,
        "--rebuild",
        help="Place every detection again with the camera settings, forget all sites and "
        "cluster every detection again.",
    ),
    distance_m: float = typer.Option(
        DEFAULT_DISTANCE_M, "--distance-m", help="Largest distance between sightings of a site."
    ),
    min_score: float | None = typer.Option(
        None,
        "--min-score",
        help="Ignore detections scored lower (default: WASTEMAP_SITE_MIN_SCORE).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Group new detections into litter sites and mark the sites later surveys found cleared."""
    from pipeline.settings import get_settings
    from pipeline.sites import rebuild_sites, update_sites

    extra = {} if min_score is None else {"min_score": min_score}
    params = get_settings().site_params(distance_m=distance_m, **extra)
    engine = database()
    try:
        if rebuild:
            report = rebuild_sites(engine, params=params)
        else:  # here, every never-placed detection at once (a worker's update takes a part)
            report = update_sites(engine, params=params, place_limit=None)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    _print_update(report)


def _print_update(report: SitesUpdate) -> None:
    if report.placed:
        err_console.print(
            f"{report.placed} detections placed with the camera settings (WASTEMAP_CAMERA_*)."
        )
    err_console.print(
        f"{report.sightings} new sightings: {report.new_sites} new sites, "
        f"{report.grown_sites} sites seen again; {report.cleared} cleared, "
        f"{report.reopened} reopened. Open sites: {report.active} of {report.total}."
    )


@sites_app.command("list")
@reports_errors
def sites_list(
    status: str = typer.Option("active", "--status", help="active, cleared or all."),
    since: dt.datetime = typer.Option(
        None, "--since", formats=_DATE_FORMATS, help="Only sites last seen since (UTC)."
    ),
    survey: str = typer.Option(None, "--survey", help="Only sites this survey saw."),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows shown (not exported)."),
    out: Path = typer.Option(
        None, "--out", help="Also write every matching site: .geojson, .csv, .gpkg, .gpx or .kml."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the sites as JSON."),
) -> None:
    """The litter sites, most recently seen first."""
    from analytics.exports import POINT_FORMATS, format_for, write_points
    from pipeline.sites import load_sites

    if status not in ("active", "cleared", "all"):
        raise fail(f"--status {status!r}: use active, cleared or all")
    if out is not None:
        format_for(out, None, POINT_FORMATS)  # before anything is read
    engine = database()
    try:
        sites = load_sites(
            engine, since=_utc(since), survey=survey, status=None if status == "all" else status
        )
    finally:
        engine.dispose()
    if out is not None:
        written = write_points(sites, out, layer="sites")
        err_console.print(f"wrote {len(sites)} sites to {written}")
    if as_json:
        typer.echo(sites.to_json(orient="records", date_format="iso"))
        return
    table = Table(
        "site", "status", "category", "litres", "sightings", "surveys", "last seen", "lat, lon"
    )
    for row in sites.head(limit).itertuples(index=False):
        table.add_row(
            str(row.site),
            str(row.status),
            ", ".join(row.categories or []),
            f"{row.estimated_amount_l:g}",
            str(row.sightings),
            str(row.surveys),
            f"{row.last_seen_at:%Y-%m-%d %H:%M}" if row.last_seen_at is not None else "",
            f"{row.latitude:.5f}, {row.longitude:.5f}",
        )
    err_console.print(table)
    err_console.print(f"{len(sites)} sites ({status})")


@routes_app.command("plan")
@reports_errors
def routes_plan(
    depot: str = typer.Option(..., "--depot", help="Where routes start and end: LAT,LON."),
    vehicles: int = typer.Option(..., "--vehicles", help="Vehicles available."),
    capacity: float = typer.Option(..., "--capacity", help="Litres each vehicle holds."),
    out: Path = typer.Option(
        ..., "--out", help="File to write: .geojson, .gpkg, .gpx, .csv or .kml."
    ),
    max_minutes: float = typer.Option(
        None, "--max-minutes", help="Longest route in minutes (driving and stops)."
    ),
    since: dt.datetime = typer.Option(
        None, "--since", formats=_DATE_FORMATS, help="Only sites last seen since (UTC)."
    ),
    survey: str = typer.Option(None, "--survey", help="Only sites this survey saw."),
    network: Path = typer.Option(
        None, "--network", help="Road network: OSM .pbf/.osm or .graphml (default: Helsinki)."
    ),
    seconds: float = typer.Option(
        DEFAULT_SOLVER_TIME_LIMIT_S, "--seconds", help="Solver time limit."
    ),
    service_minutes: float = typer.Option(
        DEFAULT_SERVICE_MINUTES, "--service-minutes", help="Minutes spent at each site."
    ),
    update: bool = typer.Option(
        True, "--update/--no-update", help="Bring the sites up to date first."
    ),
    windows: Path = typer.Option(
        None,
        "--windows",
        help="CSV of sites' time windows: site,opens,closes (clock times HH:MM); "
        "needs --shift-start.",
    ),
    shift_start: str = typer.Option(
        None,
        "--shift-start",
        help="When the crews leave the depot (HH:MM): needed by --windows; gives each stop its "
        "arrival time.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Plan collection routes over the open litter sites along the streets, and write them."""
    from analytics.exports import ROUTE_FORMATS, format_for
    from analytics.routing import DEFAULT_SOLVER, parse_clock, parse_lat_lon, read_time_windows
    from pipeline.sites import export_routes, plan_site_routes, update_sites

    depot_at = parse_lat_lon(depot)
    shift = parse_clock(shift_start, what="--shift-start") if shift_start is not None else None
    if windows is not None and shift is None:
        raise fail(
            f"--windows {windows}: its opening hours are clock times; give --shift-start HH:MM "
            "(when the crews leave the depot) too"
        )
    window_table = read_time_windows(windows) if windows is not None else None
    format_for(out, None, ROUTE_FORMATS)  # before anything is read
    if seconds <= 0:
        raise fail(f"--seconds {seconds}: give the solver a positive time limit")
    engine = database()
    try:
        if update:
            update_sites(engine)
        with err_console.status(f"planning routes ({seconds:g} s of search)"):
            plan = plan_site_routes(
                engine,
                depot=depot_at,
                vehicles=vehicles,
                capacity_l=capacity,
                max_minutes=max_minutes,
                since=_utc(since),
                survey=survey,
                network=network,
                service_minutes=service_minutes,
                solver=DEFAULT_SOLVER.with_time_limit(seconds),
                windows=window_table,
                shift_start=shift,
            )
    finally:
        engine.dispose()
    written = export_routes(plan, out)
    summary = plan.summary() | {"out": str(written)}
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        print_plan(plan, summary)


def print_plan(plan: RoutePlan, summary: dict[str, Any]) -> None:
    """The plan as tables on stderr: routes, totals, sites left out and why."""
    table = Table("route", "stops", "km", "minutes", "litres", title="routes")
    for r in summary["routes"]:
        table.add_row(
            str(r["vehicle"]),
            str(r["stops"]),
            f"{r['km']:.2f}",
            f"{r['minutes']:.0f}",
            f"{r['load_l']:g}",
        )
    totals = summary["totals"]
    table.add_row(
        "total",
        str(totals["stops"]),
        f"{totals['km']:.2f}",
        f"{totals['minutes']:.0f}",
        f"{totals['load_l']:g}",
        style="bold",
    )
    err_console.print(table)
    if len(plan.unserved):
        left = Table("site", "priority", "reason", "detail", title="sites left unserved")
        for row in plan.unserved.itertuples(index=False):
            left.add_row(str(row.site), row.priority, row.reason, row.detail)
        err_console.print(left)
    else:
        err_console.print("every site is served")
    for note in plan.notes:
        err_console.print(f"note: {note}")
    err_console.print(f"wrote {summary['out']}")


def register(app: typer.Typer) -> None:
    app.add_typer(sites_app, name="sites")
    app.add_typer(routes_app, name="routes")
