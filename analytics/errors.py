"""Errors a user can cause in ``analytics``: small named subclasses of builtin exceptions.

Each is raised with a message that names the input and says how to fix it.
"""

from __future__ import annotations


class RoadNetworkError(ValueError):
    """A road network file cannot be read, or it gives no usable graph."""


class MissingPackageError(RoadNetworkError, ImportError):
    """An optional package needed to read a file is not installed."""


class InvalidCoordinatesError(ValueError):
    """Coordinates are not finite, out of range, or of mismatched lengths."""


class ExportError(ValueError):
    """Data cannot be written in the requested file format."""


class SiteParameterError(ValueError):
    """A litter-site setting (distance, score, clearing rule) or input frame is unusable."""


class InfeasibleRouteError(ValueError):
    """A route planning request that no plan can meet (no vehicle, no capacity, a depot off the
    road network, no site that any vehicle could serve)."""


class TimeWindowError(ValueError):
    """A sites' time-window file or shift start cannot be read or makes no sense."""
