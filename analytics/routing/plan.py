# ruff: noqa: N803  (G for a graph, as in osmnx and networkx)
"""Plans: collection routes for a fleet over litter sites, and the sites left out with why.

:func:`plan_routes` checks the request, measures every leg along the streets
(:func:`~analytics.routing.streets.street_legs`), leaves out the sites no vehicle could serve,
hands the rest to :func:`~analytics.routing.solver.solve_vrp` and assembles a :class:`RoutePlan`
of :class:`Route` s of :class:`RouteStop` s. This module imports the solver and the street legs;
they import nothing from it.

The model:

- one depot; ``vehicles`` identical vehicles of ``capacity_l`` litres, each route starting and
  ending at the depot, lasting at most ``max_minutes`` (driving plus ``service_minutes`` at each
  site plus any waiting for a time window);
- a site's demand is its estimated amount in litres (rounded up; at least 1);
- every site is optional with a prize: :data:`PRIORITY_WEIGHTS` times more than any detour it
  could cost, so the solver serves as many sites as the fleet can, hazardous ones first, then
  large ones (``large_amount_l`` litres or more), and among plans that serve the same sites picks
  the shortest in metres;
- optional time windows: ``tw_start_min``/``tw_end_min`` columns, minutes after the shift starts.

Sites that no vehicle could serve (too far from any street, larger than a vehicle, a round trip
longer than the shift, a window that cannot be reached) are left out before solving; the solver
may leave out more when the fleet is too small. Each unserved site is reported with a reason
code and a sentence (:data:`UNSERVED_REASONS`). A request that no plan can meet raises
:class:`~analytics.errors.InfeasibleRouteError`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import LineString

# DEFAULT_SERVICE_MINUTES lives in analytics.defaults (no imports) for the CLI's help.
from analytics.defaults import DEFAULT_SERVICE_MINUTES as DEFAULT_SERVICE_MINUTES
from analytics.errors import InfeasibleRouteError, InvalidCoordinatesError
from analytics.network import EdgeIndex, edge_index
from analytics.routing.solver import (
    _INT_MAX,
    DEFAULT_SOLVER,
    SolverSettings,
    VrpInstance,
    VrpSolution,
    solve_vrp,
)
from analytics.routing.streets import StreetLegs, _line, street_legs

__all__ = [
    "DEFAULT_LARGE_AMOUNT_L",
    "DEFAULT_MAX_SNAP_M",
    "DEFAULT_SERVICE_MINUTES",
    "PRIORITY_WEIGHTS",
    "UNSERVED_REASONS",
    "Route",
    "RoutePlan",
    "RouteStop",
    "parse_lat_lon",
    "plan_routes",
    "site_priorities",
]

#: Prize weight of a site by priority class: serving one hazardous site is worth more than
#: serving 99 ordinary ones, one large site more than 9.
PRIORITY_WEIGHTS: dict[str, int] = {"hazardous": 100, "large": 10, "normal": 1}
#: Sites with at least this estimated amount (litres) are "large".
DEFAULT_LARGE_AMOUNT_L = 50.0
#: Sites and depots farther than this from any street (metres) cannot be reached.
DEFAULT_MAX_SNAP_M = 250.0

#: Why a site is left out of the plan.
UNSERVED_REASONS: dict[str, str] = {
    "off_network": "farther from any drivable street than the snapping limit",
    "exceeds_capacity": "its estimated amount is more than one vehicle holds",
    "beyond_shift": "driving there and back takes longer than the shift",
    "time_window": "its time window closes before a vehicle can get there",
    "fleet_full": "the vehicles' capacity and shift time went to higher-priority or nearer sites",
}


@dataclass(frozen=True)
class RouteStop:
    """One site on a route: ``sequence`` 1, 2, ... in visiting order; ``arrival_min`` the start
    of service in minutes after the shift starts; ``load_l`` the litres on board after it."""

    site: Any
    sequence: int
    latitude: float
    longitude: float
    street_latitude: float
    street_longitude: float
    amount_l: float
    priority: str
    arrival_min: float
    load_l: float
    categories: str = ""


@dataclass(frozen=True)
class Route:
    """One vehicle's route, from the depot back to the depot.

    ``geometry`` is the line driven (lon/lat), made of the graph's edge geometries; ``nodes``
    the graph nodes passed, leg by leg.
    """

    vehicle: int
    stops: list[RouteStop]
    distance_m: float
    duration_s: float
    service_s: float
    load_l: float
    geometry: LineString
    nodes: list[list[Any]] = field(default_factory=list)

    @property
    def travel_s(self) -> float:
        return self.duration_s - self.service_s


@dataclass
class RoutePlan:
    """Routes for a fleet, and the sites left out with why."""

    routes: list[Route]
    unserved: pd.DataFrame  # site, latitude, longitude, amount_l, priority, reason, detail
    depot: tuple[float, float]  # (lat, lon) as asked
    depot_street: tuple[float, float]  # (lat, lon) snapped to the street
    vehicles: int
    capacity_l: float
    max_minutes: float | None
    solver_seconds: float
    solver_iterations: int
    shift_start: dt.time | None = None  # gives stops an ``arrival`` clock time
    notes: tuple[str, ...] = ()  # things the planner should know (e.g. unknown window sites)

    @property
    def distance_m(self) -> float:
        return float(sum(r.distance_m for r in self.routes))

    @property
    def duration_s(self) -> float:
        return float(sum(r.duration_s for r in self.routes))

    @property
    def served(self) -> int:
        return sum(len(r.stops) for r in self.routes)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: per route stops, km, minutes and litres; totals; unserved."""
        unserved = [
            {
                "site": _plain(row.site),
                "priority": row.priority,
                "reason": row.reason,
                "detail": row.detail,
            }
            for row in self.unserved.itertuples(index=False)
        ]
        return (
            {
                "depot": {"latitude": self.depot[0], "longitude": self.depot[1]},
                "vehicles": self.vehicles,
                "capacity_l": self.capacity_l,
                "max_minutes": self.max_minutes,
                "routes": [
                    {
                        "vehicle": r.vehicle,
                        "stops": len(r.stops),
                        "sites": [_plain(s.site) for s in r.stops],
                        "km": round(r.distance_m / 1000, 3),
                        "minutes": round(r.duration_s / 60, 1),
                        "load_l": round(r.load_l, 1),
                    }
                    for r in self.routes
                ],
                "totals": {
                    "routes": len(self.routes),
                    "stops": self.served,
                    "km": round(self.distance_m / 1000, 3),
                    "minutes": round(self.duration_s / 60, 1),
                    "load_l": round(sum(r.load_l for r in self.routes), 1),
                    "unserved": len(unserved),
                },
                "unserved": unserved,
                "solver": {
                    "seconds": round(self.solver_seconds, 2),
                    "iterations": self.solver_iterations,
                },
            }
            | ({"shift_start": f"{self.shift_start:%H:%M}"} if self.shift_start is not None else {})
            | ({"notes": list(self.notes)} if self.notes else {})
        )

    def routes_frame(self) -> pd.DataFrame:
        """One row per route: ``vehicle``, ``stops``, ``km``, ``minutes``, ``load_l`` and its
        ``geometry`` (a ``LineString``, lon/lat)."""
        return pd.DataFrame(
            [
                {
                    "vehicle": r.vehicle,
                    "name": f"route {r.vehicle}",
                    "stops": len(r.stops),
                    "km": round(r.distance_m / 1000, 3),
                    "minutes": round(r.duration_s / 60, 1),
                    "load_l": round(r.load_l, 1),
                    "geometry": r.geometry,
                }
                for r in self.routes
            ],
            columns=["vehicle", "name", "stops", "km", "minutes", "load_l", "geometry"],
        )

    def stops_frame(self) -> pd.DataFrame:
        """One row per stop in route order: ``vehicle``, ``sequence``, ``site``, ``latitude``,
        ``longitude`` (the site), ``street_latitude``/``street_longitude`` (where the vehicle
        stops), ``amount_l``, ``load_l``, ``arrival_min``, ``priority``, ``categories``; with a
        ``shift_start``, also ``arrival`` (the clock time ``HH:MM`` the crew should get there)."""
        rows = [
            {"vehicle": r.vehicle, **{k: getattr(s, k) for k in RouteStop.__dataclass_fields__}}
            for r in self.routes
            for s in r.stops
        ]
        columns = ["vehicle", *RouteStop.__dataclass_fields__]
        frame = pd.DataFrame(rows, columns=columns)
        frame = frame[
            ["vehicle", "sequence", *[c for c in columns if c not in ("vehicle", "sequence")]]
        ]
        if self.shift_start is not None:
            frame.insert(
                frame.columns.get_loc("arrival_min") + 1,
                "arrival",
                [clock_time(self.shift_start, float(m)) for m in frame["arrival_min"]],
            )
        return frame


