"""The survey vehicle's camera model: a small module of its own, so that reading the settings
(``pipeline.settings``, the defaults of ``WASTEMAP_CAMERA_*``) does not import the geodesy and
data-frame code of :mod:`analytics.ground`, which places objects with it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.errors import SiteParameterError

__all__ = ["DASH_CAMERA", "MAX_GROUND_DISTANCE_M", "CameraModel"]

#: Farthest ground point, in metres from the camera, that is trusted: beyond it one pixel of box
#: spans more than a metre of road, and the ground is rarely flat that far.
MAX_GROUND_DISTANCE_M = 40.0


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera mounted on a vehicle, looking along its heading.

    Parameters
    ----------
    height_m : float
        Height of the lens above the ground, metres.
    hfov_deg : float
        Horizontal field of view, degrees; gives the focal length of an image of any width.
    horizon : float
        Row of the horizon as a fraction of the image height (0 top, 1 bottom).
    principal_x : float
        Column where the straight-ahead direction projects, as a fraction of the image width.
    pitch_deg : float
        Downward tilt of the optical axis, degrees; 0 for an upright image plane (a camera whose
        lens is shifted to put the horizon at ``horizon``).
    focal_px : float, optional
        Focal length in pixels at the images' own width; overrides ``hfov_deg``.
    max_distance_m : float
        Farthest ground point trusted, metres from the camera (:data:`MAX_GROUND_DISTANCE_M`).
    """

    height_m: float = 1.7
    hfov_deg: float = 62.0
    horizon: float = 0.36
    principal_x: float = 0.42
    pitch_deg: float = 0.0
    focal_px: float | None = None
    max_distance_m: float = MAX_GROUND_DISTANCE_M

    def __post_init__(self) -> None:
        checks = [
            ("height_m", self.height_m > 0, "a positive number of metres"),
            ("hfov_deg", 0 < self.hfov_deg < 180, "degrees between 0 and 180"),
            ("horizon", 0 <= self.horizon <= 1, "a fraction of the image height, 0 to 1"),
            ("principal_x", 0 <= self.principal_x <= 1, "a fraction of the image width, 0 to 1"),
            ("pitch_deg", -45 < self.pitch_deg < 89, "degrees of downward tilt, -45 to 89"),
            ("focal_px", self.focal_px is None or self.focal_px > 0, "a positive number of pixels"),
            ("max_distance_m", self.max_distance_m > 0, "a positive number of metres"),
        ]
        for name, ok, what in checks:
            if not ok:
                raise SiteParameterError(
                    f"camera {name}={getattr(self, name)!r}: give {what} "
                    f"(WASTEMAP_CAMERA_{name.upper()})"
                )

    def focal_length_px(self, width: Any) -> np.ndarray:
        """Focal length in pixels for images ``width`` pixels wide."""
        width = np.asarray(width, dtype=float)
        if self.focal_px is not None:
            return np.full_like(width, float(self.focal_px))
        return width / 2 / math.tan(math.radians(self.hfov_deg) / 2)


#: The survey vehicle's dash camera; the sample survey (``pipeline/simulate``) renders with it.
DASH_CAMERA = CameraModel()
