"""Defaults of the litter sites and the collection routes, in a module that imports nothing.

The ``wastemap`` CLI shows them as its options' defaults; it imports them from here so that
``wastemap --help`` does not import pandas, SciPy, NetworkX or PyVRP. :mod:`analytics.sites` and
:mod:`analytics.routing` import and re-export them: use them from there as before.
"""

from __future__ import annotations

#: Largest distance in metres between two sightings of one site. Sightings placed on the ground
#: agree to a few metres; camera positions (frames without a heading) spread over about 20 m, as a
#: vehicle sees the same litter from about 20 m before it until it passes.
DEFAULT_DISTANCE_M = 30.0

#: Minutes a crew spends at a site (stop, load, go) unless the site says otherwise.
DEFAULT_SERVICE_MINUTES = 2.0

#: Wall-clock seconds the route search runs by default (``DEFAULT_SOLVER.time_limit_s``).
DEFAULT_SOLVER_TIME_LIMIT_S = 10.0