def clock_time(shift_start: dt.time, minutes: float) -> str:
    """The clock time ``minutes`` after ``shift_start``, ``HH:MM``, with ``(+N day)`` when it
    falls on a later day than the shift's start."""
    start = dt.datetime.combine(dt.date(2000, 1, 1), shift_start)
    when = start + dt.timedelta(minutes=minutes)
    days = (when.date() - start.date()).days
    return f"{when:%H:%M}" + (f" (+{days} day{'s' if days > 1 else ''})" if days else "")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def parse_lat_lon(text: str, *, what: str = "--depot") -> tuple[float, float]:
    """``"LAT,LON"`` in degrees as ``(lat, lon)``, or a named error saying how to write it."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidCoordinatesError(
            f"{what} {text!r}: write the latitude and longitude in degrees separated by a comma, "
            "e.g. 60.1699,24.9384"
        ) from None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        raise InvalidCoordinatesError(
            f"{what} {text!r}: latitude must lie in [-90, 90] and longitude in [-180, 180] "
            "degrees (latitude first)"
        )
    return lat, lon


def site_priorities(
    sites: pd.DataFrame, *, large_amount_l: float = DEFAULT_LARGE_AMOUNT_L
) -> pd.Series:
    """Each site's priority class: ``hazardous``, ``large`` (at least ``large_amount_l``
    litres) or ``normal``; a ``priority`` column in ``sites`` wins when present."""
    if "priority" in sites:
        return sites["priority"].astype(str)
    hazardous = (
        sites["hazardous"].fillna(False).astype(bool)
        if "hazardous" in sites
        else pd.Series(False, index=sites.index)
    )
    large = sites["estimated_amount_l"].astype(float) >= large_amount_l
    return pd.Series(
        np.where(hazardous, "hazardous", np.where(large, "large", "normal")), index=sites.index
    )


@dataclass(frozen=True)
class _Request:
    vehicles: int
    capacity: int
    shift_s: int | None
    service_s: np.ndarray
    tw_early_s: np.ndarray | None
    tw_late_s: np.ndarray | None


def _check_request(
    *, vehicles: int, capacity_l: float, max_minutes: float | None, max_snap_m: float
) -> None:
    if int(vehicles) < 1:
        raise InfeasibleRouteError(f"--vehicles {vehicles}: plan with at least one vehicle")
    if not (math.isfinite(capacity_l) and capacity_l > 0):
        raise InfeasibleRouteError(
            f"--capacity {capacity_l}: give each vehicle's capacity in litres, more than 0"
        )
    if max_minutes is not None and not (math.isfinite(max_minutes) and max_minutes > 0):
        raise InfeasibleRouteError(
            f"--max-minutes {max_minutes}: give the longest shift in minutes, more than 0"
        )
    if not max_snap_m > 0:
        raise InfeasibleRouteError(f"max_snap_m={max_snap_m}: give a positive distance in metres")


def plan_routes(
    sites: pd.DataFrame,
    G: nx.MultiDiGraph,
    *,
    depot: tuple[float, float],
    vehicles: int,
    capacity_l: float,
    max_minutes: float | None = None,
    service_minutes: float = DEFAULT_SERVICE_MINUTES,
    large_amount_l: float = DEFAULT_LARGE_AMOUNT_L,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    solver: SolverSettings = DEFAULT_SOLVER,
    index: EdgeIndex | None = None,
) -> RoutePlan:
    """Plan collection routes from ``depot`` over ``sites`` along the streets of ``G``.

    Parameters
    ----------
    sites : pandas.DataFrame
        One row per site: ``site`` (its id), ``latitude``, ``longitude`` (degrees),
        ``estimated_amount_l``; optionally ``hazardous``, ``priority`` (``hazardous``, ``large``
        or ``normal``), ``service_minutes``, ``tw_start_min`` and ``tw_end_min`` (a time window,
        minutes after the shift starts) and ``categories``.
    G : networkx.MultiDiGraph
        A drivable road network from :func:`analytics.network.load_road_network`.
    depot : (float, float)
        Where routes start and end, ``(latitude, longitude)`` in degrees.
    vehicles : int
        Vehicles available (each drives at most one route).
    capacity_l : float
        Litres each vehicle holds.
    max_minutes : float, optional
        Longest route in minutes (driving, service and waiting); default no limit.
    service_minutes : float
        Minutes spent at each site without a ``service_minutes`` of its own.
    large_amount_l : float
        Sites of at least this many litres are ``large`` (priority after hazardous).
    max_snap_m : float
        Sites (and the depot) farther than this many metres from a street cannot be reached.
    solver : SolverSettings
        Default :data:`DEFAULT_SOLVER`.
    index : EdgeIndex, optional
        :func:`analytics.network.edge_index` of ``G``, when already built.

    Returns
    -------
    RoutePlan

    Raises
    ------
    InfeasibleRouteError
        No vehicle, no capacity, no shift, a depot off the road network, or no site that any
        vehicle could serve (the message says which limit stops each).
    InvalidCoordinatesError
        The depot or a site has impossible coordinates.
    """
    _check_request(
        vehicles=vehicles, capacity_l=capacity_l, max_minutes=max_minutes, max_snap_m=max_snap_m
    )
    lat0, lon0 = parse_lat_lon(f"{depot[0]},{depot[1]}", what="depot")
    sites = sites.reset_index(drop=True)
    if len(sites) == 0:
        raise InfeasibleRouteError(
            "there are no litter sites to visit; run `wastemap sites update` after ingesting "
            "detections, or widen --since"
        )
    index = index or edge_index(G)
    legs = street_legs(
        G,
        np.concatenate([[lon0], sites["longitude"].to_numpy(float)]),
        np.concatenate([[lat0], sites["latitude"].to_numpy(float)]),
        index=index,
    )
    depot_snap = legs.snap.iloc[0]
    if depot_snap["distance_m"] > max_snap_m:
        raise InfeasibleRouteError(
            f"the depot at {lat0:.6f},{lon0:.6f} is {depot_snap['distance_m']:.0f} m from the "
            f"nearest street of the road network (limit {max_snap_m:.0f} m); give a --depot on "
            f"a street of the network, which spans lat {_span(G, 'y')}, lon {_span(G, 'x')}"
        )
    amount = sites["estimated_amount_l"].astype(float).fillna(0.0).to_numpy()
    demand = np.maximum(np.ceil(amount - 1e-9), 1).astype(np.int64)
    priority = site_priorities(sites, large_amount_l=large_amount_l).to_numpy()
    request = _Request(
        vehicles=int(vehicles),
        capacity=math.floor(capacity_l + 1e-9),
        shift_s=None if max_minutes is None else round(max_minutes * 60),
        service_s=np.round(
            60
            * sites.get("service_minutes", pd.Series(service_minutes, index=sites.index))
            .astype(float)
            .fillna(service_minutes)
            .to_numpy()
        ).astype(np.int64),
        tw_early_s=_minutes_column(sites, "tw_start_min", 0.0),
        tw_late_s=_minutes_column(sites, "tw_end_min", None),
    )
    _check_windows(sites, request)
    reasons = _unservable(legs, sites, demand, request, max_snap_m)
    candidates = [i for i in range(len(sites)) if i not in reasons]
    if not candidates:
        raise InfeasibleRouteError(_nothing_servable(reasons, len(sites), request))
    solution = _solve_candidates(legs, candidates, demand, priority, request, solver)
    for i in solution.unvisited:
        site = candidates[i - 1]
        reasons[site] = (
            "fleet_full",
            f"{vehicles} vehicle(s) of {capacity_l:g} L"
            + (f" and {max_minutes:g} min" if max_minutes is not None else "")
            + " could not also fit this site; add vehicles, capacity or minutes",
        )
    routes = _routes(legs, sites, candidates, solution, demand, amount, priority, request)
    return RoutePlan(
        routes=routes,
        unserved=_unserved_frame(sites, reasons, amount, priority),
        depot=(lat0, lon0),
        depot_street=(float(depot_snap["snapped_lat"]), float(depot_snap["snapped_lon"])),
        vehicles=int(vehicles),
        capacity_l=float(capacity_l),
        max_minutes=max_minutes,
        solver_seconds=solution.seconds,
        solver_iterations=solution.iterations,
    )


def _span(G: nx.MultiDiGraph, attr: str) -> str:
    values = [d[attr] for _, d in G.nodes(data=True)]
    return f"{min(values):.4f}..{max(values):.4f}"


def _minutes_column(sites: pd.DataFrame, column: str, default: float | None) -> np.ndarray | None:
    if column not in sites:
        return None
    values = sites[column].astype(float)
    if default is None:
        return np.where(values.isna(), np.nan, np.round(values * 60)).astype(float)
    return np.round(values.fillna(default).to_numpy() * 60).astype(float)


def _check_windows(sites: pd.DataFrame, request: _Request) -> None:
    if request.tw_early_s is None or request.tw_late_s is None:
        return
    bad = np.flatnonzero(request.tw_early_s > request.tw_late_s)  # NaN compares False
    if len(bad):
        i = int(bad[0])
        raise InfeasibleRouteError(
            f"site {sites['site'].iloc[i]}: its time window starts {request.tw_early_s[i] / 60:g}"
            f" min into the shift but ends at {request.tw_late_s[i] / 60:g} min; give "
            "tw_start_min <= tw_end_min"
        )


def _unservable(
    legs: StreetLegs,
    sites: pd.DataFrame,
    demand: np.ndarray,
    request: _Request,
    max_snap_m: float,
) -> dict[int, tuple[str, str]]:
    """Sites no vehicle could serve, whatever the others do: index -> (reason, detail)."""
    reasons: dict[int, tuple[str, str]] = {}
    snap = legs.snap["distance_m"].to_numpy()[1:]
    there = legs.duration_s[0, 1:]
    back = legs.duration_s[1:, 0]
    for i in range(len(sites)):
        if snap[i] > max_snap_m:
            reasons[i] = (
                "off_network",
                f"{snap[i]:.0f} m from the nearest street (limit {max_snap_m:.0f} m)",
            )
        elif not (np.isfinite(there[i]) and np.isfinite(back[i])):
            reasons[i] = ("off_network", "cannot be reached from the depot along the streets")
        elif demand[i] > request.capacity:
            reasons[i] = (
                "exceeds_capacity",
                f"about {demand[i]} L, more than a vehicle's {request.capacity} L; "
                "send a larger vehicle or raise --capacity",
            )
        elif (
            request.shift_s is not None
            and there[i] + request.service_s[i] + back[i] > request.shift_s
        ):
            minutes = (there[i] + request.service_s[i] + back[i]) / 60
            reasons[i] = (
                "beyond_shift",
                f"the round trip takes {minutes:.0f} min, longer than the {request.shift_s / 60:g}"
                "-min shift; raise --max-minutes",
            )
        elif (window := _window_reason(i, there[i], back[i], request)) is not None:
            reasons[i] = ("time_window", window)
    return reasons


def _window_reason(i: int, there: float, back: float, request: _Request) -> str | None:
    """Why site ``i``'s time window rules it out whatever the other sites do, or None."""
    late = request.tw_late_s[i] if request.tw_late_s is not None else np.nan
    if np.isfinite(late) and there > late:
        return (
            f"its window closes {late / 60:g} min into the shift but the drive there takes "
            f"{there / 60:.0f} min"
        )
    early = request.tw_early_s[i] if request.tw_early_s is not None else 0.0
    if request.shift_s is not None and max(there, early) + request.service_s[i] + back > (
        request.shift_s
    ):
        return (
            f"its window opens {early / 60:g} min into the shift: serving it and driving back "
            f"would end after the {request.shift_s / 60:g}-min shift"
        )
    return None


