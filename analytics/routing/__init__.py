"""Collection routes: a capacitated vehicle routing problem over litter sites, on real streets.

:func:`plan_routes` snaps the depot and the sites to the road network (:mod:`analytics.network`),
measures every leg along the streets (:func:`street_legs`: the fastest path by the edges'
``travel_time_s``, with its length in metres), and hands the problem to :func:`solve_vrp`, which
runs PyVRP's iterated local search with :data:`DEFAULT_SOLVER`. The benchmark
(``benchmarks/routing.py``) calls the same :func:`solve_vrp` with the same settings.

The package, by concern:

- :mod:`~analytics.routing.solver`: the VRP in integers and how PyVRP is run
  (:class:`SolverSettings`, :class:`VrpInstance`, :class:`VrpSolution`, :func:`solve_vrp`);
- :mod:`~analytics.routing.streets`: travel times, distances and leg geometries between points
  along a graph's streets (:class:`StreetLegs`, :func:`street_legs`);
- :mod:`~analytics.routing.plan`: the routing model over litter sites, its result and why sites
  are left out (:func:`plan_routes`, :class:`RoutePlan`, :class:`Route`, :class:`RouteStop`,
  :func:`site_priorities`, :func:`parse_lat_lon`, :data:`PRIORITY_WEIGHTS`,
  :data:`UNSERVED_REASONS`). It imports the other two; they import neither it nor each other;
- :mod:`~analytics.routing.windows`: sites' time windows from a planner's CSV, as minutes after
  the shift starts (:func:`read_time_windows`, :func:`apply_time_windows`); imports none of them.

Every public name is imported from here: ``from analytics.routing import plan_routes``.

Units: metres, seconds, litres internally; minutes and kilometres in summaries. Coordinates are
WGS84 degrees; route geometries are ``LineString`` s (lon, lat) made of the graph's edge
geometries, cut at the snapped depot and sites.
"""

# Public defaults that callers import, though (as before the split) not listed in __all__.
from analytics.routing.plan import DEFAULT_LARGE_AMOUNT_L as DEFAULT_LARGE_AMOUNT_L
from analytics.routing.plan import DEFAULT_MAX_SNAP_M as DEFAULT_MAX_SNAP_M
from analytics.routing.plan import DEFAULT_SERVICE_MINUTES as DEFAULT_SERVICE_MINUTES
from analytics.routing.plan import (
    PRIORITY_WEIGHTS,
    UNSERVED_REASONS,
    Route,
    RoutePlan,
    RouteStop,
    parse_lat_lon,
    plan_routes,
    site_priorities,
)
from analytics.routing.solver import (
    DEFAULT_SOLVER,
    SolverSettings,
    VrpInstance,
    VrpSolution,
    solve_vrp,
)
from analytics.routing.streets import StreetLegs, street_legs
from analytics.routing.windows import (
    WindowsApplied,
    apply_time_windows,
    parse_clock,
    read_time_windows,
    windows_note,
)

__all__ = [
    "DEFAULT_SOLVER",
    "PRIORITY_WEIGHTS",
    "UNSERVED_REASONS",
    "Route",
    "RoutePlan",
    "RouteStop",
    "SolverSettings",
    "StreetLegs",
    "VrpInstance",
    "VrpSolution",
    "WindowsApplied",
    "apply_time_windows",
    "parse_clock",
    "parse_lat_lon",
    "plan_routes",
    "read_time_windows",
    "site_priorities",
    "solve_vrp",
    "street_legs",
    "windows_note",
]
