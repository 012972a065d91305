"""The solver: a capacitated VRP in integers, handed to PyVRP's iterated local search.

:class:`VrpInstance` holds the problem (a leg cost matrix, demands, a fleet of identical
vehicles; optionally durations, service times, a shift limit, time windows and prizes that make
every stop optional), :func:`solve_vrp` solves it under :class:`SolverSettings` and returns a
:class:`VrpSolution`. It knows nothing of streets or sites: ``wastemap routes plan`` (through
:func:`analytics.routing.plan_routes`) and ``benchmarks/routing.py`` both call it with
:data:`DEFAULT_SOLVER`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.defaults import DEFAULT_SOLVER_TIME_LIMIT_S

__all__ = ["DEFAULT_SOLVER", "SolverSettings", "VrpInstance", "VrpSolution", "solve_vrp"]


@dataclass(frozen=True)
class SolverSettings:
    """How PyVRP is run; shared by ``wastemap routes plan`` and ``benchmarks/routing.py``.

    Parameters
    ----------
    time_limit_s : float
        Wall-clock seconds the search runs.
    seed : int
        Seed of the search's random numbers (the same seed and time give similar plans; the
        search is time-bound, so not always identical ones).
    max_no_improvement : int, optional
        Also stop after this many iterations without a better solution.
    """

    time_limit_s: float = DEFAULT_SOLVER_TIME_LIMIT_S
    seed: int = 0
    max_no_improvement: int | None = None

    def with_time_limit(self, seconds: float) -> SolverSettings:
        return SolverSettings(
            time_limit_s=seconds, seed=self.seed, max_no_improvement=self.max_no_improvement
        )


#: The settings ``wastemap routes plan`` uses (its ``--seconds`` changes only the time limit).
DEFAULT_SOLVER = SolverSettings()


@dataclass(frozen=True)
class VrpInstance:
    """A capacitated VRP in integers: location 0 is the depot, 1..n the stops.

    Parameters
    ----------
    distance : numpy.ndarray
        (n+1, n+1) integer cost of each leg (metres on streets, or the instance's own unit).
    demand : numpy.ndarray
        (n+1,) integer demand; ``demand[0]`` (the depot) is ignored.
    capacity : int
        Capacity of each vehicle, in the unit of ``demand``.
    vehicles : int
        Number of identical vehicles.
    duration : numpy.ndarray, optional
        (n+1, n+1) integer seconds of each leg; default zero.
    service_s : numpy.ndarray, optional
        (n+1,) integer seconds spent at each stop.
    shift_s : int, optional
        Longest route (driving, service and waiting) in seconds.
    tw_early_s, tw_late_s : numpy.ndarray, optional
        (n+1,) earliest and latest start of service at each stop, seconds after the shift starts.
    prize : numpy.ndarray, optional
        (n+1,) prize of each stop; given, every stop is optional and the solver minimises cost
        minus collected prizes. Not given, every stop must be served.
    xy : numpy.ndarray, optional
        (n+1, 2) coordinates (for the solver's bookkeeping only; costs come from ``distance``).
    """

    distance: np.ndarray
    demand: np.ndarray
    capacity: int
    vehicles: int
    duration: np.ndarray | None = None
    service_s: np.ndarray | None = None
    shift_s: int | None = None
    tw_early_s: np.ndarray | None = None
    tw_late_s: np.ndarray | None = None
    prize: np.ndarray | None = None
    xy: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of stops (the depot not counted)."""
        return int(self.distance.shape[0]) - 1


@dataclass(frozen=True)
class VrpSolution:
    """What :func:`solve_vrp` found.

    ``routes`` holds, per used vehicle, the stops (1..n) in visiting order; ``arrival_s`` the
    start of service at each of them (seconds after the shift starts); ``cost`` the total of
    ``distance`` over the legs driven; ``unvisited`` the optional stops left out.
    """

    routes: list[list[int]]
    arrival_s: list[list[int]]
    route_duration_s: list[int]
    cost: int
    unvisited: list[int]
    feasible: bool
    seconds: float
    iterations: int


_INT_MAX = np.iinfo(np.int64).max


def solve_vrp(instance: VrpInstance, *, settings: SolverSettings = DEFAULT_SOLVER) -> VrpSolution:
    """Solve ``instance`` with PyVRP's iterated local search under ``settings``.

    Never raises for an infeasible instance: when the best solution found breaks a constraint
    (only possible when stops are required: too few vehicles for the demand, or a stop no route
    can reach in time) it comes back with ``feasible=False``; callers check it. (The route
    planner makes every site optional, so its solutions are always feasible.)
    """
    import pyvrp
    from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement

    n = instance.size
    dist = np.ascontiguousarray(instance.distance, dtype=np.int64)
    dur = (
        np.zeros_like(dist)
        if instance.duration is None
        else np.ascontiguousarray(instance.duration, dtype=np.int64)
    )
    xy = instance.xy if instance.xy is not None else np.zeros((n + 1, 2))
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in xy]

    def at(values: np.ndarray | None, i: int, default: int) -> int:
        return default if values is None else int(values[i])

    clients = [
        pyvrp.Client(
            location=i,
            delivery=[int(instance.demand[i])],
            service_duration=at(instance.service_s, i, 0),
            tw_early=at(instance.tw_early_s, i, 0),
            tw_late=at(instance.tw_late_s, i, _INT_MAX),
            prize=at(instance.prize, i, 0),
            required=instance.prize is None,
        )
        for i in range(1, n + 1)
    ]
    shift = _INT_MAX if instance.shift_s is None else int(instance.shift_s)
    depot = pyvrp.Depot(location=0, tw_early=0, tw_late=shift)
    vehicle = pyvrp.VehicleType(
        num_available=int(instance.vehicles),
        capacity=[int(instance.capacity)],
        tw_early=0,
        tw_late=shift,
        shift_duration=shift,
    )
    data = pyvrp.ProblemData(locations, clients, [depot], [vehicle], [dist], [dur])
    stop: Any = MaxRuntime(settings.time_limit_s)
    if settings.max_no_improvement is not None:
        stop = MultipleCriteria([stop, NoImprovement(settings.max_no_improvement)])
    started = time.perf_counter()
    result = pyvrp.solve(data, stop, seed=settings.seed, collect_stats=False, display=False)
    seconds = time.perf_counter() - started
    best = result.best
    routes: list[list[int]] = []
    arrivals: list[list[int]] = []
    durations: list[int] = []
    for route in best.routes():
        visits = [a for a in route.schedule() if a.type == pyvrp.ActivityType.CLIENT]
        routes.append([a.idx + 1 for a in visits])
        arrivals.append([int(a.start_time) for a in visits])
        durations.append(int(route.duration()))
    served = {s for r in routes for s in r}
    return VrpSolution(
        routes=routes,
        arrival_s=arrivals,
        route_duration_s=durations,
        cost=int(best.distance()),
        unvisited=[i for i in range(1, n + 1) if i not in served],
        feasible=bool(best.is_feasible()),
        seconds=seconds,
        iterations=int(result.num_iterations),
    )