def _nothing_servable(reasons: dict[int, tuple[str, str]], n: int, request: _Request) -> str:
    counts: dict[str, int] = {}
    for code, _ in reasons.values():
        counts[code] = counts.get(code, 0) + 1
    fixes = {
        "off_network": "load the road network of the sites' city (--network)",
        "exceeds_capacity": f"raise --capacity (now {request.capacity} L)",
        "beyond_shift": "raise --max-minutes"
        + (f" (now {request.shift_s / 60:g})" if request.shift_s else ""),
        "time_window": "widen the sites' time windows",
    }
    why = "; ".join(f"{k} site(s): {UNSERVED_REASONS[c]}" for c, k in sorted(counts.items()))
    example = next(iter(reasons.values()))[1]
    fix = ", or ".join(fixes[c] for c in sorted(counts))
    return f"none of the {n} sites can be served: {why} (e.g. {example}). To fix: {fix}"


def _solve_candidates(
    legs: StreetLegs,
    candidates: list[int],
    demand: np.ndarray,
    priority: np.ndarray,
    request: _Request,
    solver: SolverSettings,
) -> VrpSolution:
    loc = np.array([0, *[i + 1 for i in candidates]])
    distance = np.round(legs.distance_m[np.ix_(loc, loc)]).astype(np.int64)
    duration = np.round(legs.duration_s[np.ix_(loc, loc)]).astype(np.int64)
    # Any detour costs less than twice the longest leg: a prize above that is always worth it.
    unit = 2 * int(distance.max()) + 1
    weights = np.array([PRIORITY_WEIGHTS.get(str(priority[i]), 1) for i in candidates])
    idx = np.array(candidates)

    def with_depot(values: np.ndarray | None, depot_value: float) -> np.ndarray | None:
        if values is None:
            return None
        return np.concatenate([[depot_value], values[idx]])

    late = None
    if request.tw_late_s is not None:
        values = request.tw_late_s[idx]
        late = np.full(len(idx) + 1, _INT_MAX, dtype=np.int64)
        known = np.isfinite(values)
        late[1:][known] = values[known].astype(np.int64)
        late[0] = request.shift_s if request.shift_s is not None else _INT_MAX
    instance = VrpInstance(
        distance=distance,
        duration=duration,
        demand=np.concatenate([[0], demand[idx]]),
        capacity=request.capacity,
        vehicles=request.vehicles,
        service_s=with_depot(request.service_s, 0),
        shift_s=request.shift_s,
        tw_early_s=None
        if request.tw_early_s is None
        else with_depot(request.tw_early_s, 0).astype(np.int64),
        tw_late_s=late,
        prize=np.concatenate([[0], weights * unit]).astype(np.int64),
        xy=np.column_stack(
            [legs.snap["snapped_lon"].to_numpy()[loc], legs.snap["snapped_lat"].to_numpy()[loc]]
        ),
    )
    return solve_vrp(instance, settings=solver)


def _routes(
    legs: StreetLegs,
    sites: pd.DataFrame,
    candidates: list[int],
    solution: VrpSolution,
    demand: np.ndarray,
    amount: np.ndarray,
    priority: np.ndarray,
    request: _Request,
) -> list[Route]:
    routes = []
    pairs: list[tuple[int, int]] = []
    visits: list[list[int]] = []
    for stops in solution.routes:
        point = [0, *[candidates[s - 1] + 1 for s in stops], 0]  # legs' point indices
        visits.append(point)
        pairs += list(itertools.pairwise(point))
    geometries = iter(legs.paths(pairs))
    categories = sites.get("categories")
    for vehicle, (stops, arrivals, point) in enumerate(
        zip(solution.routes, solution.arrival_s, visits, strict=True), start=1
    ):
        leg_parts = [next(geometries) for _ in range(len(point) - 1)]
        coords: list[tuple[float, float]] = []
        for _, line in leg_parts:
            coords += [(float(x), float(y)) for x, y in line.coords]
        load = 0.0
        route_stops = []
        for seq, (s, arrival) in enumerate(zip(stops, arrivals, strict=True), start=1):
            i = candidates[s - 1]
            load += float(amount[i])
            snap = legs.snap.iloc[i + 1]
            route_stops.append(
                RouteStop(
                    site=_plain(sites["site"].iloc[i]),
                    sequence=seq,
                    latitude=float(sites["latitude"].iloc[i]),
                    longitude=float(sites["longitude"].iloc[i]),
                    street_latitude=float(snap["snapped_lat"]),
                    street_longitude=float(snap["snapped_lon"]),
                    amount_l=round(float(amount[i]), 2),
                    priority=str(priority[i]),
                    arrival_min=round(arrival / 60, 2),
                    load_l=round(load, 2),
                    categories=_categories_text(
                        categories.iloc[i] if categories is not None else ""
                    ),
                )
            )
        service = float(sum(request.service_s[candidates[s - 1]] for s in stops))
        metres = float(sum(legs.distance_m[a, b] for a, b in itertools.pairwise(point)))
        routes.append(
            Route(
                vehicle=vehicle,
                stops=route_stops,
                distance_m=metres,
                duration_s=float(solution.route_duration_s[vehicle - 1]),
                service_s=service,
                load_l=round(load, 2),
                geometry=_line(coords),
                nodes=[nodes for nodes, _ in leg_parts],
            )
        )
    return routes


def _categories_text(value: Any) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return ",".join(str(v) for v in value)
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _unserved_frame(
    sites: pd.DataFrame,
    reasons: dict[int, tuple[str, str]],
    amount: np.ndarray,
    priority: np.ndarray,
) -> pd.DataFrame:
    order = {"hazardous": 0, "large": 1, "normal": 2}
    rows = [
        {
            "site": _plain(sites["site"].iloc[i]),
            "latitude": float(sites["latitude"].iloc[i]),
            "longitude": float(sites["longitude"].iloc[i]),
            "amount_l": round(float(amount[i]), 2),
            "priority": str(priority[i]),
            "reason": code,
            "detail": detail,
        }
        for i, (code, detail) in reasons.items()
    ]
    frame = pd.DataFrame(
        rows, columns=["site", "latitude", "longitude", "amount_l", "priority", "reason", "detail"]
    )
    if len(frame):
        frame = frame.sort_values(
            ["priority", "site"], key=lambda s: s.map(order) if s.name == "priority" else s
        ).reset_index(drop=True)
    return frame
